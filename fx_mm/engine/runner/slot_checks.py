# Copyright (c) fx_mm contributors. All rights reserved.
"""Checks of the configured slots against the model, run when the loops are
built (before the first iteration), so that a mismatch fails in seconds
instead of at the first batch of a slot hours into training."""
from typing import Iterable, Optional

import torch.nn as nn

from fx_mm.utils.model_wrappers import unwrap_model

#: Keys a slot of ``train_cfg.slots`` may have.
SLOT_KEYS = ('dataset', 'name', 'batch_size', 'num_workers', 'collate_fn')
#: Keys a slot of ``val_cfg.slots`` / ``test_cfg.slots`` may have (they go
#: to mmengine's ``Runner.build_dataloader``).
VAL_SLOT_KEYS = ('dataset', 'batch_size', 'num_workers', 'collate_fn',
                 'sampler', 'pin_memory', 'persistent_workers',
                 'prefetch_factor', 'drop_last')


def check_slot_keys(slot: dict,
                    where: str,
                    allowed: Iterable[str] = SLOT_KEYS) -> None:
    """Raise for an unknown key (a typo) or a missing ``dataset``.

    Args:
        slot (dict): One entry of a slot list.
        where (str): e.g. ``'val_cfg.slots[2]'``.
        allowed (Iterable[str]): The keys a slot may have.
    """
    allowed = tuple(allowed)
    if not isinstance(slot, dict):
        raise TypeError(f'{where}: a slot must be a dict, got '
                        f'{type(slot).__name__}')
    unknown = sorted(set(slot) - set(allowed))
    if unknown or 'dataset' not in slot:
        raise ValueError(f'{where}: ' + (
            f'unknown keys {unknown}' if unknown else 'no "dataset" key') +
                         f'; allowed keys: {list(allowed)}')


def head_num_classes(student: nn.Module, task: str,
                     dataset: str) -> Optional[int]:
    """Outputs of ``dataset``'s head in ``task`` (None when unknown)."""
    branch = student.branch(task)
    if dataset not in getattr(branch, 'datasets', ()):
        return None
    return branch.num_outputs(dataset)


def check_slot_head(model: nn.Module, dataset, where: str) -> None:
    """The model must have a head for the slot's (dataset, task) with as
    many outputs as the dataset has classes for that task.

    Args:
        model (nn.Module): ``FoundationX`` (a wrapper is unwrapped); models
            without ``student.heads()`` are not checked.
        dataset: An fx_mm CXR dataset (``dataset_name``, ``task``,
            ``task_classes``).
        where (str): e.g. ``'train_cfg.slots[0]'``.
    """
    model = unwrap_model(model)
    student = getattr(model, 'student', None)
    name = getattr(dataset, 'dataset_name', None)
    task = getattr(dataset, 'task', None)
    if student is None or not hasattr(student, 'heads') or name is None:
        return
    heads = student.heads()
    if name not in heads.get(task, []):
        raise ValueError(
            f'{where} ({name}/{task}): the model has no {task} head for '
            f'dataset {name!r}; heads: {heads}')
    classes = tuple(getattr(dataset, 'task_classes', ()) or ())
    num_outputs = head_num_classes(student, task, name)
    if classes and num_outputs is not None and num_outputs != len(classes):
        raise ValueError(
            f'{where} ({name}/{task}): the model\'s {task} head for {name!r} '
            f'has {num_outputs} outputs but {type(dataset).__name__} has '
            f'{len(classes)} {task} classes {list(classes)}; set the head '
            f'to {len(classes)} in the model config (e.g. '
            f'model.{task}_branch.datasets.{name}={len(classes)})')
