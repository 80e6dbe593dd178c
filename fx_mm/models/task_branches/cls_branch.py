# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Dict, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import ModuleDict
from torch import Tensor

from fx_mm.registry import MODELS
from ..layers import ChannelLayerNorm
from .base_branch import MultiDatasetBranch
from .builder import build_in_scope


def _head_spec(spec: Union[int, dict]) -> dict:
    spec = dict(num_classes=spec) if isinstance(spec, int) else dict(spec)
    spec.setdefault('multi_label', True)
    return spec


@MODELS.register_module()
class MultiDatasetClsBranch(MultiDatasetBranch):
    """Classification: pooled last-stage feature -> one linear head per
    dataset (mmpretrain heads).

    In the default architecture the backbone's last stage output is already
    layer-normalised (the Swin ``norm3``); with ``in_norm=True`` (the
    research-compatible architecture, whose backbone returns un-normalised
    stages) the branch normalises it itself. mmpretrain's
    ``GlobalAveragePooling`` pools it to (B, C). Multi-label heads are
    ``MultiLabelLinearClsHead`` trained with a masked BCE-with-logits
    (unknown labels, ``gt_label_mask == False``, give no loss); single-label
    heads (``multi_label=False``, e.g. RSNA) are ``LinearClsHead`` with
    softmax cross-entropy.

    Args:
        in_channels (int): Channels of the pooled feature (Swin-B: 1024).
        datasets (dict): ``{dataset: num_classes}`` or
            ``{dataset: dict(num_classes=N, multi_label=False)}``.
        in_index (int): Backbone output used. Defaults to -1.
        neck (dict): Pooling neck config. Defaults to mmpretrain's
            ``GlobalAveragePooling``.
        loss_weight (float): Weight of the classification loss.
        in_norm (bool): LayerNorm over the channels of the input feature
            before pooling (``in_norm``; research: ``backbone.0.norm``).
            Defaults to False.
    """

    task = 'cls'
    dataset_container = 'heads'

    def __init__(self,
                 in_channels: int,
                 datasets: Dict[str, Union[int, dict]],
                 in_index: int = -1,
                 neck: dict = dict(type='mmpretrain.GlobalAveragePooling'),
                 loss_weight: float = 1.0,
                 in_norm: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not datasets:
            raise ValueError('MultiDatasetClsBranch needs at least one '
                             'dataset in `datasets`')
        self.in_index = in_index
        self.loss_weight = loss_weight
        self.in_norm = ChannelLayerNorm(in_channels) if in_norm else None
        self.neck = build_in_scope(neck, 'mmpretrain')
        self.specs = {name: _head_spec(s) for name, s in datasets.items()}
        # mmengine's ModuleDict: BaseModule.init_weights reaches the heads
        # (a torch ModuleDict would stop it; the heads keep torch's init)
        self.heads = ModuleDict()
        for name, spec in self.specs.items():
            head_type = 'MultiLabelLinearClsHead' if spec['multi_label'] \
                else 'LinearClsHead'
            head_cfg = dict(
                type=head_type,
                num_classes=spec['num_classes'],
                in_channels=in_channels)
            if not spec['multi_label']:
                head_cfg['topk'] = (1, )
            self.heads[name] = build_in_scope(head_cfg, 'mmpretrain')

    def num_outputs(self, dataset: str) -> int:
        self.check_dataset(dataset)
        return int(self.specs[dataset]['num_classes'])

    def pool(self, feats: Sequence[Tensor]) -> Tensor:
        """Backbone features -> pooled feature (B, C)."""
        feat = feats[self.in_index]
        if self.in_norm is not None:
            feat = self.in_norm(feat)
        pooled = self.neck((feat, ))
        return pooled[-1]

    def forward(self, feats: Sequence[Tensor], dataset: str) -> Tensor:
        """Logits (B, num_classes) of ``dataset``'s head."""
        self.check_dataset(dataset)
        return self.heads[dataset]((self.pool(feats), ))

    def loss(self, feats: Sequence[Tensor], data_samples: list,
             dataset: str) -> Tuple[dict, dict]:
        """Return (losses, consistency features {'pooled': (B, C)})."""
        self.check_dataset(dataset)
        pooled = self.pool(feats)
        logits = self.heads[dataset]((pooled, ))
        target = torch.stack([s.gt_score for s in data_samples]).to(logits)
        if target.shape != logits.shape:
            raise ValueError(
                f'{dataset}: labels of shape {tuple(target.shape[1:])} but '
                f'the head predicts {logits.shape[1]} classes; check the '
                'dataset classes against the cls_branch config')
        if self.specs[dataset]['multi_label']:
            mask = torch.stack([
                s.gt_label_mask if 'gt_label_mask' in s else torch.ones_like(
                    s.gt_score, dtype=torch.bool) for s in data_samples
            ]).to(logits)
            loss = F.binary_cross_entropy_with_logits(
                logits, target, weight=mask,
                reduction='sum') / mask.sum().clamp(min=1.0)
        else:
            loss = F.cross_entropy(logits, target.argmax(dim=1))
        return dict(loss_cls=loss * self.loss_weight), dict(pooled=pooled)

    def predict(self, feats: Sequence[Tensor], data_samples: list,
                dataset: str) -> list:
        """Set ``pred_score`` (sigmoid or softmax) on the data samples."""
        self.check_dataset(dataset)
        return self.heads[dataset].predict((self.pool(feats), ), data_samples)

    def consistency_features(self, feats: Sequence[Tensor], data_samples,
                             dataset: str) -> dict:
        return dict(pooled=self.pool(feats))
