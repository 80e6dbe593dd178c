# Copyright (c) fx_mm contributors. All rights reserved.
from .base_cxr import BaseCXRDataset, CXRDatasetError
from .coco_cxr import CXRCocoDataset  # noqa: F401
from .interop import from_xrv, to_xrv, xrv_center_crop_box
from .io import CXRReadError, read_binary_mask, read_cxr_image
from .public import *  # noqa: F401,F403
from .public import JSRTDataset
from .synthetic import SyntheticCXRDataset, generate_synthetic_cxr
from .transforms import *  # noqa: F401,F403

__all__ = [
    'BaseCXRDataset', 'CXRDatasetError', 'CXRReadError', 'read_cxr_image',
    'read_binary_mask', 'JSRTDataset', 'SyntheticCXRDataset',
    'generate_synthetic_cxr', 'to_xrv', 'from_xrv', 'xrv_center_crop_box'
]
