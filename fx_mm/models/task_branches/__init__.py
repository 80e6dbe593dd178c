# Copyright (c) fx_mm contributors. All rights reserved.
from .builder import build_in_scope, sample_route
from .cls_branch import MultiDatasetClsBranch
from .loc_branch import DINODatasetDecoder, MultiDatasetDINO
from .seg_branch import MultiDatasetUPerHead

__all__ = [
    'MultiDatasetClsBranch', 'MultiDatasetDINO', 'DINODatasetDecoder',
    'MultiDatasetUPerHead', 'build_in_scope', 'sample_route'
]
