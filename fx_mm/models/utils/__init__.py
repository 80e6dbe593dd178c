# Copyright (c) fx_mm contributors. All rights reserved.
from .swin_converters import (concat_to_unfold_order, convert_swin_checkpoint,
                              detect_swin_format, load_swin_checkpoint)

__all__ = [
    'convert_swin_checkpoint', 'load_swin_checkpoint', 'detect_swin_format',
    'concat_to_unfold_order'
]
