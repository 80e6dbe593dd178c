# Copyright (c) fx_mm contributors. All rights reserved.
"""The segmentation decoder of the research Foundation X, from mmcv/mmseg
blocks.

It resembles UperNet but differs in ways that change every output, so the
official weights need this layout (``docs/checkpoints.md``):

- the pyramid pooling (mmseg's :class:`PPM`, bins 1, 2, 4, 6, ``in/4``
  channels each, upsampled with ``align_corners=True``) is concatenated with
  its input and brought back to the stage-4 width by a 3x3 ConvModule and a
  Dropout2d; the result replaces the stage-4 feature;
- 1x1 lateral convolutions WITH bias and no norm map stages 2-4 to
  ``channels``; stage 1 must already have ``channels`` channels and has
  none;
- the top-down sums are not cumulative: ``P_i = up(L_{i+1}) + L_i`` from
  the lateral features, each smoothed by ONE 3x3 conv shared by the levels;
- ``[P_0, P_1, P_2, L_3]`` are upsampled to stride 4 (``align_corners=True``),
  concatenated and fused by a 3x3 ConvModule;
- each dataset's 3x3 head reads the fused map; logits are upsampled to the
  input with ``align_corners=False``.
"""
from typing import Dict, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.psp_head import PPM
from mmseg.models.utils import resize
from torch import Tensor

from fx_mm.registry import MODELS
from .seg_branch import MultiDatasetSegHead


@MODELS.register_module()
class ResearchPSPFPNHead(MultiDatasetSegHead):
    """PSP + non-cumulative FPN decoder of the research Foundation X, one
    conv head per dataset.

    Args:
        datasets (dict): ``{dataset: num_mask_channels}``.
        in_channels (Sequence[int]): Channels of the four backbone stages
            (Swin-B: 128, 256, 512, 1024); the first equals ``channels``.
        channels (int): FPN width (research: 128).
        pool_scales (tuple[int]): Pyramid pooling bins. Defaults to
            (1, 2, 4, 6).
        psp_dropout (float): Dropout2d after the pooling bottleneck.
            Defaults to 0.1.
        inner_align_corners (bool): ``align_corners`` of the upsampling
            inside the decoder (research: True). The final upsampling of
            the logits uses ``align_corners`` (research: False).
        **kwargs: :class:`MultiDatasetSegHead` arguments.
    """

    def __init__(self,
                 datasets: Dict[str, int],
                 in_channels: Sequence[int],
                 channels: int,
                 pool_scales: Sequence[int] = (1, 2, 4, 6),
                 psp_dropout: float = 0.1,
                 inner_align_corners: bool = True,
                 **kwargs) -> None:
        kwargs.setdefault('dropout_ratio', 0.0)
        super().__init__(
            datasets=datasets,
            in_channels=list(in_channels),
            channels=channels,
            input_transform='multiple_select',
            **kwargs)
        if self.in_channels[0] != channels:
            raise ValueError(
                f'ResearchPSPFPNHead: the first level has no lateral conv, '
                f'so in_channels[0] ({self.in_channels[0]}) must equal '
                f'channels ({channels})')
        self.inner_align_corners = inner_align_corners
        top = self.in_channels[-1]
        psp_channels = top // len(pool_scales)
        norm_act = dict(
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.psp_modules = PPM(
            pool_scales,
            top,
            psp_channels,
            align_corners=inner_align_corners,
            **norm_act)
        self.psp_bottleneck = ConvModule(
            top + len(pool_scales) * psp_channels,
            top,
            3,
            padding=1,
            **norm_act)
        self.psp_dropout = nn.Dropout2d(psp_dropout) \
            if psp_dropout > 0 else nn.Identity()
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, channels, 1, norm_cfg=None, act_cfg=None)
            for c in self.in_channels[1:])
        self.smooth_conv = ConvModule(
            channels, channels, 3, padding=1, norm_cfg=None, act_cfg=None)
        self.fusion_conv = ConvModule(
            len(self.in_channels) * channels,
            channels,
            3,
            padding=1,
            **norm_act)
        self.build_dataset_heads()

    def _up(self, x: Tensor, like: Tensor) -> Tensor:
        return resize(
            x,
            size=like.shape[2:],
            mode='bilinear',
            align_corners=self.inner_align_corners)

    def forward_features(self, feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        inputs = self._transform_inputs(list(feats))
        top = inputs[-1]
        pooled = torch.cat([top, *self.psp_modules(top)], dim=1)
        psp = self.psp_dropout(self.psp_bottleneck(pooled))
        laterals = [inputs[0]] + [
            conv(x)
            for conv, x in zip(self.lateral_convs, [*inputs[1:-1], psp])
        ]
        sums = [
            self.smooth_conv(
                self._up(laterals[i + 1], laterals[i]) + laterals[i])
            for i in range(len(laterals) - 1)
        ]
        levels = [sums[0]] + [
            self._up(x, sums[0]) for x in [*sums[1:], laterals[-1]]
        ]
        fused = self.fusion_conv(torch.cat(levels, dim=1))
        return dict(fused=fused, psp=psp)
