# Copyright (c) fx_mm contributors. All rights reserved.
"""Multi-task vs single-task ablation of a Cyclic & Lock-Release config.

Trains and tests, one after another, each through ``tools/train.py`` and
``tools/test.py --model-key teacher student``:

- ``multi-task``: the config as it is (every train slot, lock + release);
- ``single-task_<task>``: for each task of the train slots, the same config
  restricted to that task's train / val / test slots and metrics.

Same budget: a single-task run trains its slots for the same cycles and
the same number of iterations per slot as the multi-task run
(``lock_fraction + release_fraction`` of a pass per cycle), all of it as
one release phase (``lock_fraction=0``): with one task there is nothing
to lock against, so the single-task model is trained the plain way. Model,
initialisation seed, optimiser, schedule, batch size and mean teacher are
the config's in every run. The multi-task model therefore costs the sum of
the single-task models' iterations and gives one network instead of N.

Which part of the method does what (``--variants``), each trained with
the multi-task run's slots, iterations and seed:

- ``no-lock``: no lock phase, every slot's budget as one release phase
  (plain round-robin multi-task training);
- ``no-consistency``: the mean teacher is kept (EMA, predictions) but
  the student-teacher feature-consistency loss is off.

Several seeds (``--seeds 0 1 2``): every run is repeated with
``randomness.seed`` set to each (the seed of the weight init, the data
order and the augmentations), in ``--work-dir/seed_<seed>/<run>/``, and the
summary gives mean +- sd (sample sd over the seeds) of each metric and of
each paired difference "variant - single-task".

Writes ``ablation.md`` / ``ablation.json`` into ``--work-dir`` (one row
per (dataset, task, network): each run's metric and the difference
multi-task - single-task) and prints the table. Each run keeps its
config, logs, checkpoint and results table in its run folder;
``--reuse`` skips runs whose ``results.json`` already exists.

Example (real JSRT, nodule cls + nodule loc + organ seg)::

    FX_JSRT_ROOT=../shared/data/jsrt \\
    python tools/analysis_tools/multitask_ablation.py \\
        configs/foundation_x/fx_swin-t_jsrt_multitask.py \\
        --work-dir work_dirs/jsrt_ablation

The cross-task study of docs/results.md (3 seeds, both variants)::

    FX_JSRT_ROOT=../shared/data/jsrt \\
    python tools/analysis_tools/multitask_ablation.py \\
        configs/foundation_x/fx_swin-t_jsrt_cross-task.py \\
        --work-dir work_dirs/jsrt_cross-task --seeds 0 1 2 \\
        --variants no-lock no-consistency
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

# the results tables: ./ablation_summary.py (the script's folder)
from ablation_summary import (MULTI_TASK, SINGLE_TASK, ablation_report,
                              ablation_rows, headline_metrics)
from mmengine.config import Config, DictAction

from fx_mm.engine.runner.slot_data import phase_num_iters
from fx_mm.registry import DATASETS, METRICS
from fx_mm.utils import register_all_modules

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VARIANTS = ('no-lock', 'no-consistency')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Multi-task (lock-release) vs single-task models with '
        'the same per-task budget')
    parser.add_argument('config', help='a multi-slot fx_mm train config')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument(
        '--reuse',
        action='store_true',
        help='skip runs that already have a results.json')
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        help='repeat every run with each of these seeds (randomness.seed) '
        'and report mean +- sd; default: the config\'s seed, once')
    parser.add_argument(
        '--variants',
        nargs='+',
        default=[],
        choices=VARIANTS,
        help='multi-task runs without a part of the method: no-lock '
        '(plain round-robin), no-consistency (no teacher consistency loss)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides for every run, as for tools/train.py')
    return parser.parse_args(argv)


def _slot_task(slot: dict) -> str:
    """The task of a slot config (its dataset config's ``task``)."""
    dataset = slot['dataset']
    task = dataset.get('task') if isinstance(dataset, dict) else None
    if task is None:
        raise ValueError(
            f'a slot dataset config without `task`: {dataset}; the ablation '
            'needs the task written in each slot\'s dataset config')
    return task


def _metric_task(metric: dict) -> str:
    metric_cls = METRICS.get(metric['type'])
    task = getattr(metric_cls, 'task', None)
    if task is None:
        raise ValueError(f'metric {metric["type"]} has no task: the '
                         'ablation splits evaluators by fx_mm metric task')
    return task


def _filter_evaluator(evaluator, task: str):
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        return dict(
            evaluator,
            metrics=[
                m for m in evaluator['metrics'] if _metric_task(m) == task
            ])
    if isinstance(evaluator, dict):
        evaluator = [evaluator]
    return [m for m in evaluator if _metric_task(m) == task]


def train_tasks(cfg: Config) -> List[str]:
    """The tasks of the train slots, in slot order."""
    return list(dict.fromkeys(_slot_task(s) for s in cfg.train_cfg.slots))


def single_task_config(cfg: Config, task: str) -> Config:
    """``cfg`` restricted to ``task``'s slots and metrics, trained with
    the same iterations per slot and cycle as one release phase."""
    if task not in train_tasks(cfg):
        raise ValueError(f'no {task!r} train slot in the config; tasks: '
                         f'{train_tasks(cfg)}')
    cfg = Config(cfg.to_dict(), filename=cfg.filename)
    train_cfg = cfg.train_cfg
    budget = train_cfg.get('lock_fraction', 0.5) + train_cfg.get(
        'release_fraction', 1.0)
    train_cfg.slots = [s for s in train_cfg.slots if _slot_task(s) == task]
    train_cfg.lock_fraction = 0.0
    train_cfg.release_fraction = budget
    for loop, evaluator in (('val_cfg', 'val_evaluator'), ('test_cfg',
                                                           'test_evaluator')):
        if cfg.get(loop) and 'slots' in cfg[loop]:
            cfg[loop].slots = [
                s for s in cfg[loop].slots if _slot_task(s) == task
            ]
        if cfg.get(evaluator):
            cfg[evaluator] = _filter_evaluator(cfg[evaluator], task)
    return cfg


def no_lock_config(cfg: Config) -> Config:
    """``cfg`` with the same slots and iterations per slot and cycle, all
    of them as one release phase: plain round-robin multi-task training."""
    cfg = Config(cfg.to_dict(), filename=cfg.filename)
    train_cfg = cfg.train_cfg
    train_cfg.release_fraction = train_cfg.get(
        'lock_fraction', 0.5) + train_cfg.get('release_fraction', 1.0)
    train_cfg.lock_fraction = 0.0
    return cfg


def no_consistency_config(cfg: Config) -> Config:
    """``cfg`` without the student-teacher consistency loss; the mean
    teacher is still updated and evaluated."""
    model = cfg.model
    if not model.get('with_teacher', True) or not model.get(
            'consistency_weight', 0):
        raise ValueError(
            f'{cfg.filename}: the model has no teacher consistency loss '
            '(with_teacher / consistency_weight); no-consistency would be '
            'the multi-task run itself')
    cfg = Config(cfg.to_dict(), filename=cfg.filename)
    cfg.model.consistency_weight = 0.0
    return cfg


VARIANT_CONFIGS = {
    'no-lock': no_lock_config,
    'no-consistency': no_consistency_config
}


def seeded_config(cfg: Config, seed: Optional[int]) -> Config:
    """``cfg`` with ``randomness.seed = seed`` (``None``: as it is)."""
    if seed is None:
        return cfg
    cfg = Config(cfg.to_dict(), filename=cfg.filename)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    return cfg


def study_runs(cfg: Config, variants: Sequence[str] = ()) -> Dict[str, Config]:
    """``{run name: config}``: the multi-task run, the chosen variants and
    one single-task run per task of the train slots."""
    runs = {MULTI_TASK: cfg}
    for variant in variants:
        runs[variant] = VARIANT_CONFIGS[variant](cfg)
    tasks = train_tasks(cfg)
    if len(tasks) < 2:
        raise ValueError(f'{cfg.filename}: the train slots hold one task '
                         'only; nothing to compare')
    for task in tasks:
        runs[f'{SINGLE_TASK}_{task}'] = single_task_config(cfg, task)
    return runs


def _run(cmd: List[str], log_path: str) -> float:
    """Run ``cmd`` from the repository root, output to ``log_path``;
    returns the wall time in seconds."""
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed (exit '
                           f'{proc.returncode}); see {log_path}')
    return time.perf_counter() - start


def train_and_test(cfg: Config, run_dir: str) -> dict:
    """Train ``cfg`` in ``run_dir`` and test its last checkpoint (teacher
    and student). Returns the run's record."""
    os.makedirs(run_dir, exist_ok=True)
    config = osp.join(run_dir, 'config.py')
    cfg.dump(config)
    python = sys.executable
    train_s = _run([python, 'tools/train.py', config, '--work-dir', run_dir],
                   osp.join(run_dir, 'train_stdout.log'))
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    test_s = _run([
        python, 'tools/test.py', config, checkpoint, '--work-dir', run_dir,
        '--model-key', 'teacher', 'student'
    ], osp.join(run_dir, 'test_stdout.log'))
    record = dict(
        checkpoint=checkpoint,
        train_seconds=round(train_s, 1),
        test_seconds=round(test_s, 1))
    with open(osp.join(run_dir, 'run.json'), 'w') as f:
        json.dump(record, f, indent=2)
    return record


def train_iterations(cfg: Config) -> int:
    """Iterations of ``cfg``'s cyclic loop (single process)."""
    train_cfg = cfg.train_cfg
    batch_size = cfg.train_dataloader.batch_size
    per_cycle = 0
    for slot in train_cfg.slots:
        size = len(DATASETS.build(slot['dataset']))
        for phase in ('lock', 'release'):
            fraction = train_cfg.get(f'{phase}_fraction',
                                     0.5 if phase == 'lock' else 1.0)
            per_cycle += phase_num_iters(size, fraction,
                                         slot.get('batch_size', batch_size), 1)
    return per_cycle * train_cfg.max_cycles


def run_study(run_cfgs: Dict[str, Config],
              work_dir: str,
              seed: Optional[int],
              reuse: bool = False) -> tuple:
    """Train and test every run of :func:`study_runs` with one seed;
    returns (rows, runs)."""
    seed_dir = work_dir if seed is None else osp.join(work_dir, f'seed_{seed}')
    results, runs = {}, {}
    for name, run_cfg in run_cfgs.items():
        run_cfg = seeded_config(run_cfg, seed)
        run_dir = osp.join(seed_dir, name)
        label = name if seed is None else f'{name} (seed {seed})'
        results_json = osp.join(run_dir, 'results.json')
        run_json = osp.join(run_dir, 'run.json')
        if reuse and osp.isfile(results_json) and osp.isfile(run_json):
            print(f'[ablation] {label}: reusing {results_json}')
            with open(run_json) as f:
                record = json.load(f)
        else:
            print(
                f'[ablation] {label}: training and testing in {run_dir}',
                flush=True)
            run_cfg.work_dir = run_dir
            record = train_and_test(run_cfg, run_dir)
            print(
                f'[ablation] {label}: trained in '
                f'{record["train_seconds"]} s',
                flush=True)
        record['iterations'] = train_iterations(run_cfg)
        runs[label] = record
        results[name] = headline_metrics(results_json)
    return ablation_rows(results), runs


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # the configs of every run are built (and checked) before any trains
    run_cfgs = study_runs(cfg, args.variants)

    seeds = args.seeds or [None]
    rows_per_seed, runs = {}, {}
    for seed in seeds:
        rows, seed_runs = run_study(run_cfgs, args.work_dir, seed, args.reuse)
        rows_per_seed[str(seed)] = rows
        runs.update(seed_runs)

    table, report = ablation_report(rows_per_seed, runs, args.seeds)
    with open(osp.join(args.work_dir, 'ablation.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.work_dir, 'ablation.json'), 'w') as f:
        json.dump(report, f, indent=2)
    print('\n' + table)
    return table


if __name__ == '__main__':
    main()
