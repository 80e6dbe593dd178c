# Copyright (c) fx_mm contributors. All rights reserved.
import torch.nn as nn
from mmdet.models.backbones import SwinTransformer

from fx_mm.registry import MODELS


@MODELS.register_module()
class FXSwinTransformer(SwinTransformer):
    """mmdet's Swin Transformer that can return un-normalised stages.

    The research Foundation X normalises the stage outputs per task (one
    LayerNorm set for classification, one for localization, none for
    segmentation), so its backbone returns the raw stages and each branch
    owns its input norms (``in_norm`` / ``in_norms`` of the branches).

    Args:
        out_norms (bool): Apply the ``norm{i}`` LayerNorm to each output as
            mmdet does. False: the outputs are the stages' raw tokens, and
            the model has no ``norm{i}``. Defaults to True.
        **kwargs: :class:`mmdet.models.backbones.SwinTransformer`
            arguments.
    """

    def __init__(self, out_norms: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.out_norms = out_norms
        if not out_norms:
            for i in self.out_indices:
                setattr(self, f'norm{i}', nn.Identity())
