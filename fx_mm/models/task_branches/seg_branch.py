# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.decode_heads import UPerHead
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import DiceLoss
from torch import Tensor

from fx_mm.registry import MODELS
from .base_branch import MultiDatasetBranch, image_extent
from .builder import build_in_scope


class MultiDatasetSegHead(BaseDecodeHead, MultiDatasetBranch):
    """Segmentation with a decoder shared by all datasets and one conv head
    per dataset.

    mmseg's single ``conv_seg`` is replaced by ``conv_segs[dataset]``.
    Channels are independent binary masks (sigmoid), so masks may overlap;
    the loss modules (mmseg's, e.g. ``DiceLoss(use_sigmoid=True)``) see each
    (sample, channel) as its own binary problem. Subclasses compute the
    shared decoder in :meth:`forward_features`.

    Args:
        datasets (dict): ``{dataset: num_mask_channels}``.
        seg_kernel_size (int): Kernel of each dataset's head (paper: 3).
        threshold (float): Sigmoid threshold of predictions. Defaults to 0.5.
        loss_decode (dict | list[dict]): mmseg loss configs.
        **kwargs: :class:`BaseDecodeHead` arguments (in_channels,
            in_index, channels, norm_cfg, align_corners ...).
    """

    task = 'seg'
    dataset_container = 'conv_segs'

    def __init__(self,
                 datasets: Dict[str, int],
                 seg_kernel_size: int = 3,
                 threshold: float = 0.5,
                 loss_decode=dict(
                     type='mmseg.DiceLoss', use_sigmoid=True, loss_weight=1.0),
                 **kwargs) -> None:
        if not datasets:
            raise ValueError(f'{type(self).__name__} needs at least one '
                             'dataset in `datasets`')
        kwargs.setdefault('norm_cfg', dict(type='BN', requires_grad=True))
        # mmseg's default initialises `conv_seg`; here: each dataset's head
        kwargs.setdefault(
            'init_cfg',
            dict(type='Normal', std=0.01, override=dict(name='conv_segs')))
        super().__init__(
            num_classes=1,
            out_channels=1,
            threshold=threshold,
            loss_decode=dict(type='mmseg.CrossEntropyLoss', use_sigmoid=True),
            **kwargs)
        del self.conv_seg
        losses = loss_decode if isinstance(loss_decode, (list, tuple)) \
            else [loss_decode]
        self.loss_decode = nn.ModuleList(
            build_in_scope(cfg, 'mmseg') for cfg in losses)
        self._head_channels = dict(datasets)
        self._head_kernel_size = seg_kernel_size

    def build_dataset_heads(self) -> None:
        """Build ``conv_segs``. A subclass calls it at the END of its
        ``__init__``, after its shared decoder: the heads come after it in
        the module order, so a seeded model draws the same initial weights
        as the UperNet model always did."""
        self.conv_segs = nn.ModuleDict({
            name: nn.Conv2d(
                self.channels,
                num_channels,
                self._head_kernel_size,
                padding=self._head_kernel_size // 2)
            for name, num_channels in self._head_channels.items()
        })

    def num_outputs(self, dataset: str) -> int:
        self.check_dataset(dataset)
        return int(self.conv_segs[dataset].out_channels)

    def forward_features(self, feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Shared decoder: ``{'fused': (B, channels, H/4, W/4), 'psp':
        (B, C, h, w)}`` (the map the heads read and the pyramid-pooling
        output; both are consistency features)."""
        raise NotImplementedError

    def seg_logits(self, fused: Tensor, dataset: str) -> Tensor:
        self.check_dataset(dataset)
        if self.dropout is not None:
            fused = self.dropout(fused)
        return self.conv_segs[dataset](fused)

    def forward(self, feats: Sequence[Tensor], dataset: str) -> Tensor:
        """Logits (B, num_channels, H/4, W/4) of ``dataset``'s head."""
        return self.seg_logits(self.forward_features(feats)['fused'], dataset)

    def loss(self, feats: Sequence[Tensor], data_samples: list,
             dataset: str) -> Tuple[dict, dict]:
        """Return (losses, consistency features {'psp', 'fused'})."""
        shared = self.forward_features(feats)
        logits = self.seg_logits(shared['fused'], dataset)
        target = torch.stack([s.gt_sem_seg.data for s in data_samples])
        if target.shape[1] != logits.shape[1]:
            raise ValueError(
                f'{dataset}: {target.shape[1]} mask channels but the head '
                f'predicts {logits.shape[1]}; check the dataset seg classes '
                'against the seg_branch config')
        logits = F.interpolate(
            logits,
            size=target.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        # (B, C, H, W) -> (B*C, 1, H, W): each mask channel is its own
        # binary problem (mmseg's Dice would otherwise pool channels).
        flat_logits = logits.flatten(0, 1).unsqueeze(1)
        flat_target = target.flatten(0, 1).unsqueeze(1).to(logits)
        losses = dict()
        for loss_module in self.loss_decode:
            name = loss_module.loss_name
            # mmseg's DiceLoss wants the target in the prediction's shape;
            # its sigmoid CrossEntropyLoss a label map (N, H, W)
            value = loss_module(
                flat_logits, flat_target if isinstance(loss_module, DiceLoss)
                else flat_target[:, 0].long())
            losses[name] = losses.get(name, 0) + value
        return losses, shared

    def predict(self, feats: Sequence[Tensor], data_samples: list,
                dataset: str) -> list:
        """Set ``seg_logits`` and ``pred_sem_seg`` (C, H, W) at each
        sample's original size."""
        logits = self.forward(feats, dataset)
        batch_shape = data_samples[0].metainfo.get('batch_input_shape') or \
            data_samples[0].metainfo['img_shape']
        logits = F.interpolate(
            logits,
            size=tuple(batch_shape),
            mode='bilinear',
            align_corners=self.align_corners)
        for logit, sample in zip(logits, data_samples):
            # the image part of the input (letterbox / batch padding off)
            height, width = image_extent(sample.metainfo)
            logit = logit[:, :height, :width]
            ori_shape = tuple(
                sample.metainfo.get('ori_shape', (height, width)))
            logit = F.interpolate(
                logit[None],
                size=ori_shape[:2],
                mode='bilinear',
                align_corners=self.align_corners)[0]
            sample.seg_logits = PixelData(data=logit)
            sample.pred_sem_seg = PixelData(
                data=(logit.sigmoid() > self.threshold).to(torch.uint8))
        return data_samples

    def consistency_features(self, feats: Sequence[Tensor], data_samples,
                             dataset: str) -> dict:
        return self.forward_features(feats)


@MODELS.register_module()
class MultiDatasetUPerHead(UPerHead, MultiDatasetSegHead):
    """UperNet decoder shared by all datasets, one conv head per dataset.

    mmseg's :class:`UPerHead` computes the fused feature map in
    ``_forward_feature`` (PPM on the last stage + FPN fuse); the heads are
    :class:`MultiDatasetSegHead`'s.

    Args:
        datasets (dict): ``{dataset: num_mask_channels}``.
        pool_scales (tuple[int]): PPM bins.
        **kwargs: :class:`MultiDatasetSegHead` and :class:`UPerHead`
            arguments (in_channels, in_index, channels, norm_cfg,
            align_corners, seg_kernel_size, threshold, loss_decode ...).
    """

    # UPerHead.forward (one conv_seg) comes first in the bases
    forward = MultiDatasetSegHead.forward

    def __init__(self, datasets: Dict[str, int], **kwargs) -> None:
        super().__init__(datasets=datasets, **kwargs)
        self.build_dataset_heads()
        self._psp_out = None
        # The PSP output (the "bottleneck" after pooling) is a consistency
        # feature; a hook reads it without re-implementing the forward.
        self.bottleneck.register_forward_hook(self._keep_psp_output)

    def _keep_psp_output(self, module, inputs, output) -> None:
        self._psp_out = output

    def forward_features(self, feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        fused = self._forward_feature(list(feats))
        psp, self._psp_out = self._psp_out, None
        return dict(fused=fused, psp=psp)
