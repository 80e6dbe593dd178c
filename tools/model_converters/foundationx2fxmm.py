# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert a Foundation X research-code checkpoint to an fx_mm checkpoint.

The research code (jlianglab/Foundation_X) saves ``{'model': student,
'teacher_model': teacher, 'optimizer': ..., 'args': ...}``. This tool takes
one of the two networks (default: the teacher, the released weights),
renames its keys to those of the fx_mm model built from ``--config`` (see
the key-mapping table in ``docs/checkpoints.md``), and writes
``{'meta': ..., 'state_dict': ...}`` that a FoundationX built with
``with_teacher=False`` loads strictly (``--net-only``: a bare
FoundationXNet). Parts without a research counterpart (the segmentation
decoder, whose layout differs from mmseg's UPerHead) keep the fx_mm
model's initial weights; the tool lists them and every dropped research
key.

Example::

    python tools/model_converters/foundationx2fxmm.py \\
        FoundationX_teacher.pth fx_from_research.pth \\
        --config configs/_base_/models/foundation_x_swin-b.py
"""
import argparse
import os.path as osp
from collections import Counter, OrderedDict
from typing import Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from fx_mm.models.utils.research_converter import (OUT_NORM_SOURCES,
                                                   RESEARCH_CLS_ORDER,
                                                   RESEARCH_LOC_ORDER,
                                                   convert_research_checkpoint,
                                                   unwrap_research_checkpoint)
from fx_mm.registry import MODELS
from fx_mm.utils import load_fx_checkpoint, register_all_modules


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a Foundation X research checkpoint to fx_mm')
    parser.add_argument('src', help='research checkpoint (local file)')
    parser.add_argument('dst', help='output fx_mm checkpoint')
    parser.add_argument(
        '--config',
        required=True,
        help='fx_mm config whose model receives the weights')
    parser.add_argument(
        '--which',
        choices=['teacher', 'student'],
        default='teacher',
        help="network to convert: 'teacher' ('teacher_model', the released "
        "weights) or 'student' ('model'). Defaults to teacher")
    parser.add_argument(
        '--out-norms',
        choices=list(OUT_NORM_SOURCES),
        default='cls',
        help='research output norms that fill fx_mm\'s single set norm0-3 '
        '(cls: Segnorm0, Locnorm1-2, norm; loc: Segnorm0, Locnorm1-3; seg: '
        'Segnorm0-3). Defaults to cls')
    parser.add_argument(
        '--label-offset',
        type=int,
        default=1,
        help='research class index of fx_mm class 0 in the detection heads '
        '(1: COCO category ids start at 1). Defaults to 1')
    parser.add_argument(
        '--cls-order',
        nargs='+',
        default=list(RESEARCH_CLS_ORDER),
        help='fx_mm dataset of each research classification head index')
    parser.add_argument(
        '--loc-order',
        nargs='+',
        default=list(RESEARCH_LOC_ORDER),
        help='fx_mm dataset of each research decoder index')
    parser.add_argument(
        '--net-only',
        action='store_true',
        help='write bare FoundationXNet keys instead of FoundationX '
        '"student." keys')
    parser.add_argument(
        '--allow-unsafe-pickle',
        action='store_true',
        help='unpickle arbitrary objects (trusted files only)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def build_net(config: str, cfg_options: Optional[dict] = None):
    """The FoundationXNet of a config, initialised (no pretrained load)."""
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = cfg.model
    backbone = dict(model_cfg.backbone)
    backbone['init_cfg'] = None  # weights come from the research checkpoint
    net = MODELS.build(
        dict(
            type='FoundationXNet',
            backbone=backbone,
            cls_branch=model_cfg.get('cls_branch'),
            loc_branch=model_cfg.get('loc_branch'),
            seg_branch=model_cfg.get('seg_branch')))
    net.init_weights()
    return net


def _load(path: str, allow_unsafe_pickle: bool) -> dict:
    # the research checkpoints pickle their argparse ``args``
    with torch.serialization.safe_globals([argparse.Namespace]):
        return load_fx_checkpoint(
            path, map_location='cpu', allow_unsafe_pickle=allow_unsafe_pickle)


def _summary(keys: Sequence[str], depth: int = 3) -> str:
    groups = Counter('.'.join(k.split('.')[:depth]) for k in keys)
    return ', '.join(f'{g} ({n})' for g, n in sorted(groups.items()))


def convert(args: argparse.Namespace) -> dict:
    net = build_net(args.config, args.cfg_options)
    target = net.state_dict()
    checkpoint = _load(args.src, args.allow_unsafe_pickle)
    state = unwrap_research_checkpoint(checkpoint, args.which, args.src)
    converted, report = convert_research_checkpoint(
        state,
        target,
        cls_order=args.cls_order,
        loc_order=args.loc_order,
        out_norms=args.out_norms,
        label_offset=args.label_offset,
        source=args.src)
    full = OrderedDict(target)
    full.update(converted)
    net.load_state_dict(full, strict=True)  # names and shapes checked
    prefix = '' if args.net_only else 'student.'
    state_dict = OrderedDict((prefix + k, v) for k, v in full.items())
    meta = dict(
        fx_mm_converted_from=osp.basename(args.src),
        research_network=args.which,
        out_norms=args.out_norms,
        label_offset=args.label_offset,
        not_converted=report['not_converted'])
    torch.save(dict(meta=meta, state_dict=state_dict), args.dst)

    print(f'converted {len(converted)} of {len(target)} fx_mm tensors from '
          f'the research {args.which} ({args.src}) -> {args.dst}')
    if report['not_converted']:
        print('kept at their fx_mm initial value (no research counterpart): ' +
              _summary(report['not_converted']))
    reasons = Counter(reason for _, reason in report['dropped'])
    for reason, count in reasons.items():
        examples = [k for k, r in report['dropped'] if r == reason][:3]
        print(f'dropped {count} research key(s): {reason} (e.g. '
              f'{", ".join(examples)})')
    return report


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    MMLogger.get_instance('fx_mm_tools', log_level='WARNING')
    return convert(args)


if __name__ == '__main__':
    main()
