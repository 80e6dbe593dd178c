# Copyright (c) fx_mm contributors. All rights reserved.
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence

from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from ..base_cxr import BaseCXRDataset, CXRDatasetError
from .coco_writer import CocoTaskWriter
from .specs import CONVERTERS, ConverterSpec


def build_native_dataset(
        spec: ConverterSpec,
        data_root: str,
        task: str,
        split: str,
        max_images: Optional[int] = None,
        dataset_options: Optional[dict] = None) -> BaseCXRDataset:
    """Build ``spec``'s fx_mm dataset of one task and split."""
    splits = spec.splits_for(task)
    if split not in splits:
        raise ValueError(f'{spec.name}: unknown split {split!r} for task '
                         f'{task!r}; expected one of {list(splits)}')
    kwargs = dict(splits[split])
    kwargs.update(dataset_options or {})
    kwargs.update(data_root=data_root, task=task, serialize_data=False)
    if max_images is not None:
        kwargs['indices'] = int(max_images)  # the first N images
    dataset_cls = DATASETS.get(spec.dataset_type)
    try:
        return dataset_cls(**kwargs)
    except (FileNotFoundError, CXRDatasetError) as err:
        hint = _missing_file_hint(spec, task, split, err)
        raise type(err)(f'{err} [{spec.name}, task {task!r}, split '
                        f'{split!r}{hint}]') from err


def _task_ann_file(spec: ConverterSpec, task: str,
                   split: str) -> Optional[str]:
    kwargs = spec.splits_for(task).get(split, {})
    defaults = getattr(DATASETS.get(spec.dataset_type), 'DEFAULT_ANN_FILE', {})
    return kwargs.get('ann_file') or defaults.get(task)


def _missing_file_hint(spec: ConverterSpec, task: str, split: str,
                       err: Exception) -> str:
    """What to pass when a file is missing: the other tasks (--tasks) when
    it is this task's own annotation file, the splits (--splits) when the
    task has several."""
    if not isinstance(err, FileNotFoundError):
        return ''
    hints = []
    missing = osp.basename(str(err).split(': ', 1)[0])
    own = _task_ann_file(spec, task, split)
    others = [
        t for t in spec.tasks
        if t != task and _task_ann_file(spec, t, split) != own
    ]
    if own and missing == osp.basename(own) and others:
        hints.append(f'without the {task} annotations ({own}), convert the '
                     f'other tasks only: --tasks {" ".join(others)}')
    splits = list(spec.splits_for(task))
    if len(splits) > 1:
        hints.append(f'choose the splits you have with --splits ({splits})')
    return ': ' + '; '.join(hints) if hints else ''


def convert(name: str,
            data_root: str,
            out_dir: str,
            tasks: Optional[Sequence[str]] = None,
            splits: Optional[Sequence[str]] = None,
            max_images: Optional[int] = None,
            dataset_options: Optional[dict] = None,
            progress: bool = False) -> Dict[str, Dict[str, str]]:
    """Convert one public dataset to COCO json (module doc).

    Args:
        name (str): A key of :data:`CONVERTERS`.
        data_root (str): The dataset in its native layout.
        out_dir (str): Output folder.
        tasks (Sequence[str], optional): Defaults to the converter's tasks.
        splits (Sequence[str], optional): Splits to convert (of each task;
            a split a task does not define is an error). Defaults to all
            splits of each task.
        max_images (int, optional): Convert only the first N images of each
            split (a quick look at a large set).
        dataset_options (dict, optional): Extra arguments of the fx_mm
            dataset (``mask_size``, ``merge_lungs``, ``uncertainty``...).
        progress (bool): Show a progress bar.

    Returns:
        dict: task -> written paths (see :meth:`CocoTaskWriter.write`).
    """
    if name not in CONVERTERS:
        raise ValueError(f'unknown converter {name!r}; expected one of '
                         f'{list(CONVERTERS)}')
    spec = CONVERTERS[name]
    written = OrderedDict()
    for task in tasks or spec.tasks:
        if task not in spec.tasks:
            raise ValueError(f'{name}: task {task!r} not supported; expected '
                             f'one of {spec.tasks}')
        writer = CocoTaskWriter(task, name)
        for split in splits or list(spec.splits_for(task)):
            dataset = build_native_dataset(spec, data_root, task, split,
                                           max_images, dataset_options)
            print_log(
                f'{name} {task} {split}: converting {len(dataset)} images',
                logger='current')
            writer.add_dataset(dataset, split, progress)
        written[task] = writer.write(out_dir, name)
        print_log(
            f'{name} {task}: {len(writer.images)} images, '
            f'{len(writer.annotations)} annotations -> '
            f'{written[task]["json"]}',
            logger='current')
    return written
