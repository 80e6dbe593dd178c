# Copyright (c) fx_mm contributors. All rights reserved.
"""The unified data info every fx_mm dataset yields.

One dataset object serves one slot: a (dataset, task) pair. A data info is a
dict with

- ``img_path`` (str), ``img_id`` (str), ``dataset`` (str: the head key),
  ``task`` (``'cls' | 'loc' | 'seg'``);
- cls: ``gt_score`` (np.float32, (C,), multi-hot) and ``gt_label_mask``
  (np.bool_, (C,), False where the label is unknown/ignored);
- loc: ``instances`` in mmdet's convention: a list of
  ``dict(bbox=[x1, y1, x2, y2], bbox_label=int, ignore_flag=0)`` in pixels of
  the original image (an image without boxes has an empty list and still
  counts: false positives on it are penalised);
- seg: ``seg_map_paths`` (list[str], one binary mask file per seg class) or
  ``seg_rles`` (list[dict], one COCO RLE per seg class); decoded lazily by
  :class:`LoadCXRAnnotations`. Channels are independent (masks may overlap).

Subclasses implement :meth:`load_records` and return the data infos for
their task; :class:`BaseCXRDataset` validates them (class ids, boxes, label
values), logs the counts of what it serves (after mmengine's ``indices``
subset), and raises an error naming the file and record for anything
invalid. Nothing is dropped silently: with
``on_bad_record='skip'`` a bad record or a sample that fails to load is
left out with a logged warning (file, record, reason) and counted.
"""
import contextlib
import logging
import math
import os.path as osp
from collections import Counter
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from fx_mm.structures import CLASS_METAINFO_KEYS, TASKS
from .io import CXRReadError

BAD_RECORD_MODES = ('error', 'skip')
# one counter slot per dataloader worker (+1 for the main process), so that
# workers never write to the same slot
_MAX_COUNTER_SLOTS = 257


class CXRDatasetError(ValueError):
    """Invalid annotation; the message names the file and the record."""


#: Errors that describe bad input data (not bugs): what ``'skip'`` skips.
DATA_ERRORS = (CXRDatasetError, CXRReadError, FileNotFoundError)


class SharedCounter:
    """A count that dataloader workers and the main process add to.

    Backed by a shared-memory int64 tensor with one slot per worker, so
    increments never race; fork and spawn workers both see the same memory
    (torch shares the storage when the dataset is sent to a worker).
    """

    def __init__(self) -> None:
        self.slots = torch.zeros(_MAX_COUNTER_SLOTS, dtype=torch.int64)
        self.slots.share_memory_()

    def add(self, value: int = 1) -> int:
        info = torch.utils.data.get_worker_info()
        slot = 0 if info is None else 1 + info.id % (_MAX_COUNTER_SLOTS - 1)
        self.slots[slot] += value
        return self.total

    @property
    def total(self) -> int:
        return int(self.slots.sum())

    def __deepcopy__(self, memo) -> 'SharedCounter':
        # a copied dataset (mmengine's get_subset) counts on its own
        return SharedCounter()


class RecordGuard:
    """What :meth:`BaseCXRDataset.record_guard` yields: ``failed`` is True
    after its block raised a data error that ``'skip'`` left out."""

    failed = False


@DATASETS.register_module()
class BaseCXRDataset(BaseDataset):
    """Base class of fx_mm's chest X-ray datasets.

    ``METAINFO`` of a subclass declares ``dataset_name`` (the default head
    key), ``classes`` (image-level labels), ``box_classes`` (localization
    labels) and ``seg_classes`` (mask channels); a missing entry means the
    dataset has no such task.

    Args:
        task (str): ``'cls'``, ``'loc'`` or ``'seg'``.
        dataset_name (str, optional): Head key to route samples to; defaults
            to ``METAINFO['dataset_name']``.
        check_files (bool): Check at load time that every image (and mask)
            file exists. Defaults to True.
        on_bad_record (str): ``'error'`` (default): an invalid record, or a
            sample whose image / masks cannot be read, raises an error
            naming the file and the record. ``'skip'``: such a record is
            left out when loading and such a sample is replaced by another
            one in training (mmengine's refetch); each skip is logged at
            WARNING with its file and reason, and counted
            (:attr:`skipped_records`, :attr:`num_skipped_samples`). In
            ``test_mode`` a sample that fails to load always raises.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`
            (``data_root``, ``ann_file``, ``pipeline``, ``test_mode``,
            ``indices``, ``lazy_init`` ...).
    """

    METAINFO: dict = dict(
        dataset_name='', classes=(), box_classes=(), seg_classes=())

    def __init__(self,
                 task: str = 'cls',
                 dataset_name: Optional[str] = None,
                 check_files: bool = True,
                 on_bad_record: str = 'error',
                 **kwargs) -> None:
        if task not in TASKS:
            raise CXRDatasetError(
                f'{type(self).__name__}: unknown task {task!r}; expected one '
                f'of {TASKS}')
        if on_bad_record not in BAD_RECORD_MODES:
            raise ValueError(
                f'{type(self).__name__}: on_bad_record={on_bad_record!r}; '
                f'expected one of {BAD_RECORD_MODES}')
        self.task = task
        self.check_files = check_files
        self.on_bad_record = on_bad_record
        self._dataset_name = dataset_name
        #: ``(where, reason)`` of each record left out when loading
        self.skipped_records: List[Tuple[str, str]] = []
        self._skipped_samples = SharedCounter()
        self._num_loaded = 0  # records loaded, before ``indices``
        super().__init__(**kwargs)

    # ------------------------------------------------------------------
    @property
    def dataset_name(self) -> str:
        return self._dataset_name or self._metainfo.get(
            'dataset_name') or type(self).__name__

    @property
    def task_classes(self) -> Sequence[str]:
        """Class names of this dataset's task (its head's outputs)."""
        key = CLASS_METAINFO_KEYS[self.task]
        return tuple(self._metainfo.get(key, ()))

    def load_records(self) -> List[dict]:
        """Parse the native annotations into data infos (see module doc).

        ``dataset`` and ``task`` are filled in by the base class. Wrap the
        parsing of each native record in :meth:`record_guard` so that
        ``on_bad_record='skip'`` can leave a bad one out.
        """
        raise NotImplementedError

    # -- bad input -------------------------------------------------------
    @contextlib.contextmanager
    def record_guard(self) -> Iterator['RecordGuard']:
        """Raise a data error in the block (``'error'``), or log and count
        it and carry on after the block (``'skip'``)::

            for where, row in rows:
                with self.record_guard():
                    records.append(parse(row, where))

        The guard it yields tells afterwards whether the block failed
        (``guard.failed``), e.g. to leave out the image of a bad row.
        """
        guard = RecordGuard()
        try:
            yield guard
        except DATA_ERRORS as err:
            if self.on_bad_record != 'skip':
                raise
            guard.failed = True
            reason = str(err)
            self.skipped_records.append((reason.split(': ', 1)[0], reason))
            print_log(
                f'{self._name()}: skipped bad record '
                f'({len(self.skipped_records)} so far): {reason}',
                logger='current',
                level=logging.WARNING)

    @property
    def num_skipped_samples(self) -> int:
        """Samples replaced in training because they failed to load (all
        dataloader workers together)."""
        return self._skipped_samples.total

    def _name(self) -> str:
        return f'{type(self).__name__} {self.dataset_name}/{self.task}'

    def get_data_info(self, idx: int) -> dict:
        """The record, with ``task_classes`` (the class names of the task,
        e.g. for :class:`FXRandomFlip` to swap sided classes)."""
        info = super().get_data_info(idx)
        info['task_classes'] = self.task_classes
        return info

    def prepare_data(self, idx: int):
        """Run the pipeline; with ``on_bad_record='skip'`` a sample that
        fails to load returns None, which makes mmengine's
        ``BaseDataset.__getitem__`` draw another index (``max_refetch``)."""
        try:
            return super().prepare_data(idx)
        except DATA_ERRORS as err:
            if self.on_bad_record != 'skip':
                raise
            if self.test_mode:
                raise type(err)(
                    f'{err} (on_bad_record="skip" does not apply to '
                    'evaluation: every sample must load)') from err
            total = self._skipped_samples.add()
            print_log(
                f'{self._name()}: skipped sample {idx} (replaced by '
                f'another; {total} skipped so far): {err}',
                logger='current',
                level=logging.WARNING)
            return None

    # ------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        if not self.task_classes:
            raise CXRDatasetError(
                f'{type(self).__name__} ({self.dataset_name}) has no classes '
                f'for task {self.task!r}; supported tasks: '
                f'{self.supported_tasks()}')
        self.skipped_records = []
        records = self.load_records()
        if not records and not self.skipped_records:
            raise CXRDatasetError(
                f'{type(self).__name__} ({self.dataset_name}, {self.task}): '
                f'no images found (data_root={self.data_root!r}, '
                f'ann_file={self.ann_file!r})')
        seen = set()
        valid = []
        for record in records:
            with self.record_guard():
                record['dataset'] = self.dataset_name
                record['task'] = self.task
                record.setdefault(
                    'img_id',
                    osp.splitext(osp.basename(record['img_path']))[0])
                if record['img_id'] in seen:
                    raise CXRDatasetError(
                        f'{record["img_path"]}: duplicate image id '
                        f'{record["img_id"]!r} in {type(self).__name__}')
                self._validate(record)
                seen.add(record['img_id'])
                valid.append(record)
        if self.skipped_records:
            print_log(
                f'{self._name()}: skipped {len(self.skipped_records)} bad '
                f'records, kept {len(valid)} (on_bad_record="skip")',
                logger='current',
                level=logging.WARNING)
            if not valid:
                raise CXRDatasetError(
                    f'{self._name()}: every record is bad '
                    f'({len(self.skipped_records)} skipped; first: '
                    f'{self.skipped_records[0][1]})')
        self._num_loaded = len(valid)
        return valid

    def full_init(self) -> None:
        """mmengine's loading, filtering and ``indices`` subsetting, then
        the log of what the dataset holds: the samples the loaders draw
        from, not the records the annotation file has."""
        if self._fully_initialized:
            return
        super().full_init()
        # mmengine's records as stored: a subclass's get_data_info may do
        # per-sample work (polygons to RLE, image headers) not needed here
        self._log_counts(
            [BaseDataset.get_data_info(self, i) for i in range(len(self))])

    def supported_tasks(self) -> List[str]:
        return [
            task for task in TASKS
            if self._metainfo.get(CLASS_METAINFO_KEYS[task])
        ]

    def _validate(self, record: dict) -> None:
        path = record['img_path']
        if self.check_files and not osp.isfile(path):
            raise FileNotFoundError(f'{path}: image file not found '
                                    f'({type(self).__name__})')
        num_classes = len(self.task_classes)
        if self.task == 'cls':
            score = np.asarray(record['gt_score'], dtype=np.float32)
            if score.shape != (num_classes, ):
                raise CXRDatasetError(
                    f'{path}: {score.shape[0] if score.ndim else 0} labels '
                    f'but the dataset has {num_classes} classes')
            if not np.isin(score, (0.0, 1.0)).all():
                raise CXRDatasetError(
                    f'{path}: labels must be 0 or 1 after the uncertainty '
                    f'policy, got {score.tolist()}')
            mask = record.get('gt_label_mask')
            mask = np.ones(num_classes, dtype=bool) if mask is None \
                else np.asarray(mask, dtype=bool)
            record['gt_score'], record['gt_label_mask'] = score, mask
        elif self.task == 'loc':
            for k, inst in enumerate(record['instances']):
                bbox = [float(v) for v in inst['bbox']]
                label = inst['bbox_label']
                where = f'{path}: box {k} {bbox}'
                if len(bbox) != 4 or not all(map(math.isfinite, bbox)):
                    raise CXRDatasetError(f'{where}: not 4 finite numbers')
                if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
                    raise CXRDatasetError(
                        f'{where}: empty box (x_max <= x_min or '
                        'y_max <= y_min)')
                if min(bbox) < 0:
                    raise CXRDatasetError(f'{where}: negative coordinate')
                size = record.get('img_size')  # (W, H) when known
                if size is not None and (bbox[2] > size[0]
                                         or bbox[3] > size[1]):
                    raise CXRDatasetError(
                        f'{where}: outside the {size[0]}x{size[1]} image')
                if not 0 <= label < num_classes:
                    raise CXRDatasetError(
                        f'{where}: class id {label} out of range for '
                        f'{num_classes} classes')
                inst.setdefault('ignore_flag', 0)
        else:
            maps = record.get('seg_map_paths') or record.get('seg_rles')
            if maps is None or len(maps) != num_classes:
                raise CXRDatasetError(
                    f'{path}: {0 if maps is None else len(maps)} masks but '
                    f'the dataset has {num_classes} seg classes')
            if self.check_files:
                for mask_path in record.get('seg_map_paths') or ():
                    if not osp.isfile(mask_path):
                        raise FileNotFoundError(
                            f'{mask_path}: mask file not found (image '
                            f'{path})')

    def _log_counts(self, records: List[dict]) -> None:
        msg = (f'{type(self).__name__} {self.dataset_name}/{self.task}: '
               f'{len(records)} images')
        if len(records) != self._num_loaded:
            msg += f' (of {self._num_loaded} loaded; `indices` subset)'
        if self.task == 'cls':
            num_classes = len(self.task_classes)
            pos = sum((r['gt_score'] for r in records), np.zeros(num_classes))
            known = sum((r['gt_label_mask'] for r in records),
                        np.zeros(num_classes))
            msg += ', positives per class ' + ', '.join(
                f'{c}={int(p)}/{int(k)}'
                for c, p, k in zip(self.task_classes, pos, known))
        elif self.task == 'loc':
            counts = Counter(inst['bbox_label'] for r in records
                             for inst in r['instances'])
            msg += (f', {sum(counts.values())} boxes (' + ', '.join(
                f'{c}={counts.get(i, 0)}'
                for i, c in enumerate(self.task_classes)) + ')')
            msg += f', {sum(not r["instances"] for r in records)} without ' \
                'boxes'
        else:
            msg += f', {len(self.task_classes)} mask channels ' \
                f'({", ".join(self.task_classes)})'
        print_log(msg, logger='current')
