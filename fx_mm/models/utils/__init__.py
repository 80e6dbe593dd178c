# Copyright (c) fx_mm contributors. All rights reserved.
from .model_stats import SingleTaskForward, count_flops, parameter_breakdown
from .pretrained_init import FXPretrainedInit
from .research_converter import (convert_research_checkpoint,
                                 unwrap_research_checkpoint)
from .swin_converters import (adapt_swin_state_dict, concat_to_unfold_order,
                              convert_swin_checkpoint, detect_swin_format,
                              load_swin_checkpoint)
from .swin_pretrained import (FXPretrainedSwin, check_local_checkpoint,
                              load_pretrained_swin,
                              use_fx_swin_pretrained_loading)

__all__ = [
    'convert_swin_checkpoint', 'load_swin_checkpoint', 'detect_swin_format',
    'concat_to_unfold_order', 'adapt_swin_state_dict', 'FXPretrainedSwin',
    'load_pretrained_swin', 'check_local_checkpoint',
    'use_fx_swin_pretrained_loading', 'parameter_breakdown',
    'SingleTaskForward', 'count_flops', 'convert_research_checkpoint',
    'unwrap_research_checkpoint', 'FXPretrainedInit'
]
