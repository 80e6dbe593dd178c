# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert checkpoints of the Foundation X research code to fx_mm names.

The research model (jlianglab/Foundation_X, ``main.py`` with
``models/dino/dino_F6.py``, ``deformable_transformer_F6.py``,
``swin_transformer_CyclicSegmentation.py``) is an IDEA-DINO detector whose
Swin backbone also holds the classification and segmentation parts. Its
training checkpoints hold the student under ``'model'`` and the teacher
under ``'teacher_model'``. The key layout read here (see
``docs/checkpoints.md`` for the full table):

- backbone ``backbone.0.*`` in the Microsoft Swin-Det naming (timm-like
  ``layers.{i}``, patch merging at the end of a layer) with THREE sets of
  output norms: ``norm`` (classification, after stage 4), ``Locnorm{1-3}``
  (localization) and ``Segnorm{0-3}`` (segmentation). fx_mm's backbone has
  one set, ``norm{0-3}``; ``out_norms`` picks which research set fills it;
- classification heads ``backbone.0.classification_heads.{k}`` (Ark-style
  ``omni_heads.{k}`` also accepted), one ``Linear`` per dataset in the
  research order :data:`RESEARCH_CLS_ORDER`;
- localization: ``input_proj.{i}`` (neck), ``transformer.level_embed``,
  ``transformer.encoder.layers.{l}`` (shared); per dataset ``k`` in
  :data:`RESEARCH_LOC_ORDER`: ``transformer.decoder.{k}.*``,
  ``class_embed.{k}.{l}``, ``bbox_embed.{k}.{l}``,
  ``transformer.enc_out_{class,bbox}_embed.{k}``,
  ``transformer.enc_output{,_norm}.{k}``; shared by all datasets in the
  research code but per dataset in fx_mm (copied to each):
  ``transformer.tgt_embed`` and ``label_enc``. The research decoders all
  predict ``num_classes`` (14 in pre-training) classes whose index is the
  COCO ``category_id`` (1-based); fx_mm's head of a dataset with ``n``
  classes takes rows ``label_offset .. label_offset + n - 1``;
- segmentation: ``segmentation_PPN`` / ``segmentation_FPN`` /
  ``segmentation_heads.{k}``. This decoder is NOT converted: its layout
  (a PSP bottleneck back to the stage-4 width, 1x1 lateral convolutions with
  bias and no norm, one 3x3 smoothing conv shared by all levels) differs
  from mmseg's ``UPerHead`` that fx_mm uses, so no weight has a counterpart.

Unused research parameters (``bbox_embed_``/``class_embed_`` copies,
``transformer.enc_outputMem_LinearProjection``, the ImageNet ``head``) are
dropped and listed.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from torch import Tensor

from .swin_converters import convert_swin_checkpoint

# dataset order of the research code's heads (main.py: head_number /
# DetHead / segmentation head indices)
RESEARCH_CLS_ORDER = ('tbx11k', 'node21', 'candid_ptx', 'rsna_pneumonia',
                      'chestx_det', 'siim_acr', 'chexpert', 'nih_chestxray14',
                      'vindr_cxr', 'shenzhen', 'mimic_cxr')
RESEARCH_LOC_ORDER = ('tbx11k', 'node21', 'candid_ptx', 'rsna_pneumonia',
                      'chestx_det', 'siim_acr')

# which research norm fills fx_mm's norm{0..3}
OUT_NORM_SOURCES = dict(
    cls=('Segnorm0', 'Locnorm1', 'Locnorm2', 'norm'),
    loc=('Segnorm0', 'Locnorm1', 'Locnorm2', 'Locnorm3'),
    seg=('Segnorm0', 'Segnorm1', 'Segnorm2', 'Segnorm3'))

_Transform = Optional[Callable[[Tensor], Tensor]]

# research decoder / encoder layer -> mmdet layer
_ENCODER_LAYER = {
    'norm1': 'norms.0',
    'norm2': 'norms.1',
    'linear1': 'ffn.layers.0.0',
    'linear2': 'ffn.layers.1',
}
_DECODER_LAYER = {
    # IDEA DINO: self-attn -> norm2, cross-attn -> norm1, FFN -> norm3
    'norm2': 'norms.0',
    'norm1': 'norms.1',
    'norm3': 'norms.2',
    'linear1': 'ffn.layers.0.0',
    'linear2': 'ffn.layers.1',
    'self_attn.in_proj_weight': 'self_attn.attn.in_proj_weight',
    'self_attn.in_proj_bias': 'self_attn.attn.in_proj_bias',
    'self_attn.out_proj': 'self_attn.attn.out_proj',
}
_DEFORM_ATTN = ('sampling_offsets', 'attention_weights', 'value_proj',
                'output_proj')


def _rows(offset: int, count: int) -> Callable[[Tensor], Tensor]:
    """Take ``count`` class rows starting at ``offset``."""

    def take(value: Tensor) -> Tensor:
        if value.shape[0] < offset + count:
            raise ValueError(
                f'needs class rows {offset}..{offset + count - 1} but the '
                f'research tensor has {value.shape[0]}')
        return value[offset:offset + count].clone()

    return take


def _layer_key(table: Dict[str, str], rest: str) -> Optional[str]:
    """Map the part of a layer key after ``layers.{l}.``."""
    for old, new in table.items():
        if rest == old or rest.startswith(old + '.'):
            return new + rest[len(old):]
    for name in _DEFORM_ATTN:
        for attn in ('self_attn', 'cross_attn'):
            if rest.startswith(f'{attn}.{name}.'):
                return rest
    return None


def _mlp_key(branch: str, rest: str) -> Optional[str]:
    """IDEA's 3-layer ``MLP.layers.{j}`` -> mmdet's ``Sequential`` index
    ``2 * j`` (Linear, ReLU, Linear, ReLU, Linear)."""
    m = re.fullmatch(r'layers\.(\d)\.(weight|bias)', rest)
    return m and f'{branch}.{2 * int(m.group(1))}.{m.group(2)}'


def unwrap_research_checkpoint(checkpoint: Mapping,
                               which: str = 'teacher',
                               source: str = 'checkpoint') -> Dict:
    """The state dict of the teacher (``'teacher_model'``) or the student
    (``'model'``) of a research checkpoint, without ``module.``."""
    key = dict(teacher='teacher_model', student='model')[which]
    if key in checkpoint:
        state = checkpoint[key]
    elif which == 'student' and isinstance(
            checkpoint.get('state_dict'), Mapping):
        state = checkpoint['state_dict']
    elif all(hasattr(v, 'shape') for v in checkpoint.values()):
        state = checkpoint  # a bare state dict
    else:
        raise KeyError(f'{source}: no {key!r} entry (the research code '
                       "saves the student under 'model' and the teacher "
                       f"under 'teacher_model'); entries: {list(checkpoint)}")
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in state.items())


class _Mapper:
    """Collect (source key -> target keys) decisions and their reasons."""

    def __init__(self, target: Mapping[str, Tensor], source: str) -> None:
        self.target = target
        self.source = source
        self.converted: 'OrderedDict[str, Tensor]' = OrderedDict()
        self.origin: Dict[str, str] = {}
        self.dropped: List[Tuple[str, str]] = []

    def put(self,
            src_key: str,
            value: Tensor,
            dst_key: str,
            transform: _Transform = None) -> bool:
        if dst_key not in self.target:
            return False
        if transform is not None:
            try:
                value = transform(value)
            except ValueError as err:
                raise ValueError(f'{self.source}: {src_key} -> {dst_key}: '
                                 f'{err}') from None
        want = tuple(self.target[dst_key].shape)
        if tuple(value.shape) != want:
            raise ValueError(
                f'{self.source}: {src_key} has shape {tuple(value.shape)} '
                f'but fx_mm\'s {dst_key} has {want}; the fx_mm config does '
                'not match the research model')
        self.converted[dst_key] = value
        self.origin[dst_key] = src_key
        return True

    def drop(self, key: str, reason: str) -> None:
        self.dropped.append((key, reason))

    def map(self,
            src_key: str,
            value: Tensor,
            dst_key: Optional[str],
            transform: _Transform = None,
            reason: str = 'no counterpart in the fx_mm config') -> None:
        """``put`` or, when the target has no such key, ``drop``."""
        if dst_key is None or not self.put(src_key, value, dst_key, transform):
            self.drop(src_key, reason)


def _convert_backbone(state: Mapping[str, Tensor], mapper: _Mapper,
                      cls_order: Sequence[str], out_norms: str) -> None:
    body = OrderedDict((k[len('backbone.0.'):], v) for k, v in state.items()
                       if k.startswith('backbone.0.'))
    swin = OrderedDict()
    norms: Dict[str, Dict[str, Tensor]] = {}
    for key, value in body.items():
        head = re.fullmatch(
            r'(classification_heads|omni_heads)\.(\d+)\.(weight|bias)', key)
        norm = re.fullmatch(r'((?:Loc|Seg)?norm\d?)\.(weight|bias)', key)
        if head:
            index = int(head.group(2))
            dataset = cls_order[index] if index < len(cls_order) else None
            mapper.map(
                f'backbone.0.{key}',
                value,
                dataset and f'cls_branch.heads.{dataset}.fc.{head.group(3)}',
                reason=f'classification head {index} ({dataset}) is not in '
                'the fx_mm config')
        elif norm:
            norms.setdefault(norm.group(1), {})[norm.group(2)] = value
        elif key.startswith('segmentation_'):
            mapper.drop(
                f'backbone.0.{key}', 'research segmentation decoder: no '
                "counterpart in mmseg's UPerHead")
        elif key.startswith('head.'):
            mapper.drop(f'backbone.0.{key}', 'ImageNet classifier, unused')
        else:
            swin[key] = value
    for key, value in convert_swin_checkpoint(
            swin, source=mapper.source, fmt='timm').items():
        mapper.map(f'backbone.0.{key}', value, f'backbone.{key}')
    sources = OUT_NORM_SOURCES[out_norms]
    used = set()
    for level, name in enumerate(sources):
        if name not in norms:
            continue
        for param, value in norms[name].items():
            if mapper.put(f'backbone.0.{name}.{param}', value,
                          f'backbone.norm{level}.{param}'):
                used.add(name)
    for name in norms:
        if name not in used:
            for param in norms[name]:
                mapper.drop(
                    f'backbone.0.{name}.{param}',
                    f'output norm not chosen (out_norms={out_norms!r}: '
                    f'norm0-3 <- {", ".join(sources)})')


def _convert_loc(state: Mapping[str, Tensor], mapper: _Mapper,
                 loc_order: Sequence[str], label_offset: int) -> None:
    target = mapper.target
    datasets = {
        m.group(1)
        for m in (re.match(r'loc_branch\.decoders\.([^.]+)\.', k)
                  for k in target) if m
    }
    num_neck_convs = len({
        m.group(1)
        for m in (re.match(r'loc_branch\.neck\.convs\.(\d+)\.', k)
                  for k in target) if m
    })
    num_layers = len({
        m.group(2)
        for m in (re.match(
            r'loc_branch\.decoders\.([^.]+)\.decoder\.layers\.(\d+)\.', k)
                  for k in target) if m
    }) or None

    def num_classes(dataset: str) -> int:
        key = (f'loc_branch.decoders.{dataset}.dn_query_generator.'
               'label_embedding.weight')
        return target[key].shape[0]

    def dataset_of(index: str) -> Optional[str]:
        k = int(index)
        name = loc_order[k] if k < len(loc_order) else None
        return name if name in datasets else None

    for key, value in state.items():
        if key.startswith('backbone.0.'):
            continue
        m = re.fullmatch(r'input_proj\.(\d+)\.([01])\.(weight|bias)', key)
        if m:
            level, part, param = int(m.group(1)), m.group(2), m.group(3)
            conv = (f'loc_branch.neck.convs.{level}'
                    if level < num_neck_convs else
                    f'loc_branch.neck.extra_convs.{level - num_neck_convs}')
            dst = f'{conv}.conv.{param}' if part == '0' else \
                f'{conv}.gn.{param}'
            mapper.map(
                key,
                value,
                dst,
                reason='the fx_mm neck conv has no bias '
                '(ChannelMapper with GN; set bias=True in the neck config '
                'to keep it)' if part == '0' and param == 'bias' else
                'no such neck level in the fx_mm config')
            continue
        if key == 'transformer.level_embed':
            mapper.map(key, value, 'loc_branch.level_embed')
            continue
        m = re.fullmatch(r'transformer\.encoder\.layers\.(\d+)\.(.+)', key)
        if m:
            rest = _layer_key(_ENCODER_LAYER, m.group(2))
            mapper.map(
                key, value, rest
                and f'loc_branch.encoder.layers.{m.group(1)}.{rest}')
            continue
        if key == 'transformer.tgt_embed.weight' or key == 'label_enc.weight':
            # shared in the research code, per dataset in fx_mm
            done = False
            for dataset in sorted(datasets):
                if key == 'label_enc.weight':
                    done |= mapper.put(
                        key, value, f'loc_branch.decoders.{dataset}.'
                        'dn_query_generator.label_embedding.weight',
                        _rows(label_offset, num_classes(dataset)))
                else:
                    done |= mapper.put(
                        key, value,
                        f'loc_branch.decoders.{dataset}.query_embedding.'
                        'weight')
            if not done:
                mapper.drop(key, 'no localization decoder in the fx_mm '
                            'config')
            continue
        m = re.fullmatch(r'transformer\.decoder\.(\d+)\.(.+)', key)
        if m:
            dataset, rest = dataset_of(m.group(1)), m.group(2)
            if dataset is None:
                mapper.drop(
                    key, f'decoder {m.group(1)} is not in the fx_mm '
                    'config')
                continue
            prefix = f'loc_branch.decoders.{dataset}.decoder.'
            lm = re.fullmatch(r'layers\.(\d+)\.(.+)', rest)
            if rest.startswith(('bbox_embed.', 'class_embed.')):
                mapper.drop(key, 'alias of bbox_embed / class_embed')
            elif lm:
                new = _layer_key(_DECODER_LAYER, lm.group(2))
                mapper.map(key, value, new
                           and f'{prefix}layers.{lm.group(1)}.{new}')
            else:
                mapper.map(key, value, prefix + rest)
            continue
        m = re.fullmatch(r'(class_embed|bbox_embed)\.(\d+)\.(\d+)\.(.+)', key)
        if m:
            kind, dataset, layer, rest = m.group(1), dataset_of(
                m.group(2)), m.group(3), m.group(4)
            if dataset is None:
                mapper.drop(
                    key, f'decoder {m.group(2)} is not in the fx_mm '
                    'config')
                continue
            head = f'loc_branch.decoders.{dataset}.bbox_head.'
            if kind == 'class_embed':
                mapper.map(key, value, f'{head}cls_branches.{layer}.{rest}',
                           _rows(label_offset, num_classes(dataset)))
            else:
                mapper.map(key, value,
                           _mlp_key(f'{head}reg_branches.{layer}', rest))
            continue
        m = re.fullmatch(
            r'transformer\.(enc_out_class_embed|enc_out_bbox_embed|'
            r'enc_output|enc_output_norm)\.(\d+)\.(.+)', key)
        if m:
            kind, dataset, rest = m.group(1), dataset_of(
                m.group(2)), m.group(3)
            if dataset is None:
                mapper.drop(
                    key, f'decoder {m.group(2)} is not in the fx_mm '
                    'config')
                continue
            unit = f'loc_branch.decoders.{dataset}.'
            if kind == 'enc_out_class_embed':
                mapper.map(
                    key, value,
                    f'{unit}bbox_head.cls_branches.{num_layers}.{rest}',
                    _rows(label_offset, num_classes(dataset)))
            elif kind == 'enc_out_bbox_embed':
                mapper.map(
                    key, value,
                    _mlp_key(f'{unit}bbox_head.reg_branches.{num_layers}',
                             rest))
            elif kind == 'enc_output':
                mapper.map(key, value, f'{unit}memory_trans_fc.{rest}')
            else:
                mapper.map(key, value, f'{unit}memory_trans_norm.{rest}')
            continue
        if key.startswith(('bbox_embed_.', 'class_embed_.',
                           'transformer.enc_outputMem_LinearProjection.')):
            mapper.drop(key, 'unused by the research model')
            continue
        mapper.drop(key, 'no counterpart in fx_mm')


def convert_research_checkpoint(
        state: Mapping[str, Tensor],
        target: Mapping[str, Tensor],
        cls_order: Sequence[str] = RESEARCH_CLS_ORDER,
        loc_order: Sequence[str] = RESEARCH_LOC_ORDER,
        out_norms: str = 'cls',
        label_offset: int = 1,
        source: str = 'research checkpoint') -> Tuple[Dict, Dict]:
    """Convert a research-code state dict to FoundationXNet keys.

    Args:
        state (Mapping[str, Tensor]): The research model's state dict
            (see :func:`unwrap_research_checkpoint`).
        target (Mapping[str, Tensor]): ``state_dict()`` of the fx_mm
            :class:`FoundationXNet` to fill (gives names and shapes).
        cls_order (Sequence[str]): fx_mm dataset of each research
            classification head index. Defaults to
            :data:`RESEARCH_CLS_ORDER`.
        loc_order (Sequence[str]): fx_mm dataset of each research decoder
            index. Defaults to :data:`RESEARCH_LOC_ORDER`.
        out_norms (str): Which research output norms fill fx_mm's
            ``norm0-3``, see :data:`OUT_NORM_SOURCES`. ``'cls'`` keeps the
            classification path exact. Defaults to ``'cls'``.
        label_offset (int): Research class index of fx_mm's class 0 (the
            research detection labels are 1-based COCO category ids).
            Defaults to 1.
        source (str): Name for messages.

    Returns:
        tuple: The converted tensors (FoundationXNet keys) and a report
        ``dict(origin={fx key: research key}, dropped=[(research key,
        reason)], not_converted=[fx keys without a research source])``.

    Raises:
        ValueError: A shape does not match the fx_mm config.
    """
    if out_norms not in OUT_NORM_SOURCES:
        raise ValueError(f'out_norms must be one of {list(OUT_NORM_SOURCES)}'
                         f', got {out_norms!r}')
    if not any(k.startswith('backbone.0.') for k in state):
        raise ValueError(
            f'{source}: no "backbone.0." keys; not a checkpoint of the '
            f'Foundation X research model (first keys: {list(state)[:5]})')
    mapper = _Mapper(target, source)
    _convert_backbone(state, mapper, cls_order, out_norms)
    _convert_loc(state, mapper, loc_order, label_offset)
    not_converted = [
        k for k in target if k not in mapper.converted
        and not k.endswith('relative_position_index')
    ]
    return mapper.converted, dict(
        origin=mapper.origin,
        dropped=mapper.dropped,
        not_converted=not_converted)
