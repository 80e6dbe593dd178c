# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert Swin Transformer (v1) checkpoints to mmdet's ``SwinTransformer``.

fx_mm's backbone is :class:`mmdet.models.backbones.SwinTransformer`. Its own
parameter names are::

    patch_embed.projection.{weight,bias}     patch_embed.norm.{weight,bias}
    stages.{i}.blocks.{j}.norm{1,2}.{weight,bias}
    stages.{i}.blocks.{j}.attn.w_msa.{qkv,proj}.{weight,bias}
    stages.{i}.blocks.{j}.attn.w_msa.relative_position_bias_table
    stages.{i}.blocks.{j}.ffn.layers.0.0.{weight,bias}    (fc1)
    stages.{i}.blocks.{j}.ffn.layers.1.{weight,bias}      (fc2)
    stages.{i}.downsample.{reduction.weight,norm.weight,norm.bias}
    norm{i}.{weight,bias}                    (one per output stage)

Three foreign namings are recognised by their keys:

- ``openmmlab``: mmpretrain / mmdet / mmseg Swin, whole-model checkpoints
  with a ``backbone.`` prefix (the other parts of the model are dropped) or
  bare backbones. mmpretrain's patch merging is the same ``nn.Unfold`` as
  mmdet's, so only the prefix and mmpretrain's old final ``norm.`` change.
- ``timm``: timm and the original Microsoft repository
  (``layers.{i}.blocks.{j}.attn.qkv``, ``mlp.fc1``, ``patch_embed.proj``,
  final ``norm.``). The original repository and timm < 0.9 put the patch
  merging at the END of ``layers.{i}``; timm >= 0.9 puts it at the START of
  ``layers.{i}`` (i >= 1). Which one a checkpoint uses is read from the
  shapes: a merging layer maps the width of stage ``s`` to that of ``s + 1``.
  The original detection repository (Swin-Det) adds one output norm per
  stage, ``norm{i}``, named as mmdet names them.
- ``torchvision``: ``torchvision.models.swin_{t,s,b}`` (``features.0.0``
  patch conv, ``features.0.2`` its norm, ``features.{1,3,5,7}.{j}`` blocks,
  ``features.{2,4,6}`` patch merging, final ``norm.``).

The non-OpenMMLab patch mergings concatenate the four pixels of each 2x2
neighbourhood as ``[x(0,0), x(1,0), x(0,1), x(1,1)]`` (``(dy, dx)``), i.e.
feature ``(2 * dx + dy) * C + c``; mmdet's ``nn.Unfold`` orders them
``c * 4 + 2 * dy + dx``. The merging's ``norm`` and the input side of its
``reduction`` are permuted accordingly.

``relative_position_index`` buffers (and the ``attn_mask`` buffers of old
checkpoints) are not converted: they are functions of the window size that
the target model computes itself. ``relative_position_bias_table`` is kept;
:func:`~.swin_adapt.adapt_swin_state_dict` resizes it (and the absolute
position embedding, and the patch embedding's input channels) for a target
model of another window size, resolution or number of input channels.
"""
import re
from collections import OrderedDict
from typing import (Callable, Dict, List, Mapping, Optional, Pattern, Sequence,
                    Tuple)

from torch import Tensor

# a rule: (full-match pattern, new key from the match (None: unknown key),
# value transform or None)
_Rule = Tuple[Pattern, Callable[[re.Match], Optional[str]],
              Optional[Callable[[Tensor], Tensor]]]

# maps a rule's match to mmdet's stage index (None: the key is unknown)
_StageFn = Callable[[re.Match], Optional[int]]

# keys that are dropped in every naming: derived buffers, classifier heads
_SKIPPED = re.compile(r'(.*\.)?(relative_position_index|attn_mask)'
                      r'|head\..*')

# the key grammar of mmdet's SwinTransformer
_MMDET_KEYS = re.compile(
    r'patch_embed\.(projection|norm)\.(weight|bias)'
    r'|absolute_pos_embed'
    r'|stages\.\d+\.blocks\.\d+\.('
    r'norm[12]\.(weight|bias)'
    r'|attn\.w_msa\.(qkv|proj)\.(weight|bias)'
    r'|attn\.w_msa\.relative_position_bias_table'
    r'|ffn\.layers\.(0\.0|1)\.(weight|bias))'
    r'|stages\.\d+\.downsample\.(reduction\.weight|norm\.(weight|bias))'
    r'|norm\d+\.(weight|bias)')

SWIN_FORMATS = ('openmmlab', 'timm', 'torchvision')


def concat_to_unfold_order(x: Tensor) -> Tensor:
    """Reorder a patch-merging feature axis from concat to unfold order.

    Args:
        x (Tensor): The merging ``norm`` weight / bias, shape (4 * C, ), or
            its ``reduction`` weight, shape (out_channels, 4 * C). The last
            axis is in concat order: index ``(2 * dx + dy) * C + c``.

    Returns:
        Tensor: Same shape, last axis in ``nn.Unfold`` order:
        index ``c * 4 + 2 * dy + dx``.
    """
    lead = x.shape[:-1]
    channels = x.shape[-1] // 4
    n = len(lead)
    # [..., (dx, dy, C)] -> [..., (C, dy, dx)]
    x = x.reshape(*lead, 2, 2, channels)
    x = x.permute(*range(n), n + 2, n + 1, n)
    return x.reshape(*lead, 4 * channels).contiguous()


def detect_swin_format(state_dict: Mapping[str, Tensor]) -> str:
    """Tell which naming a Swin state dict uses.

    Args:
        state_dict (Mapping[str, Tensor]): Parameters, without a
            ``module.`` prefix.

    Returns:
        str: One of :data:`SWIN_FORMATS`.

    Raises:
        ValueError: The keys match none of them.
    """
    keys = list(state_dict)
    if any(k.startswith('features.') for k in keys):
        return 'torchvision'
    if any(k.startswith('layers.') for k in keys):
        return 'timm'
    if any(k.startswith(('stages.', 'backbone.stages.')) for k in keys):
        return 'openmmlab'
    raise ValueError(
        'not a Swin Transformer checkpoint in a known naming (openmmlab: '
        "'stages.*' / 'backbone.stages.*', timm: 'layers.*', torchvision: "
        f"'features.*'); its first keys are {keys[:5]}")


def _last_stage(keys: Sequence[str], pattern: str) -> int:
    """The highest stage index captured by ``pattern`` in ``keys``."""
    found = [
        int(m.group(1)) for m in map(re.compile(pattern).match, keys) if m
    ]
    if not found:
        raise ValueError(f'no Swin stages ({pattern!r}) in the checkpoint')
    return max(found)


def _apply_rules(state_dict: Mapping[str, Tensor], rules: List[_Rule],
                 fmt: str, source: str) -> 'OrderedDict[str, Tensor]':
    """Rename every key by the first matching rule; collect unknown keys."""
    converted: 'OrderedDict[str, Tensor]' = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        if _SKIPPED.fullmatch(key):
            continue
        target = None
        for pattern, new_key, transform in rules:
            match = pattern.fullmatch(key)
            if match is not None:
                target = new_key(match)
                break
        if target is None:
            unknown.append(key)
        else:
            converted[target] = transform(value) if transform else value
    if unknown:
        raise KeyError(
            f'{source}: {len(unknown)} key(s) of this {fmt} Swin checkpoint '
            "have no counterpart in mmdet's SwinTransformer: "
            f'{unknown[:20]}{" ..." if len(unknown) > 20 else ""}. If they '
            'belong to other modules of the checkpoint, drop them with '
            'ignore_prefixes=(...).')
    return converted


def _rule(pattern: str,
          new_key: Callable[[re.Match], Optional[str]],
          transform: Optional[Callable[[Tensor], Tensor]] = None) -> _Rule:
    return re.compile(pattern), new_key, transform


def _block_rules(prefix: str, stage: _StageFn, fc1: str,
                 fc2: str) -> List[_Rule]:
    """Rules for the transformer blocks of timm and torchvision.

    ``prefix`` captures (stage-ish index, block index); ``stage`` maps the
    match to mmdet's stage index (None: not a block).
    """

    def block(m: re.Match, tail: str) -> Optional[str]:
        s = stage(m)
        return None if s is None else f'stages.{s}.blocks.{m.group(2)}.{tail}'

    return [
        _rule(prefix + r'(norm[12])\.(weight|bias)',
              lambda m: block(m, f'{m.group(3)}.{m.group(4)}')),
        _rule(prefix + r'attn\.(qkv|proj)\.(weight|bias)',
              lambda m: block(m, f'attn.w_msa.{m.group(3)}.{m.group(4)}')),
        _rule(prefix + r'attn\.relative_position_bias_table',
              lambda m: block(m, 'attn.w_msa.relative_position_bias_table')),
        _rule(prefix + fc1 + r'\.(weight|bias)',
              lambda m: block(m, f'ffn.layers.0.0.{m.group(3)}')),
        _rule(prefix + fc2 + r'\.(weight|bias)',
              lambda m: block(m, f'ffn.layers.1.{m.group(3)}')),
    ]


def _merging_rules(prefix: str, stage: _StageFn) -> List[_Rule]:
    """Rules for concat-order patch merging layers (permuted)."""

    def merge(m: re.Match, tail: str) -> Optional[str]:
        s = stage(m)
        return None if s is None else f'stages.{s}.downsample.{tail}'

    return [
        _rule(prefix + r'reduction\.weight',
              lambda m: merge(m, 'reduction.weight'), concat_to_unfold_order),
        _rule(prefix + r'norm\.(weight|bias)',
              lambda m: merge(m, f'norm.{m.group(2)}'),
              concat_to_unfold_order),
    ]


def _timm_merging_stages(state_dict: Mapping[str, Tensor],
                         source: str) -> Dict[int, int]:
    """Map timm ``layers.{i}.downsample`` to the mmdet stage it ends."""
    stages = {}
    for key, weight in state_dict.items():
        m = re.fullmatch(r'layers\.(\d+)\.downsample\.reduction\.weight', key)
        if m is None:
            continue
        layer = int(m.group(1))
        norm1 = state_dict.get(f'layers.{layer}.blocks.0.norm1.weight')
        if norm1 is None:
            raise KeyError(f'{source}: {key} has no blocks in layers.{layer} '
                           'to tell where the patch merging sits')
        width = norm1.shape[0]
        if weight.shape[1] == 4 * width:
            # after the blocks: the original repository and timm < 0.9
            stages[layer] = layer
        elif weight.shape[0] == width and layer > 0:
            # before the blocks: timm >= 0.9
            stages[layer] = layer - 1
        else:
            raise ValueError(
                f'{source}: {key} has shape {tuple(weight.shape)}, which fits '
                f'neither end of layers.{layer} (block width {width})')
    return stages


def _from_timm(state_dict: Mapping[str, Tensor],
               source: str) -> 'OrderedDict[str, Tensor]':
    last = _last_stage(list(state_dict), r'layers\.(\d+)\.blocks\.')
    merging = _timm_merging_stages(state_dict, source)
    rules = [
        _rule(r'patch_embed\.proj\.(weight|bias)',
              lambda m: f'patch_embed.projection.{m.group(1)}'),
        _rule(r'patch_embed\.norm\.(weight|bias)', lambda m: m.group(0)),
        _rule(r'absolute_pos_embed', lambda m: m.group(0)),
        _rule(r'norm\.(weight|bias)', lambda m: f'norm{last}.{m.group(1)}'),
        # Swin-Det (the original detection repository): one output norm
        # per stage, named as mmdet names them
        _rule(r'norm\d\.(weight|bias)', lambda m: m.group(0)),
    ]
    rules += _block_rules(r'layers\.(\d+)\.blocks\.(\d+)\.',
                          lambda m: int(m.group(1)), 'mlp.fc1', 'mlp.fc2')
    rules += _merging_rules(r'layers\.(\d+)\.downsample\.',
                            lambda m: merging.get(int(m.group(1))))
    return _apply_rules(state_dict, rules, 'timm', source)


def _from_torchvision(state_dict: Mapping[str, Tensor],
                      source: str) -> 'OrderedDict[str, Tensor]':
    # features: 0 patch embed, 1 stage 0, 2 merging, 3 stage 1, ...
    last = (_last_stage(list(state_dict), r'features\.(\d+)\.\d+\.norm1\.') -
            1) // 2

    def block_stage(m: re.Match) -> Optional[int]:
        n = int(m.group(1))
        return (n - 1) // 2 if n % 2 == 1 else None

    def merging_stage(m: re.Match) -> Optional[int]:
        n = int(m.group(1))
        return n // 2 - 1 if n % 2 == 0 and n > 0 else None

    rules = [
        _rule(r'features\.0\.0\.(weight|bias)',
              lambda m: f'patch_embed.projection.{m.group(1)}'),
        _rule(r'features\.0\.2\.(weight|bias)',
              lambda m: f'patch_embed.norm.{m.group(1)}'),
        _rule(r'norm\.(weight|bias)', lambda m: f'norm{last}.{m.group(1)}'),
    ]
    rules += _block_rules(r'features\.(\d+)\.(\d+)\.', block_stage, 'mlp.0',
                          'mlp.3')
    rules += _merging_rules(r'features\.(\d+)\.', merging_stage)
    return _apply_rules(state_dict, rules, 'torchvision', source)


def _from_openmmlab(state_dict: Mapping[str, Tensor],
                    source: str) -> 'OrderedDict[str, Tensor]':
    if any(k.startswith('backbone.') for k in state_dict):
        # a whole-model checkpoint: neck / heads belong to that model
        state_dict = OrderedDict((k[len('backbone.'):], v)
                                 for k, v in state_dict.items()
                                 if k.startswith('backbone.'))
    last = _last_stage(list(state_dict), r'stages\.(\d+)\.')
    rules = [
        # mmpretrain < 1.0 named the final norm 'norm.'
        _rule(r'norm\.(weight|bias)', lambda m: f'norm{last}.{m.group(1)}'),
        _rule(_MMDET_KEYS.pattern, lambda m: m.group(0)),
    ]
    return _apply_rules(state_dict, rules, 'openmmlab', source)


_CONVERTERS = dict(
    openmmlab=_from_openmmlab, timm=_from_timm, torchvision=_from_torchvision)

# names a user may give for a naming (``source=``)
_FORMAT_ALIASES = dict(
    auto='auto',
    openmmlab='openmmlab',
    mmpretrain='openmmlab',
    mmdet='openmmlab',
    mmseg='openmmlab',
    timm='timm',
    microsoft='timm',
    torchvision='torchvision')


def _resolve_format(fmt: str) -> str:
    if fmt not in _FORMAT_ALIASES:
        raise ValueError(f'unknown Swin checkpoint naming {fmt!r}; expected '
                         f'one of {sorted(_FORMAT_ALIASES)}')
    return _FORMAT_ALIASES[fmt]


def convert_swin_checkpoint(checkpoint: Mapping,
                            ignore_prefixes: Sequence[str] = (),
                            source: str = 'Swin checkpoint',
                            fmt: str = 'auto') -> 'OrderedDict[str, Tensor]':
    """Convert a Swin v1 checkpoint to mmdet ``SwinTransformer`` keys.

    Args:
        checkpoint (Mapping): A state dict, or a checkpoint dict holding it
            under ``'state_dict'`` or ``'model'``. A ``module.`` prefix on
            every key (DDP) is removed.
        ignore_prefixes (Sequence[str]): Keys starting with one of these are
            dropped before conversion (extra heads or projectors of the
            pretraining model). Classifier ``head.*`` keys are always
            dropped. Defaults to ().
        source (str): Name of the checkpoint (file path) used in error
            messages. Defaults to ``'Swin checkpoint'``.
        fmt (str): The naming: ``'auto'`` (read from the keys),
            ``'openmmlab'`` (aliases ``'mmpretrain'``, ``'mmdet'``,
            ``'mmseg'``), ``'timm'`` (alias ``'microsoft'``) or
            ``'torchvision'``. A given naming that the keys contradict is an
            error. Defaults to ``'auto'``.

    Returns:
        OrderedDict[str, Tensor]: Parameters named as mmdet's
        ``SwinTransformer`` names them (no ``backbone.`` prefix), without the
        ``relative_position_index`` buffers.

    Raises:
        ValueError: The naming is not recognised (or not the given one), or
            a patch merging layer does not fit its stage.
        KeyError: Some keys cannot be mapped; the message lists them.
    """
    wanted = _resolve_format(fmt)
    state_dict = checkpoint
    for wrapper in ('state_dict', 'model'):
        if isinstance(state_dict.get(wrapper), Mapping):
            state_dict = state_dict[wrapper]
            break
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = OrderedDict(
            (k[len('module.'):], v) for k, v in state_dict.items())
    state_dict = OrderedDict((k, v) for k, v in state_dict.items()
                             if not k.startswith(tuple(ignore_prefixes)))
    try:
        detected = detect_swin_format(state_dict)
    except ValueError as err:
        raise ValueError(f'{source}: {err}') from None
    if wanted not in ('auto', detected):
        raise ValueError(
            f'{source}: source={fmt!r} was given but the keys use the '
            f'{detected} naming (first keys: {list(state_dict)[:3]})')
    return _CONVERTERS[detected](state_dict, source)


def load_swin_checkpoint(
        filename: str,
        ignore_prefixes: Sequence[str] = (),
        allow_unsafe_pickle: bool = False,
        fmt: str = 'auto',
        prefix: Optional[str] = None,
        checkpoint_key: Optional[str] = None) -> 'OrderedDict[str, Tensor]':
    """Load a Swin checkpoint file and convert it to mmdet's naming.

    The file is read by :func:`fx_mm.utils.load_fx_checkpoint`
    (``weights_only=True`` with fx_mm's allow-list).

    Args:
        filename (str): Local checkpoint path.
        ignore_prefixes (Sequence[str]): See
            :func:`convert_swin_checkpoint`. Defaults to ().
        allow_unsafe_pickle (bool): Unpickle arbitrary objects (trusted
            files only). Defaults to False.
        fmt (str): See :func:`convert_swin_checkpoint`. Defaults to
            ``'auto'``.
        prefix (str, optional): Keep only the keys under this prefix and
            strip it, e.g. ``'teacher.backbone.'`` to take the backbone of an
            fx_mm checkpoint. Defaults to None.
        checkpoint_key (str, optional): The entry of the checkpoint dict
            that holds the state dict, e.g. ``'teacher'`` for Ark
            checkpoints. Defaults to None: ``'state_dict'``, ``'model'`` or
            the dict itself.

    Returns:
        OrderedDict[str, Tensor]: The converted state dict.
    """
    from fx_mm.utils import load_fx_checkpoint
    checkpoint = load_fx_checkpoint(
        filename, map_location='cpu', allow_unsafe_pickle=allow_unsafe_pickle)
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'{filename}: expected a dict of tensors, got '
                        f'{type(checkpoint).__name__}')
    if checkpoint_key is not None:
        if not isinstance(checkpoint.get(checkpoint_key), Mapping):
            raise KeyError(f'{filename}: no state dict under '
                           f'{checkpoint_key!r}; its entries are '
                           f'{list(checkpoint)[:10]}')
        checkpoint = checkpoint[checkpoint_key]
    if prefix:
        state_dict = checkpoint
        for wrapper in ('state_dict', 'model'):
            if isinstance(state_dict.get(wrapper), Mapping):
                state_dict = state_dict[wrapper]
                break
        checkpoint = OrderedDict((k[len(prefix):], v)
                                 for k, v in state_dict.items()
                                 if k.startswith(prefix))
        if not checkpoint:
            raise KeyError(f'{filename}: no key starts with {prefix!r} '
                           f'(first keys: {list(state_dict)[:5]})')
    return convert_swin_checkpoint(
        checkpoint, ignore_prefixes=ignore_prefixes, source=filename, fmt=fmt)
