# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert a Foundation X research checkpoint (the official weights) to
fx_mm.

The research code (jlianglab/Foundation_X) saves ``{'model': student,
'teacher_model': teacher, 'optimizer': ..., 'epoch': ...}``; the released
weights are the teacher's. This tool converts both networks into the
research-compatible fx_mm model (``configs/_base_/models/
foundation_x_swin-b_research.py``, which represents every module the
research forwards use) and writes an fx_mm checkpoint ``{'meta',
'state_dict'}`` with ``student.*`` and ``teacher.*`` keys, which
``tools/test.py``, ``FXInferencer``, ``demo/image_demo.py``,
``publish_model.py`` and the finetune configs load as they are. A file
without the student gets the teacher's weights in both.

Every research entry that a research forward reads is converted; the
report lists each entry left out with its reason (``docs/checkpoints.md``).

Example::

    python tools/model_converters/foundationx2fxmm.py \\
        FoundationX_ckpt.pth weights/foundation_x_fxmm.pth
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import Counter, OrderedDict
from typing import Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from fx_mm.registry import MODELS
from fx_mm.utils import load_fx_checkpoint, register_all_modules

# the research layout converter lives next to this script (tools-only code)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from research_converter import RESEARCH_CLS_ORDER  # noqa: E402
from research_converter import RESEARCH_LOC_ORDER  # noqa: E402
from research_converter import RESEARCH_SEG_ORDER  # noqa: E402
from research_converter import convert_research_state  # noqa: E402
from research_converter import unwrap_research_checkpoint  # noqa: E402

RESEARCH_MODEL_CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    '_base_', 'models', 'foundation_x_swin-b_research.py')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a Foundation X research checkpoint to fx_mm')
    parser.add_argument('src', help='research checkpoint (local file)')
    parser.add_argument('dst', help='output fx_mm checkpoint')
    parser.add_argument(
        '--config',
        default=RESEARCH_MODEL_CONFIG,
        help='fx_mm config whose (research-compatible) model receives the '
        'weights. Defaults to configs/_base_/models/'
        'foundation_x_swin-b_research.py')
    parser.add_argument(
        '--label-offset',
        type=int,
        default=1,
        help='research score column of fx_mm label 0 (research labels are '
        '1-based category ids). Defaults to 1')
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
        '--seg-order',
        nargs='+',
        default=list(RESEARCH_SEG_ORDER),
        help='fx_mm dataset of each research segmentation head index')
    parser.add_argument(
        '--report', help='also write the conversion report (JSON) here')
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
    """The FoundationXNet of a config, without weights loading."""
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = cfg.model
    backbone = dict(model_cfg.backbone)
    backbone['init_cfg'] = None  # weights come from the research checkpoint
    return MODELS.build(
        dict(
            type='FoundationXNet',
            backbone=backbone,
            cls_branch=model_cfg.get('cls_branch'),
            loc_branch=model_cfg.get('loc_branch'),
            seg_branch=model_cfg.get('seg_branch')))


def _load(path: str, allow_unsafe_pickle: bool) -> dict:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such research checkpoint')
    # the research checkpoints may pickle their argparse ``args``
    with torch.serialization.safe_globals([argparse.Namespace]):
        return load_fx_checkpoint(
            path, map_location='cpu', allow_unsafe_pickle=allow_unsafe_pickle)


def convert(args: argparse.Namespace) -> dict:
    net = build_net(args.config, args.cfg_options)
    target = net.state_dict()
    checkpoint = _load(args.src, args.allow_unsafe_pickle)
    teacher, student = unwrap_research_checkpoint(checkpoint, args.src)
    del checkpoint
    options = dict(
        datasets=net.heads(),
        cls_order=args.cls_order,
        loc_order=args.loc_order,
        seg_order=args.seg_order,
        label_offset=args.label_offset)
    state_dict = OrderedDict()
    reports = {}
    for network, state in (('teacher', teacher), ('student', student)):
        if state is None:
            continue
        converted, reports[network] = convert_research_state(
            state, target, source=f"{args.src} ['{network}']", **options)
        net.load_state_dict(converted, strict=True)  # names and shapes
        state_dict.update((f'{network}.{k}', v) for k, v in converted.items())
    if student is None:
        state_dict.update((f'student.{k[len("teacher."):]}', v)
                          for k, v in list(state_dict.items()))
    report = reports['teacher']
    meta = dict(
        fx_mm_converted_from=osp.basename(args.src),
        research_networks=dict(
            teacher='teacher_model',
            student='model' if student is not None else
            'teacher_model (the file has no student)'),
        label_offset=args.label_offset,
        orders=dict(
            cls=list(args.cls_order),
            loc=list(args.loc_order),
            seg=list(args.seg_order)))
    out_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state_dict), args.dst)

    num_sources = len(teacher)
    print(f'converted {len(report["origin"])} fx_mm tensors per network from '
          f'{num_sources - len(report["left_out"])} of {num_sources} research '
          f'entries ({", ".join(reports)}) -> {args.dst}')
    reasons = Counter(reason for _, reason in report['left_out'])
    for reason, count in sorted(reasons.items()):
        examples = [k for k, r in report['left_out'] if r == reason][:2]
        print(f'left out {count} research entr{"y" if count == 1 else "ies"}'
              f': {reason} (e.g. {", ".join(examples)})')
    result = dict(
        dst=args.dst,
        meta=meta,
        origin=report['origin'],
        left_out=report['left_out'],
        aliases=report['aliases'])
    if args.report:
        with open(args.report, 'w') as f:
            json.dump(result, f, indent=1)
    return result


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    MMLogger.get_instance('fx_mm_tools', log_level='WARNING')
    return convert(args)


if __name__ == '__main__':
    main()
