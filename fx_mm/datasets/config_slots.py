# Copyright (c) fx_mm contributors. All rights reserved.
"""The slot datasets of a config and their class names, for the tools,
the visualizer and the inferencer (which read them without the data)."""
import copy
import warnings
from typing import Any, Dict, List, Sequence

from mmengine.config import Config

from fx_mm.registry import DATASETS

STAGES = ('test_cfg', 'val_cfg', 'train_cfg')

#: ``{dataset: {task: [class names]}}``
ClassNames = Dict[str, Dict[str, List[str]]]


def unwrap_dataset(dataset):
    """The fx_mm CXR dataset inside mmengine wrappers, or None."""
    for _ in range(4):
        if all(
                hasattr(dataset, attr)
                for attr in ('dataset_name', 'task', 'task_classes')):
            return dataset
        if hasattr(dataset, 'dataset'):
            dataset = dataset.dataset
        elif getattr(dataset, 'datasets', None):
            dataset = dataset.datasets[0]
        else:
            return None
    return None


def dataset_class_names(datasets: Sequence) -> ClassNames:
    """``{dataset: {task: [names]}}`` of fx_mm CXR datasets (slot datasets).

    Objects without ``dataset_name`` / ``task`` / ``task_classes`` (e.g.
    mmengine dataset wrappers) are unwrapped through ``.dataset`` /
    ``.datasets[0]``; anything else is skipped.
    """
    names: ClassNames = {}
    for dataset in datasets:
        dataset = unwrap_dataset(dataset)
        if dataset is None:
            continue
        names.setdefault(dataset.dataset_name,
                         {})[dataset.task] = list(dataset.task_classes)
    return names


def config_slot_datasets(cfg: Config,
                         stages: Sequence[str] = STAGES,
                         where: str = 'fx_mm') -> Dict[str, List[Any]]:
    """The slot datasets of a config by stage, built with ``lazy_init``
    (no annotation is read): what tools need for class names and test
    transforms without the data.

    A slot whose dataset cannot be built (a dataset may check its files)
    is left out with a warning naming it (``where``: the tool).
    """
    found: Dict[str, List[Any]] = {}
    for stage in stages:
        for k, slot in enumerate((cfg.get(stage) or {}).get('slots') or []):
            ds_cfg = copy.deepcopy(dict(slot['dataset']))
            ds_cfg['lazy_init'] = True
            try:
                dataset = unwrap_dataset(DATASETS.build(ds_cfg))
            except Exception as err:
                warnings.warn(
                    f'{where}: {stage}.slots[{k}] ({ds_cfg.get("type")}) '
                    f'cannot be built ({err}); its class names and '
                    'transforms are not used')
                continue
            if dataset is not None:
                found.setdefault(stage, []).append(dataset)
    return found
