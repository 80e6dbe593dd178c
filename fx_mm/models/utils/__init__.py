# Copyright (c) fx_mm contributors. All rights reserved.
from .pretrained_init import FXPretrainedInit
from .swin_adapt import adapt_swin_state_dict
from .swin_converters import (concat_to_unfold_order, convert_swin_checkpoint,
                              detect_swin_format, load_swin_checkpoint)

__all__ = [
    'convert_swin_checkpoint', 'load_swin_checkpoint', 'detect_swin_format',
    'concat_to_unfold_order', 'adapt_swin_state_dict', 'FXPretrainedInit'
]
