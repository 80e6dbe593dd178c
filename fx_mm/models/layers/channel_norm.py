# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Sequence

import torch.nn as nn
from torch import Tensor


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map.

    The same arithmetic as Swin's output norms, which normalise the
    (B, H*W, C) tokens of a stage; used where a branch, not the backbone,
    normalises its input features (the research Foundation X keeps one set
    of output norms per task).
    """

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def channel_norms(channels: Sequence[int]) -> nn.ModuleList:
    """One :class:`ChannelLayerNorm` per feature level."""
    return nn.ModuleList(ChannelLayerNorm(c) for c in channels)
