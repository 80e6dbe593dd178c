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
