# Copyright (c) fx_mm contributors. All rights reserved.
from .fx_swin import FXSwinTransformer
from .swin_pretrained import (FXPretrainedSwin, check_local_checkpoint,
                              load_pretrained_swin)

__all__ = [
    'FXSwinTransformer', 'FXPretrainedSwin',
    'check_local_checkpoint', 'load_pretrained_swin'
]
