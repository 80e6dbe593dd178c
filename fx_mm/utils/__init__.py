# Copyright (c) fx_mm contributors. All rights reserved.
from .checkpoint import load_fx_checkpoint
from .distributed import accelerator_available, setup_cpu_distributed
from .logging import init_info_at_debug
from .model_wrappers import unwrap_model
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'load_fx_checkpoint', 'accelerator_available',
    'setup_cpu_distributed', 'init_info_at_debug', 'unwrap_model'
]
