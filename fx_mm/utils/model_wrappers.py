# Copyright (c) fx_mm contributors. All rights reserved.
import torch.nn as nn
from mmengine.model import is_model_wrapper


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a wrapper registered in mmengine's
    ``MODEL_WRAPPERS`` (DDP, FSDP, ...), as mmengine's runner reads it;
    any other model as it is."""
    return model.module if is_model_wrapper(model) else model
