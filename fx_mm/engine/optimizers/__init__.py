# Copyright (c) fx_mm contributors. All rights reserved.
from .fx_constructor import FXOptimWrapperConstructor

__all__ = ['FXOptimWrapperConstructor']
