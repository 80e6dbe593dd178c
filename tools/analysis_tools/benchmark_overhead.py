# Copyright (c) fx_mm contributors. All rights reserved.
"""Train-step time of Foundation X against single-task OpenMMLab models.

For each task, one training step (data preprocessing, forward, backward and
optimizer step, i.e. ``model.train_step``) of FoundationX on a batch of one
dataset is timed against the step of the equivalent single-task model built
from the SAME config parts (same backbone, input and head sizes):

- cls: mmpretrain ``ImageClassifier`` (GAP neck + ``LinearClsHead`` /
  ``MultiLabelLinearClsHead``);
- loc: mmdet ``DINO`` with the loc branch's neck, encoder, decoder, queries,
  denoising and head (backbone outputs = the branch's ``in_indices``);
- seg: mmseg ``EncoderDecoder`` + ``UPerHead`` with the seg branch's sizes
  (softmax over background + the dataset's classes; its ``conv_seg`` has the
  seg branch's kernel size; the seg branch's loss terms, e.g. Dice + CE,
  in their softmax form).

FoundationX is timed twice:

- ``FoundationX``: the student with the task loss only (``consistency_weight
  = 0``, the teacher does not run): the cost of the multi-head design;
- ``FoundationX + teacher``: with the mean-teacher consistency term of the
  method (one extra no-grad teacher forward): the cost of the method.

The three models step in turn within each repetition, in a rotating
order, so that machine load affects them alike. A round is ``--iters``
such repetitions (after ``--warmup`` untimed ones, before the first round
only); each round gives its ratios (of the median step times of the
round), and ``--rounds`` rounds (default 3) give each ratio's min / median
/ max, so that one noisy round does not decide a target: the target is
checked on the median. Step times in the table are medians over all
rounds. All models train every parameter (release phase) with AdamW.

Example::

    python tools/analysis_tools/benchmark_overhead.py \\
        configs/_base_/models/foundation_x_swin-b.py --iters 20 --warmup 3 \\
        --out docs/benchmarks.md
"""
import argparse
import copy
import datetime
import inspect
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.structures import InstanceData, PixelData
from mmpretrain.structures import DataSample
from mmseg.structures import SegDataSample

from fx_mm.models.task_branches import MultiDatasetUPerHead
from fx_mm.models.task_branches.builder import build_in_scope
from fx_mm.registry import MODELS
from fx_mm.structures import TASKS
from fx_mm.utils import register_all_modules

SINGLE_TASK_NAMES = dict(
    cls='mmpretrain ImageClassifier',
    loc='mmdet DINO',
    seg='mmseg EncoderDecoder + UPerHead')
TARGET_RATIO = 1.05


def add_step_args(parser: argparse.ArgumentParser) -> None:
    """The options of a train-step timing (shared with benchmark.py)."""
    parser.add_argument('config', help='fx_mm config with a FoundationX')
    parser.add_argument(
        '--iters', type=int, default=10, help='timed repetitions')
    parser.add_argument(
        '--warmup', type=int, default=2, help='untimed repetitions first')
    parser.add_argument(
        '--rounds',
        type=int,
        default=3,
        help='rounds of --iters repetitions; each ratio is reported as '
        'min / median / max over the rounds')
    parser.add_argument(
        '--shape', type=int, default=224, help='square input size')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument(
        '--tasks', nargs='+', default=list(TASKS), choices=TASKS)
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu or cuda. Defaults to cuda when available')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')


def load_config(args: argparse.Namespace) -> Config:
    """Check the timing options and read the config (with fx_mm's modules
    registered and the per-parameter initialisation log silenced)."""
    if args.iters < 1:
        raise ValueError('--iters must be >= 1')
    if args.rounds < 1:
        raise ValueError('--rounds must be >= 1')
    if 'seg' in args.tasks and args.batch_size < 2:
        raise ValueError('--batch-size must be >= 2 for seg: the UperNet '
                         'pooling branch (1x1 BatchNorm) needs 2 samples')
    # keep the initialisation log of every parameter out of the report
    MMLogger.get_instance('fx_mm_tools', log_level='WARNING')
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train-step time of FoundationX vs single-task models')
    add_step_args(parser)
    parser.add_argument(
        '--consistency-weight',
        type=float,
        default=None,
        help='consistency weight of the "+ teacher" run; defaults to the '
        "config's value, or 0.5 (the paper's) when that is 0")
    parser.add_argument(
        '--out',
        help='append the table with the machine description to this '
        'Markdown file (e.g. docs/benchmarks.md)')
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------
# the single-task models, from the FoundationX config's own parts


def _first_head(branch_cfg: ConfigDict):
    name = next(iter(branch_cfg.datasets))
    return name, branch_cfg.datasets[name]


def _num_classes(spec) -> int:
    return spec if isinstance(spec, int) else spec['num_classes']


def _multi_label(spec) -> bool:
    return True if isinstance(spec, int) else spec.get('multi_label', True)


def _norm_cfg(model_cfg: ConfigDict) -> dict:
    pre = model_cfg.get('data_preprocessor') or {}
    return dict(
        mean=list(pre.get('mean', (123.675, 116.28, 103.53))),
        std=list(pre.get('std', (58.395, 57.12, 57.375)))), int(
            pre.get('pad_size_divisor', 32))


class _TupleOutput(nn.Module):
    """Return a backbone's list of features as a tuple."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, inputs: torch.Tensor) -> tuple:
        return tuple(self.backbone(inputs))


def softmax_losses(seg_branch: ConfigDict) -> List[dict]:
    """The seg branch's losses (default: its Dice) in the softmax form of
    a single-task mmseg model: the same loss terms are computed by both
    models, so the ratio measures the multi-head design, not the choice
    of loss."""
    losses = seg_branch.get('loss_decode', None)
    if losses is None:
        losses = inspect.signature(
            MultiDatasetUPerHead).parameters['loss_decode'].default
    if isinstance(losses, dict):
        losses = [losses]
    return [dict(loss, use_sigmoid=False) for loss in losses]


def build_single_task(model_cfg: ConfigDict, task: str) -> nn.Module:
    """The single-task OpenMMLab model equivalent to one FoundationX task."""
    norm, divisor = _norm_cfg(model_cfg)
    backbone = copy.deepcopy(model_cfg.backbone)
    if task == 'cls':
        branch = model_cfg.cls_branch
        _, spec = _first_head(branch)
        head_type = 'MultiLabelLinearClsHead' if _multi_label(
            spec) else 'LinearClsHead'
        head = dict(
            type=head_type,
            num_classes=_num_classes(spec),
            in_channels=branch.in_channels)
        if head_type == 'LinearClsHead':
            head['topk'] = (1, )
        cfg = dict(
            type='ImageClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', **norm),
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=head)
        model = build_in_scope(cfg, 'mmpretrain')
        # mmdet's Swin returns a list, mmpretrain's necks take a tuple
        model.backbone = _TupleOutput(model.backbone)
        return model
    if task == 'loc':
        branch = copy.deepcopy(model_cfg.loc_branch)
        _, spec = _first_head(branch)
        backbone.out_indices = tuple(branch.get('in_indices', (1, 2, 3)))
        cfg = dict(
            type='DINO',
            num_queries=branch.num_queries,
            with_box_refine=True,
            as_two_stage=True,
            num_feature_levels=branch.get('num_feature_levels', 4),
            data_preprocessor=dict(
                type='DetDataPreprocessor',
                bgr_to_rgb=False,
                pad_size_divisor=divisor,
                **norm),
            backbone=backbone,
            neck=branch.neck,
            encoder=branch.encoder,
            decoder=branch.decoder,
            positional_encoding=branch.positional_encoding,
            bbox_head=dict(branch.bbox_head, num_classes=_num_classes(spec)),
            dn_cfg=branch.dn_cfg,
            train_cfg=branch.get('train_cfg'),
            test_cfg=branch.get('test_cfg'))
        return build_in_scope(cfg, 'mmdet')
    if task == 'seg':
        branch = copy.deepcopy(model_cfg.seg_branch)
        _, channels = _first_head(branch)
        num_classes = channels + 1  # background + the dataset's classes
        cfg = dict(
            type='EncoderDecoder',
            data_preprocessor=dict(
                type='SegDataPreProcessor',
                size_divisor=divisor,
                pad_val=0,
                seg_pad_val=255,
                bgr_to_rgb=False,
                **norm),
            backbone=backbone,
            decode_head=dict(
                type='UPerHead',
                in_channels=branch.in_channels,
                in_index=branch.get('in_index', [0, 1, 2, 3]),
                pool_scales=branch.get('pool_scales', (1, 2, 3, 6)),
                channels=branch.channels,
                dropout_ratio=branch.get('dropout_ratio', 0.1),
                num_classes=num_classes,
                norm_cfg=branch.get('norm_cfg', dict(type='BN')),
                align_corners=branch.get('align_corners', False),
                loss_decode=softmax_losses(branch)))
        model = build_in_scope(cfg, 'mmseg')
        kernel = branch.get('seg_kernel_size', 3)
        head = model.decode_head
        head.conv_seg = nn.Conv2d(
            head.channels, num_classes, kernel, padding=kernel // 2)
        return model
    raise ValueError(f'unknown task {task!r}')


# ---------------------------------------------------------------------------
# synthetic batches (the same images and targets for every model)


class BatchFactory:
    """Fresh data-sample batches per step (models write into them)."""

    def __init__(self, model_cfg: ConfigDict, shape: int,
                 batch_size: int) -> None:
        self.shape = shape
        self.batch_size = batch_size
        gen = torch.Generator().manual_seed(0)
        self.images = [
            torch.randint(0, 256, (3, shape, shape),
                          generator=gen).to(torch.uint8)
            for _ in range(batch_size)
        ]
        self.heads = {}
        for task in TASKS:
            branch = model_cfg.get(f'{task}_branch')
            if branch is not None:
                self.heads[task] = _first_head(branch)
        # per-sample targets
        self.targets = []
        for _ in range(batch_size):
            target = {}
            if 'cls' in self.heads:
                n = _num_classes(self.heads['cls'][1])
                if _multi_label(self.heads['cls'][1]):
                    score = (torch.rand(n, generator=gen) > 0.5).float()
                else:
                    score = torch.zeros(n)
                    score[torch.randint(0, n, (1, ), generator=gen)] = 1
                target['cls'] = score
            if 'loc' in self.heads:
                n = _num_classes(self.heads['loc'][1])
                xy = torch.rand(3, 2, generator=gen) * shape * 0.6
                wh = torch.rand(3, 2, generator=gen) * shape * 0.3 + 8
                target['loc'] = (torch.cat([xy, xy + wh], dim=1),
                                 torch.randint(0, n, (3, ), generator=gen))
            if 'seg' in self.heads:
                channels = self.heads['seg'][1]
                label = torch.randint(
                    0, channels + 1, (shape, shape), generator=gen)
                target['seg'] = label
            self.targets.append(target)

    def _meta(self, task: str) -> dict:
        return dict(
            img_shape=(self.shape, self.shape),
            ori_shape=(self.shape, self.shape),
            scale_factor=(1., 1.),
            dataset=self.heads[task][0],
            task=task)

    def fx(self, task: str) -> dict:
        """A batch as fx_mm's ``PackFXInputs`` gives it."""
        samples = []
        for target in self.targets:
            meta = self._meta(task)
            if task == 'cls':
                sample = DataSample(metainfo=meta)
                sample.set_gt_score(target['cls'].clone())
            elif task == 'loc':
                sample = DetDataSample(metainfo=meta)
                boxes, labels = target['loc']
                sample.gt_instances = InstanceData(
                    bboxes=boxes.clone(), labels=labels.clone())
            else:
                sample = SegDataSample(metainfo=meta)
                label = target['seg']
                channels = self.heads['seg'][1]
                masks = torch.stack([(label == c + 1)
                                     for c in range(channels)]).to(torch.uint8)
                sample.gt_sem_seg = PixelData(data=masks)
            samples.append(sample)
        return dict(
            inputs=[img.clone() for img in self.images], data_samples=samples)

    def single(self, task: str) -> dict:
        """The same batch for the single-task model of ``task``."""
        if task != 'seg':
            return self.fx(task)  # the libraries' own data samples
        samples = []
        for target in self.targets:
            sample = SegDataSample(metainfo=self._meta(task))
            sample.gt_sem_seg = PixelData(data=target['seg'][None].clone())
            samples.append(sample)
        return dict(
            inputs=[img.clone() for img in self.images], data_samples=samples)


# ---------------------------------------------------------------------------


def _optim_wrapper(model: nn.Module) -> OptimWrapper:
    params = [p for p in model.parameters() if p.requires_grad]
    return OptimWrapper(torch.optim.AdamW(params, lr=1e-5, weight_decay=1e-4))


def _timed_step(model: nn.Module, optim: OptimWrapper, data: dict,
                device: str) -> float:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.train_step(data, optim)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000.0


def run_benchmark(cfg: Config, tasks: Sequence[str], shape: int,
                  batch_size: int, iters: int, warmup: int, device: str,
                  consistency_weight: Optional[float], seed: int,
                  rounds: int = 1) -> Tuple[List[dict], float]:
    """Time the steps; one result dict per task.

    ``ratio`` / ``ratio_teacher`` are the medians over the rounds of each
    round's ratio, with ``*_min`` / ``*_max`` and the per-round values in
    ``rounds`` (list of dict(ratio, ratio_teacher)).
    """
    torch.manual_seed(seed)
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('type') != 'FoundationX':
        raise ValueError(f'{cfg.filename}: model.type must be FoundationX, '
                         f'got {model_cfg.get("type")!r}')
    weight = consistency_weight
    if weight is None:
        weight = model_cfg.get('consistency_weight', 0.0) or 0.5
    fx_cfg = copy.deepcopy(model_cfg)
    fx_cfg.with_teacher = True
    fx_cfg.consistency_weight = weight
    fx = MODELS.build(fx_cfg)
    fx.init_weights()
    fx.to(device).train()
    fx_optim = _optim_wrapper(fx)
    factory = BatchFactory(model_cfg, shape, batch_size)
    tasks = [t for t in tasks if t in factory.heads]

    singles: Dict[str, nn.Module] = {}
    optims: Dict[str, OptimWrapper] = {}
    for task in tasks:
        model = build_single_task(model_cfg, task)
        model.init_weights()
        singles[task] = model.to(device).train()
        optims[task] = _optim_wrapper(model)

    def fx_step(task: str, with_teacher: bool) -> float:
        fx.consistency_weight = weight if with_teacher else 0.0
        return _timed_step(fx, fx_optim, factory.fx(task), device)

    # times[round][task][variant]: ms of each timed step
    times: List[Dict[str, Dict[str, List[float]]]] = [{
        task: dict(single=[], fx=[], fx_teacher=[])
        for task in tasks
    } for _ in range(rounds)]
    runners: Dict[str, Callable[[str], float]] = dict(
        single=lambda t: _timed_step(singles[t], optims[t], factory.single(t),
                                     device),
        fx=lambda t: fx_step(t, False),
        fx_teacher=lambda t: fx_step(t, True))
    order = list(runners)
    for rep in range(warmup + iters * rounds):
        for task in tasks:
            shift = rep % len(order)
            for variant in order[shift:] + order[:shift]:
                elapsed = runners[variant](task)
                if rep >= warmup:
                    times[(rep - warmup) // iters][task][variant].append(
                        elapsed)
    results = []
    for task in tasks:
        per_round = []
        for timed in times:
            median = {k: statistics.median(v) for k, v in timed[task].items()}
            per_round.append(
                dict(
                    ratio=median['fx'] / median['single'],
                    ratio_teacher=median['fx_teacher'] / median['single']))
        result = dict(
            task=task,
            dataset=factory.heads[task][0],
            single_name=SINGLE_TASK_NAMES[task],
            rounds=per_round,
            single_params=sum(p.numel() for p in singles[task].parameters()))
        for variant in order:
            result[f'{variant}_ms'] = statistics.median(
                ms for timed in times for ms in timed[task][variant])
        for key in ('ratio', 'ratio_teacher'):
            values = [r[key] for r in per_round]
            result[key] = statistics.median(values)
            result[f'{key}_min'] = min(values)
            result[f'{key}_max'] = max(values)
        results.append(result)
    return results, weight


def _ratio_cell(result: dict, key: str, flag: bool = False) -> str:
    """``median (min-max)`` of a ratio over the rounds."""
    mark = ' (!)' if flag and result[key] > TARGET_RATIO else ''
    return (f"{result[key]:.3f}{mark} ({result[f'{key}_min']:.3f}-"
            f"{result[f'{key}_max']:.3f})")


def format_table(results: List[dict], weight: float) -> str:
    lines = [
        '| task | head | single-task model | single-task ms/step | '
        'FoundationX ms/step | ratio | FoundationX + teacher ms/step | '
        'ratio |', '|---|---|---|---:|---:|---:|---:|---:|'
    ]
    for r in results:
        lines.append(f"| {r['task']} | {r['dataset']} | {r['single_name']} | "
                     f"{r['single_ms']:.1f} | {r['fx_ms']:.1f} | "
                     f"{_ratio_cell(r, 'ratio', True)} | "
                     f"{r['fx_teacher_ms']:.1f} | "
                     f"{_ratio_cell(r, 'ratio_teacher')} |")
    rounds = len(results[0]['rounds']) if results else 0
    lines.append('')
    lines.append(
        f'Ratios are FoundationX / single-task (target <= {TARGET_RATIO}), '
        f'median (min-max) over {rounds} round(s), each the ratio of the '
        "round's median step times; ms/step are medians over all rounds. "
        '"FoundationX": the student with the task loss only (no teacher '
        'forward), i.e. the cost of the shared multi-head model. '
        '"FoundationX + teacher": with the mean-teacher consistency loss '
        f'(consistency_weight={weight}), part of the method: one extra '
        'no-grad teacher forward per step. (!) marks a median ratio above '
        'target.')
    return '\n'.join(lines)


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> str:
    parts = [
        f'CPU: {_cpu_model()}', f'cores: {os.cpu_count()}',
        f'torch threads: {torch.get_num_threads()}',
        f'torch {torch.__version__}'
    ]
    if device.startswith('cuda'):
        parts.append(f'GPU: {torch.cuda.get_device_name(device)}')
    parts.append(f'device: {device}')
    parts.append(
        f'date: {datetime.datetime.now().isoformat(timespec="minutes")}')
    return ', '.join(parts)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    cfg = load_config(args)
    results, weight = run_benchmark(cfg, args.tasks, args.shape,
                                    args.batch_size, args.iters, args.warmup,
                                    args.device, args.consistency_weight,
                                    args.seed, args.rounds)
    header = (f'Config: `{args.config}`, input {args.shape}x{args.shape}, '
              f'batch {args.batch_size}, {args.rounds} rounds of '
              f'{args.iters} steps after {args.warmup} warm-up')
    table = format_table(results, weight)
    print(header + '\n\n' + table)
    if args.out:
        with open(args.out, 'a') as f:
            f.write(f'\n## Train-step overhead ({machine_info(args.device)})'
                    f'\n\n{header}\n\n{table}\n')
        print(f'\nappended to {args.out}')
    return table


if __name__ == '__main__':
    main()
