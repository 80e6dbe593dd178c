# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert checkpoints of the Foundation X research code to fx_mm's
research-compatible architecture.

The research model (jlianglab/Foundation_X, ``main.py`` with
``models/dino/dino_F6.py``, ``deformable_transformer_F6.py``,
``backbone.py``, ``swin_transformer_CyclicSegmentation.py``) is an IDEA-DINO
detector whose Swin backbone also holds the classification and
segmentation parts. Its checkpoints hold the student under ``'model'`` and
the teacher (the released weights) under ``'teacher_model'``.

Every research entry that a research forward reads has a place in the model
of ``configs/_base_/models/foundation_x_swin-b_research.py``
(``docs/checkpoints.md`` has the table). The entries left out are those no
research forward reads, and aliases:

- ``backbone.0.Segnorm{0-3}``: ``extra_features_seg`` uses the raw stage
  outputs;
- ``backbone.0.head``: the ImageNet classifier of the Swin code, called by
  no task;
- ``class_embed.{k}.*`` (= ``transformer.decoder.{k}.class_embed.*``): the
  research DINO takes its scores from ``class_embed_``;
- aliases of one shared tensor (``dec_pred_*_embed_share``, the shared FPN
  smoothing conv): read once, from the canonical key, and checked equal;
- heads of datasets that the fx_mm config does not have (e.g. the
  segmentation heads 0, 1 and 3, which ``foundation_x3_pretraining`` never
  trains or tests).

Score columns: the research decoders score 14 columns whose index is the
1-based COCO ``category_id``; fx_mm's labels are 0-based, so every
14-column tensor (and the 16-row denoising label table) is rotated by
``label_offset`` rows: fx_mm column ``j`` holds research column
``j + label_offset`` (the last columns wrap around). The two-stage top-k
ranks by the maximum over all columns, which a rotation does not change.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from fx_mm.models.utils import convert_swin_checkpoint

# dataset order of the research code's heads (main.py: head_number /
# DetHead / segmentation head indices)
RESEARCH_CLS_ORDER = ('tbx11k', 'node21', 'candid_ptx', 'rsna_pneumonia',
                      'chestx_det', 'siim_acr', 'chexpert', 'nih_chestxray14',
                      'vindr_cxr', 'shenzhen', 'mimic_cxr')
RESEARCH_LOC_ORDER = ('tbx11k', 'node21', 'candid_ptx', 'rsna_pneumonia',
                      'chestx_det', 'siim_acr')
RESEARCH_SEG_ORDER = RESEARCH_LOC_ORDER

NOT_READ = 'read by no research forward'
REASONS = {
    'segnorm':
    f'{NOT_READ}: extra_features_seg uses the raw stage outputs',
    'head':
    f'{NOT_READ}: the Swin ImageNet classifier `head`',
    'class_embed':
    f'{NOT_READ}: the research DINO scores with class_embed_',
    'num_batches_tracked':
    'BatchNorm step counter; the fx_mm module keeps '
    'its own',
    'relative_position_index':
    'buffer the model computes itself (standard '
    'Swin window index; checked equal)',
    'alias':
    'alias: one tensor with its canonical key (checked equal), '
    'read from there',
}

# research encoder / decoder layer -> mmdet layer
_ENCODER_LAYER = {
    'norm1': 'norms.0',
    'norm2': 'norms.1',
    'linear1': 'ffn.layers.0.0',
    'linear2': 'ffn.layers.1',
    'self_attn': 'self_attn',
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
    'cross_attn': 'cross_attn',
}
# alias -> canonical (dec_pred_*_embed_share and the shared FPN conv)
_ALIASES = (
    (r'transformer\.decoder\.(\d+)\.bbox_embed\.[1-9]\d*\.(.+)',
     r'transformer.decoder.\1.bbox_embed.0.\2'),
    (r'bbox_embed\.(\d+)\.\d+\.(.+)',
     r'transformer.decoder.\1.bbox_embed.0.\2'),
    (r'bbox_embed_\.(\d+)\.[1-9]\d*\.(.+)', r'bbox_embed_.\1.0.\2'),
    (r'class_embed_\.(\d+)\.[1-9]\d*\.(.+)', r'class_embed_.\1.0.\2'),
    (r'class_embed\.(\d+)\.\d+\.(.+)', r'transformer.decoder.\1.class_embed.0.'
     r'\2'),
    (r'transformer\.decoder\.(\d+)\.class_embed\.[1-9]\d*\.(.+)',
     r'transformer.decoder.\1.class_embed.0.\2'),
    (r'backbone\.0\.segmentation_FPN\.smooth_conv\.[1-9]\.(.+)',
     r'backbone.0.segmentation_FPN.smooth_conv.0.\1'),
)


class ResearchLayoutError(ValueError):
    """A checkpoint that is not a Foundation X research checkpoint of the
    layout the fx_mm config describes."""


def unwrap_research_checkpoint(
        checkpoint: Mapping,
        source: str = 'checkpoint') -> Tuple[Dict, Optional[Dict]]:
    """(teacher, student) state dicts of a research checkpoint, without
    ``module.``; the student is None when the file holds only the teacher.
    """
    if not isinstance(checkpoint, Mapping):
        raise ResearchLayoutError(
            f'{source}: a research checkpoint is a dict, got '
            f'{type(checkpoint).__name__}')
    if 'teacher_model' not in checkpoint:
        hint = ' (an fx_mm checkpoint: load it directly)' \
            if 'state_dict' in checkpoint else ''
        raise ResearchLayoutError(
            f"{source}: no 'teacher_model' entry{hint}; the research code "
            "saves the teacher (the released weights) under 'teacher_model' "
            f"and the student under 'model'. Entries: {list(checkpoint)}")

    def strip(state: Mapping) -> Dict:
        return OrderedDict(
            (k[len('module.'):] if k.startswith('module.') else k, v)
            for k, v in state.items())

    student = checkpoint.get('model')
    return strip(checkpoint['teacher_model']), (
        strip(student) if isinstance(student, Mapping) else None)


def _canonical(key: str) -> Optional[str]:
    for pattern, canonical in _ALIASES:
        if re.fullmatch(pattern, key):
            name = re.sub(pattern, canonical, key)
            return None if name == key else name
    return None


class _Mapper:
    """Collects the research -> fx_mm decisions of one state dict."""

    def __init__(self, state: Mapping[str, Tensor], target: Mapping[str,
                                                                    Tensor],
                 source: str, label_offset: int) -> None:
        self.state = state
        self.target = target
        self.source = source
        self.label_offset = label_offset
        self.converted: 'OrderedDict[str, Tensor]' = OrderedDict()
        self.origin: Dict[str, str] = {}
        self.left_out: List[Tuple[str, str]] = []
        self.unknown: List[str] = []
        self.aliases: Dict[str, str] = {}

    def put(self,
            src: str,
            value: Tensor,
            dst: str,
            columns: bool = False) -> None:
        """Fill ``dst`` (which must exist in the fx_mm model)."""
        if dst not in self.target:
            raise ResearchLayoutError(
                f'{self.source}: {src} maps to {dst}, which the fx_mm model '
                'does not have; use the research-compatible model config '
                '(configs/_base_/models/foundation_x_swin-b_research.py)')
        if columns:  # research category column c -> fx_mm label c - offset
            value = torch.roll(value, -self.label_offset, dims=0)
        want = tuple(self.target[dst].shape)
        if tuple(value.shape) != want:
            raise ResearchLayoutError(
                f'{self.source}: {src} has shape {tuple(value.shape)} but '
                f'fx_mm\'s {dst} has {want}; the fx_mm config does not match '
                'the research model')
        self.converted[dst] = value.clone()
        self.origin[dst] = src

    def put_or_unknown(self, src: str, value: Tensor,
                       dst: Optional[str]) -> None:
        """Fill ``dst``, or record ``src`` as a key that no rule maps when
        the rules gave no ``dst`` (None)."""
        if dst is None:
            self.unknown.append(src)
        else:
            self.put(src, value, dst)

    def put_layers(self,
                   src: str,
                   value: Tensor,
                   dst_pattern: str,
                   num_layers: int,
                   columns: bool = False) -> None:
        """Fill ``dst_pattern.format(layer)`` for every decoder layer (one
        research module shared by the layers)."""
        for layer in range(num_layers):
            self.put(src, value, dst_pattern.format(layer), columns)

    def leave(self, key: str, reason: str) -> None:
        self.left_out.append((key, reason))

    def decoder_layers(self, dataset: str) -> int:
        """Layers of ``dataset``'s fx_mm decoder (the index of its
        two-stage heads in ``cls_branches`` / ``reg_branches``)."""
        prefix = f'loc_branch.decoders.{dataset}.decoder.layers.'
        return len({
            k[len(prefix):].split('.', 1)[0]
            for k in self.target if k.startswith(prefix)
        })


def _layer(table: Mapping[str, str], rest: str) -> Optional[str]:
    for old, new in table.items():
        if rest == old or rest.startswith(old + '.'):
            return new + rest[len(old):]
    return None


def _mlp(rest: str) -> Optional[str]:
    """IDEA's ``MLP.layers.{j}`` -> mmdet's ``Sequential`` index ``2j``."""
    m = re.fullmatch(r'layers\.(\d)\.(weight|bias)', rest)
    return m and f'{2 * int(m.group(1))}.{m.group(2)}'


def _ppm_key(rest: str) -> Optional[str]:
    """Research PSP/FPN module names -> :class:`ResearchPSPFPNHead`."""
    rules = (
        (r'segmentation_PPN\.stages\.(\d+)\.1\.weight',
         r'psp_modules.\1.1.conv.weight'),
        (r'segmentation_PPN\.stages\.(\d+)\.2\.(.+)',
         r'psp_modules.\1.1.bn.\2'),
        (r'segmentation_PPN\.bottleneck\.0\.weight',
         r'psp_bottleneck.conv.weight'),
        (r'segmentation_PPN\.bottleneck\.1\.(.+)', r'psp_bottleneck.bn.\1'),
        (r'segmentation_FPN\.conv1x1\.(\d+)\.(weight|bias)',
         r'lateral_convs.\1.conv.\2'),
        (r'segmentation_FPN\.smooth_conv\.0\.(weight|bias)',
         r'smooth_conv.conv.\1'),
        (r'segmentation_FPN\.conv_fusion\.0\.weight',
         r'fusion_conv.conv.weight'),
        (r'segmentation_FPN\.conv_fusion\.1\.(.+)', r'fusion_conv.bn.\1'),
    )
    for pattern, new in rules:
        if re.fullmatch(pattern, rest):
            return re.sub(pattern, new, rest)
    return None


def _convert_backbone(mapper: _Mapper, orders: Mapping[str, Sequence[str]],
                      datasets: Mapping[str, List[str]]) -> None:
    state = mapper.state
    body = OrderedDict((k[len('backbone.0.'):], v) for k, v in state.items()
                       if k.startswith('backbone.0.'))
    swin = OrderedDict()
    for key, value in body.items():
        src = f'backbone.0.{key}'
        head = re.fullmatch(
            r'(classification|segmentation)_heads\.(\d+)\.(weight|bias)', key)
        if head:
            task = 'cls' if head.group(1) == 'classification' else 'seg'
            index, param = int(head.group(2)), head.group(3)
            order = orders[task]
            dataset = order[index] if index < len(order) else None
            if dataset is None or dataset not in datasets[task]:
                name = dataset or f'beyond the {task} order'
                mapper.leave(
                    src, f'{task} head {index} ({name}) is not in the fx_mm '
                    'config')
            elif task == 'cls':
                mapper.put(src, value,
                           f'cls_branch.heads.{dataset}.fc.{param}')
            else:
                mapper.put(src, value,
                           f'seg_branch.conv_segs.{dataset}.{param}')
        elif re.fullmatch(r'norm\.(weight|bias)', key):
            mapper.put(src, value, f'cls_branch.in_{key}')
        elif re.fullmatch(r'Locnorm([1-3])\.(weight|bias)', key):
            level, param = int(key[7]) - 1, key.rsplit('.', 1)[1]
            mapper.put(src, value, f'loc_branch.in_norms.{level}.{param}')
        elif re.fullmatch(r'Segnorm\d\.(weight|bias)', key):
            mapper.leave(src, REASONS['segnorm'])
        elif re.fullmatch(r'head\.(weight|bias)', key):
            mapper.leave(src, REASONS['head'])
        elif key.startswith('segmentation_'):
            if key.endswith('num_batches_tracked'):
                mapper.leave(src, REASONS['num_batches_tracked'])
            elif _canonical(src) is not None:
                continue  # alias, checked in convert_research_state
            else:
                new = _ppm_key(key)
                mapper.put_or_unknown(src, value, new and f'seg_branch.{new}')
        elif key.endswith('relative_position_index'):
            mapper.leave(src, REASONS['relative_position_index'])
        else:
            swin[key] = value
    try:
        converted = convert_swin_checkpoint(
            swin, source=mapper.source, fmt='timm')
    except (KeyError, ValueError) as err:
        raise ResearchLayoutError(
            f'{mapper.source}: the Swin backbone (backbone.0.*) does not '
            f'convert: {err}') from None
    for key, value in converted.items():
        mapper.put(f'backbone.0.{key} (Swin naming)', value, f'backbone.{key}')


def _convert_loc(mapper: _Mapper, order: Sequence[str],
                 datasets: Sequence[str]) -> None:
    state = mapper.state
    num_neck_convs = len({
        m.group(1)
        for m in (re.match(r'loc_branch\.neck\.convs\.(\d+)\.', k)
                  for k in mapper.target) if m
    })

    def dataset_of(key: str, index: str) -> Optional[str]:
        k = int(index)
        name = order[k] if k < len(order) else None
        if name not in datasets:
            mapper.leave(
                key, f'loc decoder {k} ({name}) is not in the fx_mm '
                'config')
            return None
        return name

    for key, value in state.items():
        if key.startswith('backbone.0.') or _canonical(key) is not None:
            continue
        m = re.fullmatch(r'input_proj\.(\d+)\.([01])\.(weight|bias)', key)
        if m:
            level, part, param = int(m.group(1)), m.group(2), m.group(3)
            conv = (f'loc_branch.neck.convs.{level}' if level < num_neck_convs
                    else 'loc_branch.neck.extra_convs.'
                    f'{level - num_neck_convs}')
            mapper.put(key, value,
                       f'{conv}.{"conv" if part == "0" else "gn"}.{param}')
        elif key == 'transformer.level_embed':
            mapper.put(key, value, 'loc_branch.level_embed')
        elif key == 'transformer.tgt_embed.weight':
            mapper.put(key, value, 'loc_branch.query_embedding.weight')
        elif key == 'label_enc.weight':
            mapper.put(
                key,
                value,
                'loc_branch.dn_query_generator.label_embedding.weight',
                columns=True)
        elif key.startswith('transformer.encoder.layers.'):
            m = re.fullmatch(r'transformer\.encoder\.layers\.(\d+)\.(.+)', key)
            new = m and _layer(_ENCODER_LAYER, m.group(2))
            dst = new and f'loc_branch.encoder.layers.{m.group(1)}.{new}'
            mapper.put_or_unknown(key, value, dst)
        else:
            _convert_loc_dataset(mapper, key, value, dataset_of)


def _convert_loc_dataset(mapper: _Mapper, key: str, value: Tensor,
                         dataset_of) -> None:
    """Entries of one research decoder ``k``."""
    per_dataset = (
        (r'transformer\.decoder\.(\d+)\.(.+)', 'decoder'),
        (r'transformer\.(enc_output|enc_output_norm|enc_out_class_embed|'
         r'enc_out_bbox_embed|enc_outputMem_LinearProjection)\.(\d+)\.(.+)',
         'proposal'),
        (r'(class_embed_|bbox_embed_)\.(\d+)\.0\.(.+)', 'output'),
    )
    for pattern, kind in per_dataset:
        m = re.fullmatch(pattern, key)
        if m:
            break
    else:
        mapper.unknown.append(key)
        return
    if kind == 'decoder':
        index, rest = m.group(1), m.group(2)
    else:
        index, rest = m.group(2), m.group(3)
    dataset = dataset_of(key, index)
    if dataset is None:
        return
    unit = f'loc_branch.decoders.{dataset}.'
    head = unit + 'bbox_head.'
    if kind == 'decoder':
        layer = re.fullmatch(r'layers\.(\d+)\.(.+)', rest)
        if layer:
            new = _layer(_DECODER_LAYER, layer.group(2))
            dst = new and f'{unit}decoder.layers.{layer.group(1)}.{new}'
        elif rest.startswith(('norm.', 'ref_point_head.')):
            dst = f'{unit}decoder.{rest}'
        elif rest.startswith('bbox_embed.0.'):
            new = _mlp(rest[len('bbox_embed.0.'):])
            if new is not None:
                mapper.put_layers(key, value,
                                  head + 'refine_branches.{}.' + new,
                                  mapper.decoder_layers(dataset))
                return
            dst = None
        elif rest.startswith('class_embed.0.'):
            mapper.leave(key, REASONS['class_embed'])
            return
        else:
            dst = None
        mapper.put_or_unknown(key, value, dst)
        return
    if kind == 'output':
        if m.group(1) == 'class_embed_':
            mapper.put_layers(
                key,
                value,
                head + 'cls_branches.{}.' + rest,
                mapper.decoder_layers(dataset),
                columns=True)
        else:
            new = _mlp(rest)
            if new is None:
                mapper.unknown.append(key)
            else:
                mapper.put_layers(key, value, head + 'reg_branches.{}.' + new,
                                  mapper.decoder_layers(dataset))
        return
    module = m.group(1)
    num_layers = mapper.decoder_layers(dataset)
    if module == 'enc_outputMem_LinearProjection':
        mapper.put(key, value, f'{unit}memory_proj.{rest}')
    elif module == 'enc_output':
        mapper.put(key, value, f'{unit}memory_trans_fc.{rest}')
    elif module == 'enc_output_norm':
        mapper.put(key, value, f'{unit}memory_trans_norm.{rest}')
    elif module == 'enc_out_class_embed':
        mapper.put(
            key,
            value,
            f'{head}cls_branches.{num_layers}.{rest}',
            columns=True)
    else:
        new = _mlp(rest)
        dst = new and f'{head}reg_branches.{num_layers}.{new}'
        mapper.put_or_unknown(key, value, dst)


def _check_aliases(state: Mapping[str, Tensor], source: str,
                   mapper: _Mapper) -> None:
    """Each alias key must hold its canonical key's values."""
    for key, value in state.items():
        canonical = _canonical(key)
        if canonical is None:
            continue
        if canonical not in state:
            raise ResearchLayoutError(
                f'{source}: {key} is an alias of {canonical} in the research '
                'model, but the checkpoint has no such key')
        if not torch.equal(value, state[canonical]):
            raise ResearchLayoutError(
                f'{source}: {key} differs from {canonical}; in the research '
                'model they are one shared tensor')
        mapper.aliases[key] = canonical
        mapper.leave(key, REASONS['alias'])


def convert_research_state(
        state: Mapping[str, Tensor],
        target: Mapping[str, Tensor],
        datasets: Mapping[str, Sequence[str]],
        cls_order: Sequence[str] = RESEARCH_CLS_ORDER,
        loc_order: Sequence[str] = RESEARCH_LOC_ORDER,
        seg_order: Sequence[str] = RESEARCH_SEG_ORDER,
        label_offset: int = 1,
        source: str = 'research checkpoint') -> Tuple[Dict, Dict]:
    """Convert one research network (student or teacher) to the keys of a
    research-compatible :class:`~fx_mm.models.FoundationXNet`.

    Args:
        state (Mapping[str, Tensor]): The research network's state dict
            (see :func:`unwrap_research_checkpoint`).
        target (Mapping[str, Tensor]): ``state_dict()`` of the fx_mm
            network to fill (gives names and shapes).
        datasets (Mapping[str, Sequence[str]]): ``{task: [dataset, ...]}``
            of the fx_mm heads (:meth:`FoundationXNet.heads`).
        cls_order, loc_order, seg_order (Sequence[str]): fx_mm dataset of
            each research head index.
        label_offset (int): Research score column of fx_mm label 0 (the
            research labels are 1-based category ids). Defaults to 1.
        source (str): Name for messages.

    Returns:
        tuple: The converted tensors (every key of ``target``) and a report
        ``dict(origin={fx key: research key}, left_out=[(research key,
        reason)], aliases={alias key: canonical key})``.

    Raises:
        ResearchLayoutError: Not a research checkpoint, a research key
            without a rule, a shape or an alias that does not match, or
            fx_mm keys that nothing fills.
    """
    if not any(k.startswith('backbone.0.') for k in state):
        raise ResearchLayoutError(
            f'{source}: no "backbone.0." keys; not a checkpoint of the '
            f'Foundation X research model (first keys: {list(state)[:5]})')
    mapper = _Mapper(state, target, source, label_offset)
    _check_aliases(state, source, mapper)
    orders = dict(cls=cls_order, loc=loc_order, seg=seg_order)
    datasets = {task: list(datasets.get(task, ())) for task in orders}
    _convert_backbone(mapper, orders, datasets)
    _convert_loc(mapper, loc_order, datasets['loc'])
    if mapper.unknown:
        raise ResearchLayoutError(
            f'{source}: {len(mapper.unknown)} research key(s) that no rule '
            f'maps, e.g. {mapper.unknown[:5]}; not a Foundation X research '
            'checkpoint of the released layout')
    missing = [
        k for k in target if k not in mapper.converted and not k.endswith(
            ('relative_position_index', 'num_batches_tracked'))
    ]
    if missing:
        raise ResearchLayoutError(
            f'{source}: {len(missing)} fx_mm weight(s) have no research '
            f'source, e.g. {missing[:5]}; the fx_mm config has parts the '
            'research model lacks (use configs/_base_/models/'
            'foundation_x_swin-b_research.py with the research head order)')
    _check_position_index(state, target, source)
    converted = OrderedDict(
        (k, mapper.converted.get(k, target[k])) for k in target)
    return converted, dict(
        origin=mapper.origin, left_out=mapper.left_out, aliases=mapper.aliases)


def _check_position_index(state: Mapping[str, Tensor],
                          target: Mapping[str, Tensor], source: str) -> None:
    """The research Swin's window index must be the one fx_mm computes."""
    for key, value in state.items():
        m = re.fullmatch(
            r'backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.attn\.'
            r'relative_position_index', key)
        if not m:
            continue
        dst = (f'backbone.stages.{m.group(1)}.blocks.{m.group(2)}.attn.'
               'w_msa.relative_position_index')
        if dst in target and not torch.equal(value, target[dst]):
            raise ResearchLayoutError(
                f'{source}: {key} is not the standard Swin window index '
                f'that fx_mm uses ({dst})')
