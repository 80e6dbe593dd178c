# Copyright (c) fx_mm contributors. All rights reserved.
from .checkpoint import load_fx_checkpoint, patch_mmengine_checkpoint_loading
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'load_fx_checkpoint',
    'patch_mmengine_checkpoint_loading'
]
