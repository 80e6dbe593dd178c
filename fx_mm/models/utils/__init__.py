# Copyright (c) fx_mm contributors. All rights reserved.
from .model_stats import SingleTaskForward, count_flops, parameter_breakdown
from .pretrained_init import FXPretrainedInit
from .research_converter import (ResearchLayoutError, convert_research_state,
                                 unwrap_research_checkpoint)
from .swin_converters import (adapt_swin_state_dict, concat_to_unfold_order,
                              convert_swin_checkpoint, detect_swin_format,
                              load_swin_checkpoint)

__all__ = [
    'convert_swin_checkpoint', 'load_swin_checkpoint', 'detect_swin_format',
    'concat_to_unfold_order', 'adapt_swin_state_dict', 'parameter_breakdown',
    'SingleTaskForward', 'count_flops', 'convert_research_state',
    'unwrap_research_checkpoint', 'ResearchLayoutError', 'FXPretrainedInit'
]
