# Copyright (c) fx_mm contributors. All rights reserved.
"""Parameter counts per component and single-task forwards of a
:class:`~fx_mm.models.FoundationXNet`, for ``get_flops.py`` (which imports
this module from its folder)."""
import warnings
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from torch import Tensor


def _numel(params) -> int:
    return sum(p.numel() for p in params)


def parameter_breakdown(net: nn.Module) -> List[Tuple[str, int]]:
    """Parameters of each component of a FoundationXNet.

    Rows, in order: ``backbone``; for each configured branch its shared part
    (``cls_branch.shared``: pooling neck; ``loc_branch.shared``: neck,
    level embedding and deformable encoder; ``seg_branch.shared``: the
    UperNet decoder) and one row per dataset head (``cls_branch.heads.X``,
    ``loc_branch.decoders.X``, ``seg_branch.conv_segs.X``); finally
    ``total``, which equals ``sum(p.numel() for p in net.parameters())``.

    Args:
        net (nn.Module): A :class:`FoundationXNet` (for
            :class:`FoundationX`, pass ``model.student``).

    Returns:
        list[tuple[str, int]]: (component, number of parameters).
    """
    rows = [('backbone', _numel(net.backbone.parameters()))]
    for attr in ('cls_branch', 'loc_branch', 'seg_branch'):
        branch = getattr(net, attr, None)
        if branch is None:
            continue
        rows.append((f'{attr}.shared', _numel(branch.shared_parameters())))
        for name in branch.datasets:
            rows.append((f'{attr}.{branch.dataset_container}.{name}',
                         _numel(
                             p for module in branch.dataset_modules(name)
                             for p in module.parameters())))
    counted = {'backbone', 'cls_branch', 'loc_branch', 'seg_branch'}
    other = _numel(p for name, module in net.named_children()
                   if name not in counted for p in module.parameters())
    if other:
        rows.append(('other', other))
    rows.append(('total', _numel(net.parameters())))
    return rows


class SingleTaskForward(nn.Module):
    """One (task, dataset) forward of a FoundationXNet on a tensor.

    The forward takes only the image batch, as FLOP counters and exporters
    need; data samples that the branches read (image shapes) are made from
    the input's shape.

    Outputs:
        - cls: logits (B, num_classes) of ``dataset``'s head;
        - seg: mask logits (B, C, H/4, W/4);
        - loc: (class scores, normalised cxcywh boxes) of the last decoder
          layer, (B, num_queries, num_classes) and (B, num_queries, 4).

    Args:
        net (nn.Module): A :class:`FoundationXNet`.
        task (str): ``'cls'``, ``'loc'`` or ``'seg'``.
        dataset (str): A dataset with a head in that branch.
    """

    def __init__(self, net: nn.Module, task: str, dataset: str) -> None:
        super().__init__()
        self.net = net
        self.task = task
        self.dataset = dataset
        net.branch(task).check_dataset(dataset)

    def _det_samples(self, inputs: Tensor) -> list:
        shape = tuple(inputs.shape[-2:])
        return [
            DetDataSample(
                metainfo=dict(
                    img_shape=shape,
                    batch_input_shape=shape,
                    pad_shape=shape,
                    ori_shape=shape,
                    scale_factor=(1., 1.))) for _ in range(inputs.shape[0])
        ]

    def forward(self, inputs: Tensor):
        feats = self.net.extract_feat(inputs)
        branch = self.net.branch(self.task)
        if self.task == 'cls':
            return branch(feats, self.dataset)
        if self.task == 'seg':
            return branch(feats, self.dataset)
        scores, boxes = branch(feats, self._det_samples(inputs), self.dataset)
        return scores[-1], boxes[-1]


@torch.no_grad()
def count_flops(net: nn.Module, task: str, dataset: str,
                shape: Tuple[int, int]) -> Tuple[int, Dict[str, int]]:
    """FLOPs of one forward of a 1-image batch of ``shape`` (H, W).

    Counted by mmengine's :class:`~mmengine.analysis.FlopAnalyzer` (what
    ``get_model_complexity_info`` uses; multiply-adds, fvcore convention),
    with its per-module warnings off.

    Returns:
        tuple: Total FLOPs and ``{operator: occurrences}`` of the traced
        operators the counter has no formula for (not counted), e.g. the
        ``grid_sampler`` of deformable attention.
    """
    from mmengine.analysis import FlopAnalyzer
    wrapper = SingleTaskForward(net, task, dataset).eval()
    inputs = torch.randn(1, 3, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # jit tracer warnings
        analyzer = FlopAnalyzer(wrapper, (inputs, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        total = int(analyzer.total())
        unsupported = dict(analyzer.unsupported_ops())
    return total, unsupported
