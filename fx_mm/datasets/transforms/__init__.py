# Copyright (c) fx_mm contributors. All rights reserved.
from .formatting import PackFXInputs
from .loading import LoadCXRAnnotations, LoadCXRImage

__all__ = ['LoadCXRImage', 'LoadCXRAnnotations', 'PackFXInputs']
