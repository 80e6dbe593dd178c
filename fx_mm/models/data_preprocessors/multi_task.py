# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.model import BaseDataPreprocessor

from fx_mm.registry import MODELS
from ..task_branches.builder import build_in_scope

_TASK_PREPROCESSORS = dict(
    cls=('ClsDataPreprocessor', 'mmpretrain'),
    loc=('DetDataPreprocessor', 'mmdet'),
    seg=('SegDataPreProcessor', 'mmseg'))


@MODELS.register_module()
class MultiTaskDataPreprocessor(BaseDataPreprocessor):
    """Normalise, pad and batch by delegating to each library's own
    preprocessor, chosen by the batch's task.

    - cls: mmpretrain ``ClsDataPreprocessor`` (stacks ``gt_score``);
    - loc: mmdet ``DetDataPreprocessor`` (pads to ``pad_size_divisor``, sets
      ``batch_input_shape`` / ``pad_shape`` used by DINO's masks);
    - seg: mmseg ``SegDataPreProcessor`` (pads image and the (C, H, W) mask
      stack; ``seg_pad_val=0`` because channels are binary, not labels).

    Args:
        mean, std (Sequence[float]): Per-channel normalisation (a grayscale
            CXR replicated to 3 channels uses the 3-channel values of the
            pretrained backbone; a 1-channel stem uses one value).
        pad_size_divisor (int): Pad H and W to a multiple of this.
        cls, loc, seg (dict, optional): Extra arguments of each library's
            preprocessor (e.g. ``batch_augments``).
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 pad_size_divisor: int = 32,
                 cls: Optional[dict] = None,
                 loc: Optional[dict] = None,
                 seg: Optional[dict] = None) -> None:
        super().__init__()
        common = dict(mean=list(mean), std=list(std))
        extra = dict(cls=cls or {}, loc=loc or {}, seg=seg or {})
        per_task = dict(
            cls=dict(common, **extra['cls']),
            loc=dict(
                common,
                pad_size_divisor=pad_size_divisor,
                bgr_to_rgb=False,
                **extra['loc']),
            seg=dict(
                common,
                size_divisor=pad_size_divisor,
                pad_val=0,
                seg_pad_val=0,
                bgr_to_rgb=False,
                **extra['seg']))
        self.task_preprocessors = nn.ModuleDict({
            task: build_in_scope(dict(type=type_name, **per_task[task]),
                                 scope)
            for task, (type_name, scope) in _TASK_PREPROCESSORS.items()
        })

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data.get('data_samples')
        if not samples:
            raise ValueError('MultiTaskDataPreprocessor: the batch has no '
                             'data_samples to tell its task')
        task = samples[0].metainfo.get('task')
        if task not in self.task_preprocessors:
            path = samples[0].metainfo.get('img_path')
            raise ValueError(f'MultiTaskDataPreprocessor: unknown task '
                             f'{task!r} in {path}')
        return self.task_preprocessors[task](data, training)
