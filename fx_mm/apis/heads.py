# Copyright (c) fx_mm contributors. All rights reserved.
"""The (dataset, task) heads :class:`~fx_mm.apis.FXInferencer` runs, what
each takes from the config (its test transforms and class names), and an
image packed for one head."""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.dataset import Compose

from fx_mm.datasets.config_slots import ClassNames
from fx_mm.structures import TASKS
from fx_mm.visualization.utils import (is_annotation_loader, is_image_loader,
                                       is_packer)

Head = Tuple[str, str]  # (dataset, task)
SlotDatasets = Dict[str, List[Any]]  # {stage: [slot dataset, ...]}


def head_size(net: nn.Module, dataset: str, task: str) -> int:
    """Outputs of a head: classes (cls, loc) or mask channels (seg)."""
    return net.branch(task).num_outputs(dataset)


def select_heads(available: Dict[str, List[str]],
                 tasks: Optional[Sequence[str]] = None,
                 datasets: Optional[Sequence[str]] = None) -> List[Head]:
    """(dataset, task) heads to run, in the order of
    :data:`~fx_mm.structures.TASKS`.

    Args:
        available (dict): ``{task: [dataset, ...]}`` of the model's heads.
        tasks (str | Sequence[str], optional): Tasks to run; None = all of
            the model's.
        datasets (str | Sequence[str], optional): Head names to run; None
            = all.

    Returns:
        list[tuple[str, str]]: The selected ``(dataset, task)`` heads.
    """
    if isinstance(tasks, str):
        tasks = (tasks, )
    if isinstance(datasets, str):
        datasets = (datasets, )
    if tasks is None:
        tasks = [t for t in TASKS if t in available]
    for task in tasks:
        if task not in TASKS:
            raise ValueError(f'unknown task {task!r}; expected some of '
                             f'{TASKS}')
        if task not in available:
            raise ValueError(f'the model has no {task} branch; heads: '
                             f'{available}')
    heads = [(dataset, task) for task in TASKS if task in tasks
             for dataset in available[task]
             if datasets is None or dataset in datasets]
    # a requested dataset without a head of the tasks is a typo, not "none"
    for dataset in datasets or ():
        if not any(d == dataset for d, _ in heads):
            raise ValueError(f'no head of dataset {dataset!r} for tasks '
                             f'{list(tasks)}; heads: {available}')
    if not heads:
        raise ValueError('no head selected')
    return heads


def head_transforms(by_stage: SlotDatasets, net: nn.Module,
                    fallback: Optional[list]) -> Dict[Head, List[Any]]:
    """Per head: the test transforms between loading and packing.

    A head takes the pipeline of its own test (else val) slot, else of a
    slot of its task, else of the first slot, else the config's
    ``test_pipeline``, so that a head without a test slot still sees the
    input size of the config's test pipelines. The loaders and the packer
    are dropped: the inferencer reads the image itself and packs it with
    :class:`~fx_mm.datasets.transforms.PackFXInputs`.

    Args:
        by_stage (dict): The config's slot datasets by stage (see
            :func:`~fx_mm.datasets.config_slots.config_slot_datasets`).
        net (nn.Module): A network of the model (its ``heads()``).
        fallback (list, optional): The config's ``test_pipeline``.

    Returns:
        dict: ``{(dataset, task): [transform, ...]}``.
    """
    inference_sets = by_stage.get('test_cfg', []) + by_stage.get('val_cfg', [])

    def transforms_of(dataset: str, task: str) -> List[Any]:
        for ds in inference_sets:
            if ds.dataset_name == dataset and ds.task == task:
                return ds.pipeline.transforms
        for ds in inference_sets:
            if ds.task == task:
                return ds.pipeline.transforms
        if inference_sets:
            return inference_sets[0].pipeline.transforms
        if fallback is not None:
            return Compose(fallback).transforms
        raise ValueError(
            'FXInferencer: the config has no test/val slots and no '
            '`test_pipeline` to take the image transforms from')

    transforms: Dict[Head, List[Any]] = {}
    for task, datasets in net.heads().items():
        for dataset in datasets:
            transforms[(dataset, task)] = [
                t for t in transforms_of(dataset, task)
                if not (is_image_loader(t) or is_annotation_loader(t)
                        or is_packer(t))
            ]
    return transforms


def head_class_names(by_stage: SlotDatasets, net: nn.Module,
                     user_names: ClassNames) -> ClassNames:
    """Per head: the names of its outputs.

    ``user_names`` win, then the config's test, val and train datasets (in
    that order); heads without names report ``class_<i>``.

    Args:
        by_stage (dict): The config's slot datasets by stage.
        net (nn.Module): A network of the model (its heads and sizes).
        user_names (dict): ``{dataset: {task: [names]}}`` given by the
            user.

    Returns:
        dict: ``{dataset: {task: [names]}}``, one name per head output.
    """
    slot_names: ClassNames = {}
    for stage in ('train_cfg', 'val_cfg', 'test_cfg'):  # test wins
        for ds in by_stage.get(stage, []):
            slot_names.setdefault(ds.dataset_name,
                                  {})[ds.task] = list(ds.task_classes)
    class_names: ClassNames = {}
    for task, datasets in net.heads().items():
        for dataset in datasets:
            size = head_size(net, dataset, task)
            names = user_names.get(dataset, {}).get(task)
            source = 'class_names'
            if names is None:
                names = slot_names.get(dataset, {}).get(task)
                source = 'the config\'s dataset'
            if names is None:
                names = [f'class_{i}' for i in range(size)]
            # a wrong count would silently mislabel every score
            if len(names) != size:
                raise ValueError(
                    f'FXInferencer: {len(names)} class names for '
                    f'{dataset}/{task} from {source} ({list(names)}) '
                    f'but the head has {size} outputs')
            class_names.setdefault(dataset, {})[task] = list(names)
    return class_names


def pack_for_head(loaded: dict, head: Head, transforms: Sequence[Callable],
                  packer: Callable[[dict], dict]) -> dict:
    """One loaded image through a head's test transforms and the packer.

    Args:
        loaded (dict): ``image`` (H, W, 3) uint8 RGB, ``img_path`` (None
            for an array) and ``name`` (see
            :func:`~fx_mm.apis.inputs.load_input`).
        head (tuple[str, str]): ``(dataset, task)``: written into the
            metainfo, by which the model routes the sample to the head.
        transforms (Sequence[Callable]): The head's test transforms (see
            :func:`head_transforms`).
        packer (Callable): :class:`~fx_mm.datasets.transforms.PackFXInputs`,
            so that inference packs exactly what the configs' pipelines do
            (with no ground truth to pack).

    Returns:
        dict: ``inputs`` (C, H', W') uint8 tensor of the transformed image
        and ``data_samples``, the task's data sample.
    """
    dataset, task = head
    height, width = loaded['image'].shape[:2]
    results = dict(
        img=loaded['image'].copy(),  # the transforms may work in place
        img_shape=(height, width),
        ori_shape=(height, width),
        img_path=loaded['img_path'] or '',
        img_id=loaded['name'],
        dataset=dataset,
        task=task)
    for transform in transforms:
        results = transform(results)
        if results is None:
            raise RuntimeError(
                f'{loaded["img_path"] or loaded["name"]}: the transform '
                f'{transform} dropped the image')
    return packer(results)
