# Copyright (c) fx_mm contributors. All rights reserved.
"""The facts about fx_mm's three tasks, in one place.

Everything that needs to know which tasks exist, which OpenMMLab data sample
carries a task's annotations and predictions, which dataset metainfo key
holds a task's class names, or which model attribute holds a task's branch,
reads it here.
"""
from typing import Dict, Tuple

#: the tasks, in the order fx_mm reports them (tables, overlays)
TASKS: Tuple[str, ...] = ('cls', 'loc', 'seg')

#: dataset metainfo key of each task's class names (a dataset's
#: ``task_classes``: its head's outputs)
CLASS_METAINFO_KEYS: Dict[str, str] = dict(
    cls='classes', loc='box_classes', seg='seg_classes')

#: the OpenMMLab data sample of each task: mmpretrain's ``DataSample``
#: (``gt_score`` / ``pred_score``), mmdet's ``DetDataSample``
#: (``gt_instances`` / ``pred_instances``), mmseg's ``SegDataSample``
#: (``gt_sem_seg`` / ``pred_sem_seg``)
DATA_SAMPLE_TYPES: Dict[str, str] = dict(
    cls='DataSample', loc='DetDataSample', seg='SegDataSample')

#: the :class:`~fx_mm.models.FoundationXNet` attribute of each task's branch
TASK_BRANCHES: Dict[str, str] = dict(
    cls='cls_branch', loc='loc_branch', seg='seg_branch')


def check_task(task: str, where: str = 'fx_mm') -> str:
    """Return ``task``; raise a ValueError naming ``where`` otherwise."""
    if task not in TASKS:
        raise ValueError(f'{where}: unknown task {task!r}; expected one of '
                         f'{TASKS}')
    return task


def task_of_sample_type(data_sample) -> str:
    """The task whose data sample type ``data_sample`` is (None if none)."""
    name = type(data_sample).__name__
    for task, type_name in DATA_SAMPLE_TYPES.items():
        if name == type_name:
            return task
    return None
