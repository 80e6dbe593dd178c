# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Dict, Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from fx_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS
from fx_mm.utils.model_wrappers import unwrap_model


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FXOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer over the student only, lr by module x decay by kind.

    mmengine's ``custom_keys`` set lr and decay together and, once a key
    matches, skip the norm/bias decay rules; the paper needs both at once
    (backbone lr 1e-5 AND no decay on its norms). So mmengine builds the
    per-parameter groups with the decay rules (``norm_decay_mult``,
    ``custom_keys`` for embeddings), then this constructor multiplies each
    group's lr by ``lr_mults`` of the longest matching name prefix.

    The teacher is never optimised. Every student parameter must be
    trainable when the optimizer is built (mmengine would silently leave a
    frozen one out forever): freeze later, with :class:`LockReleaseHook`.
    The exception are the model's ``frozen_modules`` (frozen for the whole
    run, e.g. a head-only finetune): their parameters are left out of the
    optimizer.

    ``paramwise_cfg`` accepts mmengine's keys plus
    ``lr_mults=dict(backbone=0.1, cls_branch=0.1)`` (prefixes of the
    student's parameter names).
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        self.lr_mults: Dict[str,
                            float] = dict(paramwise_cfg.pop('lr_mults', {}))
        # per-parameter groups are needed to give each its own lr
        paramwise_cfg.setdefault('norm_decay_mult', 0.0)
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def lr_mult(self, name: str) -> float:
        matches = [
            p for p in self.lr_mults if name == p or name.startswith(p + '.')
        ]
        return self.lr_mults[max(matches, key=len)] if matches else 1.0

    def __call__(self, model: nn.Module) -> OptimWrapper:
        model = unwrap_model(model)
        student = getattr(model, 'student', model)
        kept_frozen = {
            id(p)
            for p in (model.frozen_parameters(
            ) if hasattr(model, 'frozen_parameters') else ())
        }
        frozen = [
            n for n, p in student.named_parameters()
            if not p.requires_grad and id(p) not in kept_frozen
        ]
        if frozen:
            raise ValueError(
                f'{len(frozen)} student parameters are frozen when the '
                f'optimizer is built (first: {frozen[:3]}); they would never '
                'be trained. Build the optimizer with everything trainable '
                'and freeze per phase with LockReleaseHook, or list the '
                "module in the model's frozen_modules.")
        optim_wrapper = super().__call__(student)
        if kept_frozen:
            # mmengine adds frozen parameters as groups of their own
            groups = optim_wrapper.optimizer.param_groups
            groups[:] = [
                g for g in groups if any(p.requires_grad for p in g['params'])
            ]
        names = {id(p): n for n, p in student.named_parameters()}
        for group in optim_wrapper.optimizer.param_groups:
            mults = {self.lr_mult(names[id(p)]) for p in group['params']}
            if len(mults) > 1:
                raise RuntimeError('a parameter group mixes lr multipliers; '
                                   'paramwise_cfg must give one group per '
                                   'parameter')
            group['lr'] = group['lr'] * mults.pop()
        return optim_wrapper
