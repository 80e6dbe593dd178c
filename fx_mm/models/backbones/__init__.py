# Copyright (c) fx_mm contributors. All rights reserved.
from .swin_checkpointing import use_non_reentrant_checkpointing

__all__ = ['use_non_reentrant_checkpointing']
