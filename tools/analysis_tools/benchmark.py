# Copyright (c) fx_mm contributors. All rights reserved.
"""Three efficiency checks of fx_mm's training, side by side in one run.

(a) Train-step time of FoundationX vs the single-task OpenMMLab model per
    task (cls / loc / seg): the measurement of
    ``benchmark_overhead.py`` (imported, same table).
(b) The cost of the Cyclic & Lock-Release machinery per slot, as a share
    of the slot's training time (target < 1 %):

    - lock / release switch: :class:`LockReleaseHook` applying the lock
      plan at a lock phase's start and releasing at the release phase's
      start (``requires_grad`` over the student), plus its per-iteration
      ``train()`` / ``eval()`` toggling;
    - teacher update: :meth:`MeanTeacherHook.update_teacher` (EMA of
      parameters and buffers), once per phase (the paper's interval);
    - slot change: :func:`build_phase_dataloader` for each phase, timed
      up to its first batch (so it includes loading one batch); and, for
      loaders with workers, as the loop's ``prefetch_next_phase=True``
      runs it: started before the previous phase's last iteration, timed
      are its start and the wait for the first batch after a real train
      step.

    Slot time = the measured FoundationX + teacher step time of the task
    x the slot's iterations, ``ceil(lock_fraction * N / B) +
    ceil(release_fraction * N / B)`` with N = ``--slot-samples`` (default:
    the slot dataset's size; JSRT's 173 training images, the smallest
    Foundation X dataset, is the worst case) and B = ``--batch-size``.
(c) Data pipeline images/s of the slot datasets (``--data-config``, e.g.
    real JSRT with ``configs/_base_/datasets/jsrt.py``; else the config's
    own train slots), resized to ``--shape``, through the slot loader with
    the config's ``num_workers`` and with 0 workers (steady state: timed
    after the first batch), against the model's images/s (batch size /
    FoundationX + teacher step time). Target: data >= 2x model.

Example::

    FX_JSRT_ROOT=../shared/data/jsrt \\
    python tools/analysis_tools/benchmark.py \\
        configs/foundation_x/fx_swin-t_jsrt_multitask.py \\
        --data-config configs/_base_/datasets/jsrt.py --iters 10 \\
        --out docs/benchmarks.md
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import time
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger

from fx_mm.engine.hooks import LockReleaseHook, MeanTeacherHook
from fx_mm.engine.runner.slot_data import (build_phase_dataloader,
                                           phase_num_iters)
from fx_mm.registry import DATASETS, MODELS
from fx_mm.structures import SlotPhaseState

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_overhead  # noqa: E402

SWITCH_TARGET = 1.0  # percent of a slot's time
DATA_TARGET = 2.0  # data images/s over model images/s


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Step-time ratio, lock-release overhead and data '
        'throughput of an fx_mm training config')
    # config, --iters/--warmup (of (a) and (b)), --shape, --batch-size,
    # --tasks, --device, --seed, --cfg-options
    benchmark_overhead.add_step_args(parser)
    parser.add_argument(
        '--data-config',
        help='config whose train slots give the data of (b) and (c), e.g. '
        'configs/_base_/datasets/jsrt.py; defaults to CONFIG\'s')
    parser.add_argument(
        '--data-root', help='override the data_root of those datasets')
    parser.add_argument(
        '--slot-samples',
        type=int,
        help='training samples of the slot assumed in (b); defaults to the '
        'slot dataset\'s size')
    parser.add_argument(
        '--data-images',
        type=int,
        default=64,
        help='images timed per task and worker setting in (c)')
    parser.add_argument(
        '--num-workers',
        type=int,
        help='workers of (c); defaults to the data config\'s train '
        'loader / slot setting')
    parser.add_argument(
        '--out',
        help='append the tables with the machine description to this '
        'Markdown file (e.g. docs/benchmarks.md)')
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------
# configuration helpers


def _hook_cfg(cfg: Config, hook_type: str) -> dict:
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == hook_type:
            return dict(hook)
    return dict(type=hook_type)


def _set_resize(pipeline: List[dict], shape: int) -> None:
    for transform in pipeline:
        if transform.get('type') in ('mmdet.Resize', 'Resize'):
            transform['scale'] = (shape, shape)
            transform['keep_ratio'] = False
        elif transform.get('type') in ('mmpretrain.RandomResizedCrop',
                                       'RandomResizedCrop'):
            transform['scale'] = shape  # the cls train pipelines


def slot_datasets(cfg: Config, data_cfg: Optional[Config],
                  data_root: Optional[str], shape: int,
                  tasks: Sequence[str]) -> Dict[str, dict]:
    """``{task: dict(dataset=..., num_workers=...)}``: the first train
    slot of each task, its pipeline resized to ``shape``."""
    source = data_cfg if data_cfg is not None else cfg
    name = source.filename
    if source.get('train_cfg') and source.train_cfg.get('slots'):
        slots = source.train_cfg.slots
    elif source.get('train_slots'):
        slots = source.train_slots
    else:
        raise ValueError(f'{name}: has neither train_cfg.slots nor '
                         'train_slots')
    loader = source.get('train_dataloader') or {}
    found: Dict[str, dict] = {}
    for k, slot in enumerate(slots):
        dataset_cfg = copy.deepcopy(slot['dataset'])
        task = dataset_cfg.get('task')
        if task not in tasks or task in found:
            continue
        if data_root:
            dataset_cfg['data_root'] = data_root
        _set_resize(dataset_cfg.get('pipeline', []), shape)
        try:
            dataset = DATASETS.build(dataset_cfg)
        except Exception as err:
            raise RuntimeError(
                f'{name}: cannot build train slot {k} ({task}): {err}') \
                from err
        found[task] = dict(
            dataset=dataset,
            num_workers=int(
                slot.get('num_workers', loader.get('num_workers', 0))),
            collate_fn=slot.get('collate_fn', loader.get('collate_fn')))
    missing = [t for t in tasks if t not in found]
    if missing:
        raise ValueError(f'{name}: no train slot for task(s) {missing}')
    return found


# ---------------------------------------------------------------------------
# (b) lock / release, teacher update, slot change


def _ms(fn, device: str) -> float:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000.0


def time_switches(cfg: Config, slots: Dict[str, dict], tasks: Sequence[str],
                  batch_size: int, iters: int, warmup: int, device: str,
                  seed: int) -> Dict[str, dict]:
    """Median ms of each machinery part, per task."""
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.with_teacher = True
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.to(device).train()
    optim_wrappers = {
        task: benchmark_overhead._optim_wrapper(model)
        for task in tasks
    }
    lock_hook = LockReleaseHook(
        lock_tasks=_hook_cfg(cfg, 'LockReleaseHook').get(
            'lock_tasks', ('loc', 'seg')))
    teacher_weight = _hook_cfg(cfg,
                               'MeanTeacherHook').get('student_weight', 0.2)
    # the hooks read only these runner attributes
    logger = MMLogger.get_instance('fx_mm_tools')
    loop = SimpleNamespace(state=None)
    runner = SimpleNamespace(train_loop=loop, model=model, logger=logger)
    heads = {
        task: next(iter(cfg.model[f'{task}_branch'].datasets))
        for task in tasks
    }

    def hook_call(task: str, phase: str, cycle: int) -> None:
        loop.state = SlotPhaseState(
            cycle=cycle, phase=phase, dataset=heads[task], task=task)
        lock_hook.before_train_iter(runner, 0)

    results: Dict[str, dict] = {}
    for task in tasks:
        times: Dict[str, List[float]] = dict(
            lock=[],
            release=[],
            lock_iter=[],
            release_iter=[],
            teacher=[],
            loader=[],
            loader_cold=[])
        for rep in range(warmup + iters):
            cycle = 2 * rep
            parts = dict(
                lock=lambda: hook_call(task, 'lock', cycle),
                lock_iter=lambda: hook_call(task, 'lock', cycle),
                release=lambda: hook_call(task, 'release', cycle + 1),
                release_iter=lambda: hook_call(task, 'release', cycle + 1),
                teacher=lambda: MeanTeacherHook.update_teacher(
                    model.student, model.teacher, teacher_weight))
            for part, fn in parts.items():  # in the loop's order
                elapsed = _ms(fn, device)
                if rep >= warmup:
                    times[part].append(elapsed)
            slot = slots[task]
            pending = {}

            def start_loader() -> None:
                pending['batches'] = iter(
                    build_phase_dataloader(
                        slot['dataset'],
                        0.5,
                        batch_size,
                        seed + rep,
                        num_workers=slot['num_workers'],
                        collate_fn=slot['collate_fn']))

            def first_batch() -> None:
                pending['batch'] = next(pending['batches'])

            # the loop as configured without prefetching: the phase starts
            # its loader and waits for the first batch
            cold = _ms(start_loader, 'cpu') + _ms(first_batch, 'cpu')
            batch = pending['batch']
            pending.clear()  # its workers stop before the next timing
            if slot['num_workers'] > 0:
                # with prefetching (CyclicLockReleaseLoop): the loader
                # starts before the previous phase's last iteration, a
                # real train step, which its workers overlap
                started = _ms(start_loader, 'cpu')
                model.train_step(copy.deepcopy(batch), optim_wrappers[task])
                elapsed = started + _ms(first_batch, 'cpu')
            else:
                elapsed = cold
            # stop the workers (still prefetching further batches) before
            # the next repetition's timings, which they would slow down
            pending.clear()
            if rep >= warmup:
                times['loader'].append(elapsed)
                times['loader_cold'].append(cold)
        results[task] = {k: statistics.median(v) for k, v in times.items()}
        results[task]['locks'] = task in lock_hook.lock_tasks
    lock_hook.after_train(runner)
    return results


def switch_table(switch: Dict[str, dict], steps: Dict[str, float],
                 slot_sizes: Dict[str, int], batch_size: int,
                 fractions: dict) -> str:
    lines = [
        '| task | slot samples | slot iters | slot s | lock + release '
        'ms | toggling ms/slot | teacher updates ms | loaders ms, '
        'prefetched | share of slot | loaders ms, not prefetched | share of '
        'slot |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
        '---:|'
    ]
    for task, part in switch.items():
        n = slot_sizes[task]
        lock_iters = phase_num_iters(n, fractions['lock'], batch_size, 1)
        release_iters = phase_num_iters(n, fractions['release'], batch_size, 1)
        slot_ms = steps[task] * (lock_iters + release_iters)
        switch_ms = part['lock'] + part['release']
        toggle_ms = (
            lock_iters * part['lock_iter'] +
            release_iters * part['release_iter'])
        teacher_ms = 2 * part['teacher']  # once per phase
        loader_ms = 2 * part['loader']  # one loader per phase
        cold_ms = 2 * part['loader_cold']
        fixed_ms = switch_ms + toggle_ms + teacher_ms
        share = 100.0 * (fixed_ms + loader_ms) / slot_ms
        cold_share = 100.0 * (fixed_ms + cold_ms) / slot_ms
        flag = '' if share < SWITCH_TARGET else ' (!)'
        cold_flag = '' if cold_share < SWITCH_TARGET else ' (!)'
        lines.append(
            f'| {task} | {n} | {lock_iters} + {release_iters} | '
            f'{slot_ms / 1000:.1f} | {switch_ms:.2f} | {toggle_ms:.2f} | '
            f'{teacher_ms:.2f} | {loader_ms:.1f} | {share:.3f} %{flag} | '
            f'{cold_ms:.1f} | {cold_share:.3f} %{cold_flag} |')
    lines.append('')
    lines.append(
        'Per slot: one lock plan applied + one release (LockReleaseHook; '
        'cls locks nothing), the hook\'s train()/eval() toggling on every '
        'iteration, two teacher updates (MeanTeacherHook, once per phase) '
        'and two phase loaders (build_phase_dataloader, timed to the first '
        'batch, so one batch\'s loading is included). Prefetched '
        '(train_cfg.prefetch_next_phase=True, loaders with workers): the '
        'loader starts before the previous phase\'s last iteration, and '
        'its start plus the wait for the first batch after that real train '
        'step count (the default); not prefetched: start and first batch. '
        'Slot '
        'time ASSUMED = '
        'FoundationX + teacher step time from (a) x the slot\'s iterations '
        f'(lock_fraction={fractions["lock"]}, release_fraction='
        f'{fractions["release"]}, batch {batch_size}). Target: < '
        f'{SWITCH_TARGET} % (!) marks a miss.')
    return '\n'.join(lines)


# ---------------------------------------------------------------------------
# (c) data pipeline throughput


def data_images_per_s(slot: dict, batch_size: int, num_workers: int,
                      images: int, seed: int) -> float:
    """Steady-state images/s of the slot loader (after its first batch)."""
    dataset = slot['dataset']
    fraction = max(images + batch_size, 1) / len(dataset)
    loader = build_phase_dataloader(
        dataset,
        fraction,
        batch_size,
        seed,
        num_workers=num_workers,
        collate_fn=slot['collate_fn'])
    iterator = iter(loader)
    next(iterator)
    count = 0
    start = time.perf_counter()
    for batch in iterator:
        count += len(batch['inputs'])
        if count >= images:
            break
    elapsed = time.perf_counter() - start
    if count == 0:
        raise ValueError('--data-images too small: no batch after the first')
    return count / elapsed


def data_table(slots: Dict[str, dict], model_ips: Dict[str, float],
               batch_size: int, images: int, workers: Optional[int], seed: int,
               shape: int) -> str:
    lines = [
        '| task | dataset | workers | data img/s | data img/s (0 workers) '
        '| model img/s | data / model | data / model (0 workers) |',
        '|---|---|---:|---:|---:|---:|---:|---:|'
    ]
    for task, slot in slots.items():
        n_workers = slot['num_workers'] if workers is None else workers
        with_workers = data_images_per_s(slot, batch_size, n_workers, images,
                                         seed)
        no_workers = data_images_per_s(slot, batch_size, 0, images, seed)
        ratio = with_workers / model_ips[task]
        flag = '' if ratio >= DATA_TARGET else ' (!)'
        name = getattr(slot['dataset'], 'dataset_name', '?')
        lines.append(f'| {task} | {name} | {n_workers} | {with_workers:.1f} '
                     f'| {no_workers:.1f} | {model_ips[task]:.1f} | '
                     f'{ratio:.2f}{flag} | '
                     f'{no_workers / model_ips[task]:.2f} |')
    lines.append('')
    lines.append(
        f'Data: the slot dataset\'s train pipeline resized to {shape} px '
        'through the slot loader (build_phase_dataloader), images/s after '
        f'the first batch over {images} images. Model: batch {batch_size} / '
        'FoundationX + teacher step time from (a). Target: data / model >= '
        f'{DATA_TARGET} with the configured workers; (!) marks a miss.')
    return '\n'.join(lines)


# ---------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    cfg = benchmark_overhead.load_config(args)
    data_cfg = Config.fromfile(args.data_config) if args.data_config \
        else None
    train_cfg = cfg.get('train_cfg') or ConfigDict()
    fractions = dict(
        lock=train_cfg.get('lock_fraction', 0.5),
        release=train_cfg.get('release_fraction', 1.0))

    # (a)
    results, weight = benchmark_overhead.run_benchmark(
        cfg, args.tasks, args.shape, args.batch_size, args.iters, args.warmup,
        args.device, None, args.seed, args.rounds)
    tasks = [r['task'] for r in results]
    steps = {r['task']: r['fx_teacher_ms'] for r in results}
    table_a = benchmark_overhead.format_table(results, weight)

    # (b)
    slots = slot_datasets(cfg, data_cfg, args.data_root, args.shape, tasks)
    switch = time_switches(cfg, slots, tasks, args.batch_size, args.iters,
                           args.warmup, args.device, args.seed)
    slot_sizes = {
        task: args.slot_samples or len(slots[task]['dataset'])
        for task in tasks
    }
    table_b = switch_table(switch, steps, slot_sizes, args.batch_size,
                           fractions)

    # (c)
    model_ips = {
        task: args.batch_size * 1000.0 / ms
        for task, ms in steps.items()
    }
    table_c = data_table(slots, model_ips, args.batch_size, args.data_images,
                         args.num_workers, args.seed, args.shape)

    data_name = args.data_config or args.config
    header = (f'Config: `{args.config}`, data: `{data_name}`, input '
              f'{args.shape}x{args.shape}, batch {args.batch_size}, medians '
              f'of {args.iters} repetitions after {args.warmup} warm-up; '
              f'(a): {args.rounds} rounds')
    report = '\n\n'.join([
        header, '### (a) Train-step time vs single-task models', table_a,
        '### (b) Lock-release, teacher update and slot change per slot',
        table_b, '### (c) Data pipeline vs model throughput', table_c
    ])
    print(report)
    if args.out:
        with open(args.out, 'a') as f:
            f.write('\n## Efficiency benchmark ('
                    f'{benchmark_overhead.machine_info(args.device)})\n\n'
                    f'{report}\n')
        print(f'\nappended to {args.out}')
    return report


if __name__ == '__main__':
    main()
