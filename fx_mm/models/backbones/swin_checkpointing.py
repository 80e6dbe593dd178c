# Copyright (c) fx_mm contributors. All rights reserved.
"""Non-reentrant gradient checkpointing for mmdet's Swin (``with_cp``).

mmdet 3.3's ``SwinBlock`` calls ``torch.utils.checkpoint.checkpoint``
without ``use_reentrant``, and torch 2.14 still defaults to the re-entrant
variant. With it, a checkpointed block whose INPUT needs no gradient (all
layers before it frozen) returns an output without ``grad_fn``, so its own
trainable weights silently get no gradient. fx_mm freezes and unfreezes
parts of the model per phase and per finetuning config, so it makes mmdet's
Swin use the non-reentrant variant, which has no such restriction.
"""
from functools import partial
from types import SimpleNamespace

import mmdet.models.backbones.swin as mmdet_swin
import torch.utils.checkpoint


def use_non_reentrant_checkpointing() -> None:
    """Point mmdet's Swin module at a non-reentrant ``checkpoint``."""
    mmdet_swin.cp = SimpleNamespace(
        checkpoint=partial(
            torch.utils.checkpoint.checkpoint, use_reentrant=False))


use_non_reentrant_checkpointing()
