# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook

from fx_mm.registry import HOOKS
from fx_mm.structures.slot_phase import current_slot_phase

_CLIP_FUNCS = dict(
    norm=(torch.nn.utils.clip_grad_norm_, 'grad_norm'),
    value=(torch.nn.utils.clip_grad_value_, 'grad_value'))


@HOOKS.register_module()
class TaskGradClipHook(Hook):
    """Gradient clipping chosen by the slot's task (paper: loc 0.1).

    Sets the optimizer wrapper's clipping arguments before each iteration;
    tasks not listed are not clipped.

    Args:
        clip_grad (dict): ``{task: dict(max_norm=..., type='norm')}``.
    """

    priority = 'HIGH'

    def __init__(self, clip_grad: Dict[str, dict]) -> None:
        self.clip_grad = {k: dict(v) for k, v in clip_grad.items()}

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        task = current_slot_phase(runner, type(self).__name__).task
        optim_wrapper = runner.optim_wrapper
        cfg = dict(self.clip_grad.get(task) or {})
        if not cfg:
            optim_wrapper.clip_grad_kwargs = None
            return
        clip_type = cfg.pop('type', 'norm')
        optim_wrapper.clip_func, optim_wrapper.grad_name = \
            _CLIP_FUNCS[clip_type]
        optim_wrapper.clip_grad_kwargs = cfg
