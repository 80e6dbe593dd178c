# Copyright (c) fx_mm contributors. All rights reserved.
import copy
import warnings
from typing import Any, Dict, List, Sequence

from mmengine.config import Config

from fx_mm.registry import DATASETS

STAGES = ('test_cfg', 'val_cfg', 'train_cfg')


def config_slot_datasets(cfg: Config,
                         stages: Sequence[str] = STAGES,
                         where: str = 'fx_mm') -> Dict[str, List[Any]]:
    """The slot datasets of a config by stage, built with ``lazy_init``
    (no annotation is read): what tools need for class names and test
    transforms without the data.

    A slot whose dataset cannot be built (a dataset may check its files)
    is left out with a warning naming it (``where``: the tool).
    """
    from fx_mm.visualization.utils import unwrap_dataset
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
