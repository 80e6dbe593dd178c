# Copyright (c) fx_mm contributors. All rights reserved.
"""Pretrained Swin backbones from LOCAL files, in any common naming.

A config asks for pretrained backbone weights the OpenMMLab way::

    backbone=dict(
        type='fx_mm.FXSwinTransformer', ...,
        init_cfg=dict(type='Pretrained', checkpoint='weights/ark6.pth'))

or with fx_mm's initializer, which takes more options::

    # an Ark checkpoint: timm names, the teacher's weights, extra heads
    init_cfg=dict(type='FXPretrainedSwin', checkpoint='weights/ark6.pth',
                  source='timm', checkpoint_key='teacher',
                  ignore_prefixes=('omni_heads.', 'projector.'),
                  strict=False)

mmdet's own ``SwinTransformer.init_weights`` would load only
``backbone.*`` keys of an mmdet/mmpretrain checkpoint (a bare backbone
checkpoint fails on an empty dict, timm/torchvision ones need a flag and
still miss patch-merging fixes), download URLs, and report nothing about
keys that did not match. :class:`FXSwinTransformer` (fx_mm's registered
subclass of mmdet's Swin) overrides that method: for the two init types
above, the backbone is first initialised from scratch as mmdet does, then

1. the file is read locally (a URL is an error: fx_mm never downloads);
2. the keys are converted from the mmpretrain/mmdet, timm/Microsoft or
   torchvision naming (:func:`convert_swin_checkpoint`), the patch-merging
   layers permuted where needed;
3. the weights are fitted to the model (window size, resolution, input
   channels: :func:`adapt_swin_state_dict`);
4. they are loaded and a report lists loaded, adapted, missing (left at
   their initial value) and unexpected (ignored) keys.

Other ``init_cfg`` values go to mmdet's method unchanged. In
:class:`~fx_mm.models.FoundationX` the teacher is a copy of the initialised
student, so it gets the same weights.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from mmdet.models.backbones import SwinTransformer
from mmengine.logging import print_log
from mmengine.model.weight_init import (constant_init, trunc_normal_,
                                        trunc_normal_init, update_init_info)

from fx_mm.registry import WEIGHT_INITIALIZERS
# the one local-only check of every checkpoint path (re-exported here)
from fx_mm.utils.checkpoint import check_local_checkpoint
from ..utils.swin_adapt import adapt_swin_state_dict
from ..utils.swin_converters import load_swin_checkpoint

# init types handled by fx_mm on mmdet's Swin
PRETRAINED_TYPES = ('Pretrained', 'FXPretrainedSwin')


def _index_buffer(key: str) -> bool:
    return key.endswith(('relative_position_index', 'attn_mask'))


def load_pretrained_swin(
        backbone: nn.Module,
        checkpoint: str,
        source: str = 'auto',
        prefix: Optional[str] = None,
        ignore_prefixes: Sequence[str] = (),
        strict: bool = False,
        allow_unsafe_pickle: bool = False,
        checkpoint_key: Optional[str] = None) -> Dict[str, list]:
    """Load a local Swin checkpoint of any known naming into mmdet's Swin.

    Args:
        backbone (nn.Module): An mmdet ``SwinTransformer``.
        checkpoint (str): Local file path.
        source (str): Naming of the checkpoint: ``'auto'``,
            ``'openmmlab'``/``'mmpretrain'``/``'mmdet'``, ``'timm'``/
            ``'microsoft'`` or ``'torchvision'``. Defaults to ``'auto'``.
        prefix (str, optional): Take only keys under this prefix, e.g.
            ``'teacher.backbone.'`` for an fx_mm checkpoint.
        ignore_prefixes (Sequence[str]): Drop these keys before conversion
            (projectors or heads of the pretraining model).
        strict (bool): Raise if any parameter of the backbone is not in the
            checkpoint or any checkpoint key is not in the backbone.
            Defaults to False (they are reported).
        allow_unsafe_pickle (bool): Unpickle arbitrary objects (trusted
            files only). Defaults to False.
        checkpoint_key (str, optional): Entry of the checkpoint holding the
            weights (e.g. ``'teacher'`` in Ark checkpoints). Defaults to
            ``'state_dict'`` / ``'model'`` / the dict itself.

    Returns:
        dict: ``loaded``, ``adapted``, ``missing`` and ``unexpected`` key
        lists.

    Raises:
        ValueError: Remote checkpoint, unknown naming, or shapes that cannot
            be fitted.
        KeyError: Nothing in the checkpoint is a weight of this backbone, or
            ``strict`` and keys differ.
    """
    path = check_local_checkpoint(checkpoint)
    converted = load_swin_checkpoint(
        path,
        ignore_prefixes=ignore_prefixes,
        allow_unsafe_pickle=allow_unsafe_pickle,
        fmt=source,
        prefix=prefix,
        checkpoint_key=checkpoint_key)
    target = backbone.state_dict()
    adapted, notes = adapt_swin_state_dict(converted, target, source=path)
    unexpected = [k for k in adapted if k not in target]
    missing = [k for k in target if k not in adapted and not _index_buffer(k)]
    loadable = OrderedDict((k, v) for k, v in adapted.items() if k in target)
    if not loadable:
        raise KeyError(
            f'{path}: none of its {len(converted)} converted keys is a '
            f'weight of this {type(backbone).__name__} (first: '
            f'{list(converted)[:5]}); is it a checkpoint of another model?')
    if strict and (missing or unexpected):
        raise KeyError(f'{path}: strict loading failed; missing in the '
                       f'checkpoint: {missing}; not in the model: '
                       f'{unexpected}')
    backbone.load_state_dict(loadable, strict=False)
    lines = [
        f'fx_mm: loaded {len(loadable)} backbone tensors from {path} '
        f'(source={source!r})'
    ]
    if notes:
        lines.append('  adapted to the model: ' + '; '.join(notes))
    if missing:
        lines.append(f'  missing in the checkpoint (kept at their initial '
                     f'value): {missing}')
    if unexpected:
        lines.append(f'  not in the model (ignored): {unexpected}')
    print_log('\n'.join(lines), logger='current')
    return dict(
        loaded=list(loadable),
        adapted=notes,
        missing=missing,
        unexpected=unexpected)


@WEIGHT_INITIALIZERS.register_module()
class FXPretrainedSwin:
    """Initializer: load a local Swin checkpoint of any naming.

    Applied to an mmdet ``SwinTransformer`` (set as its ``init_cfg``). See
    :func:`load_pretrained_swin` for the arguments.

    Args:
        checkpoint (str): Local file path.
        source (str): ``'auto'`` | ``'openmmlab'`` | ``'mmpretrain'`` |
            ``'mmdet'`` | ``'timm'`` | ``'microsoft'`` | ``'torchvision'``.
        prefix (str, optional): Key prefix to take and strip.
        ignore_prefixes (Sequence[str]): Keys to drop.
        strict (bool): Fail on missing / unexpected keys.
        allow_unsafe_pickle (bool): Trusted files only.
        checkpoint_key (str, optional): Entry holding the weights, e.g.
            ``'teacher'`` for Ark.
        map_location: Accepted for compatibility with ``Pretrained``;
            weights are always read to CPU.
    """

    def __init__(self,
                 checkpoint: str,
                 source: str = 'auto',
                 prefix: Optional[str] = None,
                 ignore_prefixes: Sequence[str] = (),
                 strict: bool = False,
                 allow_unsafe_pickle: bool = False,
                 checkpoint_key: Optional[str] = None,
                 map_location: str = 'cpu') -> None:
        self.checkpoint = check_local_checkpoint(checkpoint)
        self.source = source
        self.prefix = prefix
        self.ignore_prefixes = tuple(ignore_prefixes)
        self.strict = strict
        self.allow_unsafe_pickle = allow_unsafe_pickle
        self.checkpoint_key = checkpoint_key
        self.report: Optional[Dict[str, List[str]]] = None

    def __call__(self, module: nn.Module) -> None:
        self.report = load_pretrained_swin(
            module,
            self.checkpoint,
            source=self.source,
            prefix=self.prefix,
            ignore_prefixes=self.ignore_prefixes,
            strict=self.strict,
            allow_unsafe_pickle=self.allow_unsafe_pickle,
            checkpoint_key=self.checkpoint_key)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: load from {self.checkpoint}'


def init_swin_from_scratch(swin: SwinTransformer) -> None:
    """mmdet's from-scratch initialisation of its Swin (without the
    'no pretrained weights' warning)."""
    if swin.use_abs_pos_embed:
        trunc_normal_(swin.absolute_pos_embed, std=0.02)
    for m in swin.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_init(m, std=.02, bias=0.)
        elif isinstance(m, nn.LayerNorm):
            constant_init(m, 1.0)
