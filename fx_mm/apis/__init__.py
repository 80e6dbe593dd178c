# Copyright (c) fx_mm contributors. All rights reserved.
from .inferencer import FXInferencer
from .results import mask_to_rle

__all__ = ['FXInferencer', 'mask_to_rle']
