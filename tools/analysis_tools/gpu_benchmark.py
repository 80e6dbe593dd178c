# Copyright (c) fx_mm contributors. All rights reserved.
"""Paper-size throughput on a CUDA machine: Foundation X vs single-task
OpenMMLab models, with and without mixed precision.

For each task (cls / loc / seg), ``--iters`` training steps (after
``--warmup``) at the paper's batch size (24) and input (224 px) of:

- ``single``: the single-task model built from the same config parts
  (mmpretrain ``ImageClassifier``, mmdet ``DINO``, mmseg ``EncoderDecoder``
  + ``UPerHead``; ``benchmark_overhead.build_single_task``);
- ``FoundationX``: the Swin-B Foundation X (all heads of the config,
  teacher resident) with the task loss only;
- ``FoundationX + teacher``: with the mean-teacher consistency loss (one
  extra no-grad teacher forward per step), the method's step.

each in fp32 (``OptimWrapper``) and with ``--amp`` (mmengine's
``AmpOptimWrapper``, fp16 autocast + loss scaling, as ``tools/train.py
--amp``). Each model is built, measured and freed on its own, so its peak
GPU memory (``torch.cuda.max_memory_allocated``) is its own: parameters,
optimizer state, activations. Printed per row: ms/step (median), images/s
(batch / step time), peak MiB, and the ratios FoundationX / single of step
time and memory, and fp32 / amp of step time.

``--dry-run`` checks the script on a CPU: the CPU-sized config
(``configs/_base_/models/foundation_x_swin-t.py``, 20 queries), 64 px,
batch 2, one step per model; "amp" is bfloat16 autocast on the CPU there
(no loss scaling), memory is not measured. Its numbers mean nothing.

Example (one GPU)::

    python tools/analysis_tools/gpu_benchmark.py --iters 20 --warmup 5 \\
        --out docs/benchmarks.md
    python tools/analysis_tools/gpu_benchmark.py --dry-run   # on a CPU
"""
import argparse
import contextlib
import copy
import gc
import math
import os.path as osp
import statistics
from typing import Dict, List, Optional, Sequence

import benchmark_overhead as overhead
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from fx_mm.registry import MODELS
from fx_mm.utils import register_all_modules

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                        'foundation_x_swin-b.py')
DRY_RUN_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                          'foundation_x_swin-t.py')
PAPER_BATCH = 24
PAPER_SHAPE = 224
VARIANTS = ('single', 'fx', 'fx_teacher')
VARIANT_NAMES = dict(fx='FoundationX', fx_teacher='FoundationX + teacher')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Paper-size GPU throughput of FoundationX vs '
        'single-task models, fp32 and amp')
    parser.add_argument(
        '--config',
        default=None,
        help='fx_mm config with a FoundationX (default: the paper\'s '
        'Swin-B; the Swin-T one with --dry-run)')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=None,
                        help=f'default {PAPER_BATCH} (2 with --dry-run)')
    parser.add_argument('--shape', type=int, default=None,
                        help=f'default {PAPER_SHAPE} (64 with --dry-run)')
    parser.add_argument(
        '--tasks', nargs='+', default=list(overhead.TASKS),
        choices=overhead.TASKS)
    parser.add_argument(
        '--amp',
        choices=('both', 'off', 'on'),
        default='both',
        help='fp32, amp, or both (default)')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='on the CPU: tiny models, 1 step each, to check the script')
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out', help='append the table to this Markdown file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs')
    args = parser.parse_args(argv)
    if args.dry_run:
        args.device = 'cpu'
        args.config = args.config or DRY_RUN_CONFIG
        args.batch_size = args.batch_size or 2
        args.shape = args.shape or 64
        args.iters, args.warmup = 1, 0
    else:
        args.config = args.config or PAPER_CONFIG
        args.batch_size = args.batch_size or PAPER_BATCH
        args.shape = args.shape or PAPER_SHAPE
        if not (args.device.startswith('cuda')
                and torch.cuda.is_available()):
            parser.error('no CUDA device: this benchmark measures a GPU '
                         '(use --dry-run to check it on a CPU)')
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0')
    if 'seg' in args.tasks and args.batch_size < 2:
        parser.error('--batch-size must be >= 2 for seg (UperNet pooling '
                     'BatchNorm)')
    return args


class CPUAutocastOptimWrapper(OptimWrapper):
    """The dry run's stand-in for ``AmpOptimWrapper`` on a CPU: bfloat16
    autocast in the model's forward (no loss scaling)."""

    @contextlib.contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=torch.bfloat16):
            yield


def optim_wrapper(model: torch.nn.Module, amp: bool,
                  device: str) -> OptimWrapper:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=1e-4)
    if not amp:
        return OptimWrapper(optimizer)
    if device.startswith('cuda'):
        return AmpOptimWrapper(optimizer=optimizer)
    return CPUAutocastOptimWrapper(optimizer)


def build(cfg: Config, variant: str, task: str, weight: float,
          device: str) -> torch.nn.Module:
    if variant == 'single':
        model = overhead.build_single_task(copy.deepcopy(cfg.model), task)
    else:
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.with_teacher = True
        model_cfg.consistency_weight = weight if variant == 'fx_teacher' \
            else 0.0
        model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(device).train()


def measure(cfg: Config, variant: str, task: str, amp: bool, weight: float,
            factory: 'overhead.BatchFactory', args) -> dict:
    """ms/step, img/s and peak MiB of one model, built and freed here."""
    cuda = args.device.startswith('cuda')
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(args.device)
    torch.manual_seed(args.seed)
    model = build(cfg, variant, task, weight, args.device)
    optim = optim_wrapper(model, amp, args.device)
    batch = factory.single if variant == 'single' else factory.fx
    times = []
    for step in range(args.warmup + args.iters):
        elapsed = overhead._timed_step(model, optim, batch(task), args.device)
        if step >= args.warmup:
            times.append(elapsed)
    peak = torch.cuda.max_memory_allocated(args.device) / 2**20 \
        if cuda else math.nan
    del model, optim
    gc.collect()
    ms = statistics.median(times)
    return dict(ms=ms, img_s=args.batch_size * 1000.0 / ms, peak_mib=peak)


def run(args) -> List[dict]:
    MMLogger.get_instance('fx_mm_tools', log_level='WARNING')
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.model.get('type') != 'FoundationX':
        raise ValueError(f'{args.config}: model.type must be FoundationX')
    if args.dry_run:
        cfg.model.loc_branch.num_queries = 20
        cfg.model.loc_branch.test_cfg.max_per_img = 20
    weight = cfg.model.get('consistency_weight', 0.0) or 0.5
    factory = overhead.BatchFactory(cfg.model, args.shape, args.batch_size)
    modes = dict(both=(False, True), off=(False, ), on=(True, ))[args.amp]
    rows = []
    for task in [t for t in args.tasks if t in factory.heads]:
        for amp in modes:
            for variant in VARIANTS:
                row = dict(task=task, amp=amp, variant=variant)
                row.update(
                    measure(cfg, variant, task, amp, weight, factory, args))
                rows.append(row)
    by_key = {(r['task'], r['amp'], r['variant']): r for r in rows}
    for row in rows:
        single = by_key[(row['task'], row['amp'], 'single')]
        row['time_ratio'] = row['ms'] / single['ms']
        row['memory_ratio'] = row['peak_mib'] / single['peak_mib']
        fp32 = by_key.get((row['task'], False, row['variant']))
        row['amp_speedup'] = fp32['ms'] / row['ms'] \
            if row['amp'] and fp32 else math.nan
    return rows


def format_table(rows: List[dict], args) -> str:
    single_names: Dict[str, str] = overhead.SINGLE_TASK_NAMES

    def num(value: float, fmt: str) -> str:
        return '-' if math.isnan(value) else format(value, fmt)

    amp_name = 'bf16 autocast (CPU)' if args.dry_run else 'amp (fp16)'
    lines = [
        f'Config: `{osp.relpath(args.config, REPO_ROOT)}`, input '
        f'{args.shape}x{args.shape}, batch {args.batch_size}, median of '
        f'{args.iters} steps after {args.warmup} warm-up, device '
        f'{args.device}' +
        (' (DRY RUN: tiny models, numbers mean nothing)'
         if args.dry_run else ''), '',
        '| task | precision | model | ms/step | img/s | peak MiB | '
        'time / single | memory / single | fp32 / amp time |',
        '|---|---|---|---:|---:|---:|---:|---:|---:|'
    ]
    for r in rows:
        name = single_names[r['task']] if r['variant'] == 'single' \
            else VARIANT_NAMES[r['variant']]
        lines.append(
            f"| {r['task']} | {amp_name if r['amp'] else 'fp32'} | {name} | "
            f"{r['ms']:.1f} | {r['img_s']:.1f} | {num(r['peak_mib'], '.0f')} "
            f"| {r['time_ratio']:.3f} | {num(r['memory_ratio'], '.3f')} | "
            f"{num(r['amp_speedup'], '.2f')} |")
    lines += [
        '', 'Each model built, measured and freed alone: its peak memory '
        'holds its parameters, optimizer state and activations '
        '(FoundationX: all heads of the config and the resident teacher). '
        'FoundationX + teacher adds the consistency loss (one no-grad '
        'teacher forward per step).'
    ]
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    rows = run(args)
    table = format_table(rows, args)
    print(table)
    if args.out:
        device = overhead.machine_info(args.device)
        with open(args.out, 'a') as f:
            f.write(f'\n## GPU throughput, paper size ({device})\n\n'
                    f'{table}\n')
        print(f'\nappended to {args.out}')
    return table


if __name__ == '__main__':
    main()
