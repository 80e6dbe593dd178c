# Copyright (c) fx_mm contributors. All rights reserved.
from .multi_task import MultiTaskDataPreprocessor

__all__ = ['MultiTaskDataPreprocessor']
