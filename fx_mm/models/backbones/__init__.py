# Copyright (c) fx_mm contributors. All rights reserved.
from .fx_swin import FXSwinTransformer
from .swin_checkpointing import use_non_reentrant_checkpointing

__all__ = ['FXSwinTransformer', 'use_non_reentrant_checkpointing']
