# Copyright (c) fx_mm contributors. All rights reserved.
"""Parameters per component and FLOPs per task of a Foundation X model.

The student network is counted (the mean teacher is a copy that the
optimizer never sees). FLOPs are those of one forward of a single image
through the backbone, the shared part of the task's branch and ONE dataset
head (the first configured one), counted by mmengine's ``FlopAnalyzer``
(the counter behind ``get_model_complexity_info``; multiply-adds, fvcore
convention). Traced operators the counter has no formula for are listed
(they are not counted); where it cannot trace a branch at all, its FLOPs are
reported as not available and the parameter counts stand alone.

Examples::

    python tools/analysis_tools/get_flops.py \\
        configs/_base_/models/foundation_x_swin-b.py --params-only
    python tools/analysis_tools/get_flops.py \\
        configs/foundation_x/fx_swin-t_synthetic_demo.py --shape 128
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from fx_mm.registry import MODELS
from fx_mm.utils import register_all_modules

# the counting helpers live next to this script (tools-only code)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from model_stats import count_flops, parameter_breakdown  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the parameters per component and the FLOPs per '
        'task of an fx_mm model')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[224],
        help='input image size: H (square) or H W. Defaults to 224')
    parser.add_argument(
        '--params-only',
        action='store_true',
        help='count parameters only, no FLOPs')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def build_model(config: str, cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the config's model (without its teacher, which is not
    counted)."""
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = cfg.model
    if model_cfg.get('type') == 'FoundationX':
        model_cfg.with_teacher = False
        model_cfg.consistency_weight = 0.0
        model_cfg.predict_on = 'student'
    return MODELS.build(model_cfg)


# operators that fvcore-style counters leave out by convention (element-wise,
# reductions, shape and index operations); others are worth a note
_CHEAP_OPS = frozenset(
    'aten::' + name
    for name in ('add', 'add_', 'sub', 'rsub', 'mul', 'mul_', 'div', 'pow',
                 'sqrt', 'rsqrt', 'exp', 'log', 'sin', 'cos', 'sigmoid',
                 'softmax', 'gelu', 'relu', 'relu_', 'fill_', 'zero_', 'ne',
                 'eq', 'lt', 'gt', 'pad', 'repeat', 'flip', 'sum', 'mean',
                 'topk', 'linspace', 'meshgrid', 'new_ones', 'ones_like',
                 'zeros_like', '_shape_as_tensor', 'feature_dropout',
                 'dropout', 'im2col', 'clamp', 'cumsum', 'max', 'min', 'abs',
                 'neg', 'stack', 'cat'))


def _net(model: nn.Module) -> nn.Module:
    return getattr(model, 'student', model)


def _millions(count: int) -> str:
    return f'{count / 1e6:.3f} M'


def format_params(rows: List[Tuple[str, int]]) -> str:
    """Markdown table of :func:`parameter_breakdown` rows."""
    lines = ['| component | parameters | |', '|---|---:|---:|']
    for name, count in rows:
        bold = '**' if name == 'total' else ''
        lines.append(f'| {bold}{name}{bold} | {bold}{count:,}{bold} | '
                     f'{_millions(count)} |')
    return '\n'.join(lines)


def task_flops(net: nn.Module,
               shape: Tuple[int, int]) -> Dict[str, Tuple[str, object]]:
    """``{task: (dataset, (flops, uncounted ops) or the error that stopped
    counting)}``."""
    results = {}
    for task, datasets in net.heads().items():
        dataset = datasets[0]
        try:
            results[task] = (dataset, count_flops(net, task, dataset, shape))
        except Exception as err:  # noqa: BLE001 - reported, not hidden
            results[task] = (dataset, err)
    return results


def format_flops(results: Dict[str, Tuple[str, object]],
                 shape: Tuple[int, int]) -> str:
    lines = [
        f'| task (1 image, {shape[0]}x{shape[1]}) | head | FLOPs |',
        '|---|---|---:|'
    ]
    notes = []
    for task, (dataset, value) in results.items():
        if isinstance(value, Exception):
            lines.append(f'| {task} | {dataset} | n/a |')
            notes.append(f'{task}: the FLOP counter failed '
                         f'({type(value).__name__}: {value}); parameters '
                         'are exact')
        else:
            flops, uncounted = value
            lines.append(f'| {task} | {dataset} | {flops / 1e9:.3f} G |')
            uncounted = {
                op: n
                for op, n in uncounted.items() if op not in _CHEAP_OPS
            }
            if uncounted:
                ops = ', '.join(f'{op} x{n}' for op, n in uncounted.items())
                notes.append(f'{task}: operators without a FLOP formula are '
                             f'not counted: {ops}')
    text = '\n'.join(lines) + (
        '\n\nElement-wise, reduction and shape operators (add, softmax, '
        'GELU, ...) are not counted (fvcore convention).')
    if notes:
        text += '\n\nNote: ' + '\nNote: '.join(notes)
    return text


def report(model: nn.Module,
           shape: Tuple[int, int],
           params_only: bool = False) -> str:
    """The printed report of a built model."""
    net = _net(model)
    text = ('Parameters of the student network (the teacher, a copy, is not '
            'counted):\n\n' + format_params(parameter_breakdown(net)))
    if params_only:
        return text
    return text + '\n\n' + format_flops(task_flops(net, shape), shape)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if len(args.shape) not in (1, 2):
        raise ValueError(f'--shape takes H or H W, got {args.shape}')
    shape = (args.shape[0], args.shape[-1])
    # keep the initialisation log of every parameter out of the report
    MMLogger.get_instance('fx_mm_tools', log_level='WARNING')
    model = build_model(args.config, args.cfg_options)
    model.eval()
    print(report(model, shape, args.params_only))


if __name__ == '__main__':
    main()
