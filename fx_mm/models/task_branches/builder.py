# Copyright (c) fx_mm contributors. All rights reserved.
import copy

import torch.nn as nn

from fx_mm.registry import MODELS


def build_in_scope(cfg: dict, scope: str) -> nn.Module:
    """Build an OpenMMLab module with ``scope`` as default scope.

    A prefixed type (``'mmdet.DINOHead'``) does not switch the scope for the
    modules built inside it (its losses, assigners ...); ``_scope_`` does.
    A type prefixed with another scope keeps that scope.
    """
    cfg = copy.deepcopy(dict(cfg))
    type_name = cfg.get('type')
    if isinstance(type_name, str) and '.' in type_name:
        scope, cfg['type'] = type_name.split('.', 1)
    cfg.setdefault('_scope_', scope)
    return MODELS.build(cfg)


def sample_route(data_samples) -> tuple:
    """(dataset, task) of a batch; all its samples must share them."""
    if not data_samples:
        raise ValueError('fx_mm: a batch without data samples cannot be '
                         'routed to a task head')
    routes = {(s.metainfo.get('dataset'), s.metainfo.get('task'))
              for s in data_samples}
    if len(routes) != 1:
        raise ValueError(
            f'fx_mm: one batch must hold ONE (dataset, task), got {routes}; '
            'each slot needs its own dataloader')
    dataset, task = routes.pop()
    if dataset is None or task is None:
        raise ValueError('fx_mm: data samples lack "dataset"/"task" in '
                         'their metainfo (use PackFXInputs)')
    return dataset, task
