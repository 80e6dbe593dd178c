# Copyright (c) fx_mm contributors. All rights reserved.
from .base_branch import MultiDatasetBranch
from .builder import build_in_scope
from .cls_branch import MultiDatasetClsBranch
from .loc_branch import DINODatasetDecoder, MultiDatasetDINO
from .research_loc_branch import (ResearchDINO, ResearchDINODatasetDecoder,
                                  ResearchDINOHead)
from .research_seg_head import ResearchPSPFPNHead
from .seg_branch import MultiDatasetSegHead, MultiDatasetUPerHead

__all__ = [
    'MultiDatasetBranch', 'MultiDatasetClsBranch', 'MultiDatasetDINO',
    'DINODatasetDecoder', 'MultiDatasetSegHead', 'MultiDatasetUPerHead',
    'ResearchDINO', 'ResearchDINODatasetDecoder', 'ResearchDINOHead',
    'ResearchPSPFPNHead', 'build_in_scope'
]
