# Copyright (c) fx_mm contributors. All rights reserved.
from .formatting import PackFXInputs
from .loading import LoadCXRAnnotations, LoadCXRImage
from .transforms import FXPad, FXRandomFlip

__all__ = [
    'LoadCXRImage', 'LoadCXRAnnotations', 'PackFXInputs', 'FXRandomFlip',
    'FXPad'
]
