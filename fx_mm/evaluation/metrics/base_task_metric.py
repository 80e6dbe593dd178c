# Copyright (c) fx_mm contributors. All rights reserved.
"""Shared part of fx_mm's metrics: one metric per (dataset, task) slot.

``val_evaluator=[...]`` gives every sample to every metric, so a metric keeps
only the samples whose metainfo ``dataset`` and ``task`` are its own.

For every sample of another slot the metric still appends an empty dict to
``self.results``. mmengine's ``collect_results`` restores the dataset order
by interleaving the ranks' result lists and then cuts the list at the dataset
size, which is how the samples that a distributed sampler pads a rank with
are dropped. That only works when a metric keeps exactly one result per
sample it was shown; the placeholders keep that true, and
:meth:`compute_metrics` discards them (an empty dict, not ``None``:
``collect_results`` removes ``None`` entries while interleaving).
"""
import logging
import re
from abc import abstractmethod
from typing import Any, List, NoReturn, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from fx_mm.structures import TASKS


def metric_key(name: str) -> str:
    """A class name as it appears in a metric key.

    Runs of characters other than letters, digits, ``_``, ``.`` and ``-``
    become one ``_`` (``'Pleural Effusion'`` -> ``'Pleural_Effusion'``):
    TensorBoard rejects spaces in tags and ``/`` would nest the key.
    """
    return re.sub(r'[^A-Za-z0-9_.\-]+', '_', str(name)).strip('_')


class BaseTaskMetric(BaseMetric):
    """Base class of a metric that evaluates one (dataset, task) slot.

    Subclasses set :attr:`task` and implement :meth:`process_sample` (one
    sample dict -> a small non-empty dict of numpy arrays) and
    :meth:`compute_slot_metrics`.

    A sample dict is a data sample after ``to_dict()``: its metainfo keys
    (``dataset``, ``task``, ``img_path``, ``ori_shape`` ...) sit at the top
    level next to its data fields.

    Args:
        dataset_name (str): The ``dataset`` metainfo value of the samples to
            evaluate (the head key, e.g. ``'jsrt'``).
        class_names (Sequence[str]): Names of the classes (cls), box labels
            (loc) or mask channels (seg), in index order.
        collect_device (str): Device used to collect results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the result keys. Defaults to
            ``'{dataset_name}/{task}'``, giving keys such as
            ``'jsrt/seg/Dice'``.
        collect_dir (str, optional): Directory used to collect results
            across ranks when ``collect_device='cpu'``. Defaults to None.
    """

    task: str = ''

    def __init__(self,
                 dataset_name: str,
                 class_names: Sequence[str],
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        name = self.__class__.__name__
        if self.task not in TASKS:
            raise TypeError(f'{name}.task must be one of {TASKS}, got '
                            f'{self.task!r}')
        if not isinstance(dataset_name, str) or not dataset_name:
            raise ValueError(f'{name}: dataset_name must be a non-empty '
                             f'string, got {dataset_name!r}')
        if isinstance(class_names, str) or not class_names:
            raise ValueError(f'{name}({dataset_name}): class_names must be '
                             f'a non-empty list of names, got '
                             f'{class_names!r}')
        class_names = [str(c) for c in class_names]
        class_keys = [metric_key(c) for c in class_names]
        for i, key in enumerate(class_keys):
            if not key:
                raise ValueError(f'{name}({dataset_name}): class name '
                                 f'{class_names[i]!r} gives an empty key')
            if key in class_keys[:i]:
                raise ValueError(
                    f'{name}({dataset_name}): class names '
                    f'{class_names[class_keys.index(key)]!r} and '
                    f'{class_names[i]!r} give the same key {key!r}')
        self.dataset_name = dataset_name
        self.class_names = class_names
        self.class_keys = class_keys
        super().__init__(
            collect_device=collect_device,
            prefix=prefix or f'{dataset_name}/{self.task}',
            collect_dir=collect_dir)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # ------------------------------------------------------------------
    # processing
    # ------------------------------------------------------------------
    def process(self, data_batch: Any,
                data_samples: Sequence[Union[dict, BaseDataElement]]) -> None:
        """Reduce this slot's samples to small records; mark the others.

        Args:
            data_batch (Any): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's data samples, as dicts
                (mmengine's ``Evaluator`` calls ``to_dict()``); data sample
                objects are converted here too.
        """
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            if self._is_own(sample):
                record = self.process_sample(sample)
                assert record, 'process_sample must return a non-empty dict'
                self.results.append(record)
            else:
                # keeps one result per sample for collect_results (see the
                # module docstring)
                self.results.append({})

    def _is_own(self, sample: dict) -> bool:
        missing = [k for k in ('dataset', 'task') if k not in sample]
        if missing:
            self.fail(
                sample, f'has no {" / ".join(map(repr, missing))} in its '
                "metainfo; every fx_mm data sample carries 'dataset' and "
                "'task', which route it to its metric", KeyError)
        return (sample['dataset'] == self.dataset_name
                and sample['task'] == self.task)

    @abstractmethod
    def process_sample(self, sample: dict) -> dict:
        """Reduce one sample of this slot to what the metric needs.

        Returns:
            dict: A non-empty dict of numpy arrays / python values.
        """

    # ------------------------------------------------------------------
    # computing
    # ------------------------------------------------------------------
    def compute_metrics(self, results: List[dict]) -> dict:
        """Compute the slot's metrics; ``{}`` and a warning without samples.

        Args:
            results (list[dict]): Records of :meth:`process_sample` and the
                empty placeholders of other slots' samples.

        Returns:
            dict: Metric name -> value (the prefix is added by
            :meth:`evaluate`).
        """
        own = [r for r in results if r]
        if not own:
            self.log(
                f'received no samples with dataset={self.dataset_name!r} '
                f'and task={self.task!r} (out of {len(results)} samples); '
                'it reports nothing', logging.WARNING)
            return {}
        return self.compute_slot_metrics(own)

    @abstractmethod
    def compute_slot_metrics(self, results: List[dict]) -> dict:
        """Compute the metrics from this slot's (non-empty) records."""

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def log(self, msg: str, level: int = logging.INFO) -> None:
        print_log(
            f'{self.__class__.__name__}[{self.prefix}]: {msg}',
            logger='current',
            level=level)

    def fail(self,
             sample: dict,
             problem: str,
             error: type = ValueError) -> NoReturn:
        """Raise ``error`` naming the metric, the sample's image and the
        problem."""
        img = sample.get('img_path', sample.get('img_id', '<no img_path>'))
        raise error(f'{self.__class__.__name__}[{self.prefix}]: data sample '
                    f'{img}: {problem}')

    def get_field(self, sample: dict, key: str) -> Any:
        if key not in sample:
            present = ', '.join(sorted(map(str, sample)))
            self.fail(sample, f'has no {key!r} (keys: {present})', KeyError)
        return sample[key]

    def to_numpy(self, sample: dict, value: Any, name: str) -> np.ndarray:
        """Tensor / mmdet ``BaseBoxes`` / array-like -> numpy on the CPU."""
        if hasattr(value, 'tensor') and not isinstance(value, torch.Tensor):
            value = value.tensor  # mmdet BaseBoxes (HorizontalBoxes)
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
        try:
            return np.asarray(value)
        except (TypeError, ValueError) as e:
            self.fail(sample, f'{name} is not an array ({e})', TypeError)

    def check_shape(self, sample: dict, array: np.ndarray, name: str,
                    shape: Sequence[Optional[int]], shape_doc: str) -> None:
        """Check ``array.shape`` against ``shape`` (None = any size)."""
        ok = array.ndim == len(shape) and all(
            s is None or s == a for s, a in zip(shape, array.shape))
        if not ok:
            self.fail(
                sample, f'{name} has shape {tuple(array.shape)}, '
                f'expected {shape_doc}')
