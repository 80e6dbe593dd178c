# Copyright (c) fx_mm contributors. All rights reserved.
"""tools/analysis_tools/plot_slots.py on a real (tiny, resumed) training
run, tools/analysis_tools/benchmark.py at tiny settings and
tools/analysis_tools/multitask_ablation.py on a tiny two-task config (its
tables: ablation_summary.py)."""
import json
import math
import os
import os.path as osp
import re
import sys

import matplotlib.image as mpimg
import pytest
import torch

from fx_test_utils import (REPO_ROOT, run_train, tiny_demo_config,
                           tiny_two_slot_config, write_config)

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
import ablation_summary  # noqa: E402
import benchmark  # noqa: E402
import benchmark_overhead  # noqa: E402
import gpu_benchmark  # noqa: E402
import multitask_ablation  # noqa: E402
import plot_slots  # noqa: E402
import transfer_matrix  # noqa: E402


@pytest.fixture
def trained_work_dir(resumed_two_slot_run):
    """Cycle 1, then `--resume` into cycle 2: two timestamp dirs (the
    session's shared run, conftest.py)."""
    return resumed_two_slot_run['work_dir']


def logged_values(work_dir: str, key: str) -> set:
    """The values of `key` printed in the text logs (4 decimals)."""
    values = set()
    for run in plot_slots.find_run_dirs(work_dir):
        name = osp.basename(run)
        with open(osp.join(run, f'{name}.log')) as f:
            values.update(re.findall(rf'{key}: ([\d.]+)', f.read()))
    return values


def test_plot_slots_reads_resumed_run(trained_work_dir, tmp_path):
    runs = plot_slots.find_run_dirs(trained_work_dir)
    assert len(runs) == 2
    series, iters_per_cycle, used = plot_slots.load_run(trained_work_dir)
    assert used == runs  # the resumed dir continues the first
    assert iters_per_cycle == 6  # 2 slots x (1 lock + 2 release)
    for network in ('student', 'teacher'):
        dice = series[(network, 'phantom_a', 'seg', 'Dice')]
        # seg validated after its slot (end of each cycle); the cls-slot
        # validations in between re-log the old seg value (stale copies)
        assert sorted(dice) == [6, 12]
        printed = logged_values(trained_work_dir,
                                f'{network}/phantom_a/seg/Dice')
        assert {f'{v:.4f}' for v in dice.values()} <= printed
        # the cls slot is validated after iteration 3 of each cycle
        assert min(series[(network, 'phantom_a', 'cls', 'AUC')]) == 3

    out = str(tmp_path / 'curves.png')
    assert plot_slots.main([trained_work_dir, '--out', out]) == out
    image = mpimg.imread(out)
    # 2 panels (phantom_a cls, phantom_a seg) side by side at 100 dpi
    assert image.shape[:2] == (320, 840)
    assert os.path.getsize(out) > 10_000


def test_plot_slots_without_metrics(trained_work_dir, tmp_path):
    # a run dir holding only the training records of the real run
    first = plot_slots.find_run_dirs(trained_work_dir)[0]
    records = plot_slots.read_scalars(
        osp.join(first, 'vis_data', 'scalars.json'))
    train_only = [r for r in records if not plot_slots.val_points(r)]
    assert train_only and len(train_only) < len(records)
    vis = tmp_path / 'work' / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(''.join(
        json.dumps(r) + '\n' for r in train_only))
    with pytest.raises(ValueError, match='no validation metrics found'):
        plot_slots.main([str(tmp_path / 'work')])
    with pytest.raises(ValueError, match='TASK/METRIC'):
        plot_slots.main([trained_work_dir, '--metrics', 'Dice'])


def test_benchmark_prints_three_sections(tmp_path, capsys):
    cfg = tiny_demo_config(str(tmp_path), num_images=8, image_size=64)
    # a worker process: (b) times the prefetched phase loaders
    cfg.train_dataloader.num_workers = 1
    config = write_config(cfg, str(tmp_path / 'tiny.py'))
    out = tmp_path / 'bench.md'
    report = benchmark.main([
        config, '--iters', '1', '--warmup', '0', '--shape', '64',
        '--tasks', 'cls', 'seg', '--data-images', '2', '--num-workers', '0',
        '--slot-samples', '100', '--out', str(out)
    ])
    for section in ('### (a)', '### (b)', '### (c)'):
        assert section in report
    # one row per task in each table
    for task in ('cls', 'seg'):
        assert len(re.findall(rf'^\| {task} \|', report, re.M)) == 3
    # (b): 100 samples, batch 2 -> ceil(50/2) + ceil(100/2) iterations
    assert '| cls | 100 | 25 + 50 |' in report
    assert 'loaders ms, not prefetched' in report
    written = out.read_text()
    assert written.startswith('\n## Efficiency benchmark (CPU')
    assert report in written


def test_single_task_config_keeps_one_task_and_its_budget(tmp_path):
    # 12 phantoms -> 6 train images per slot, batch 2: a multi-task slot
    # runs ceil(3/2) + ceil(6/2) = 5 iterations, a single-task slot
    # ceil(9/2) = 5 as one release phase
    cfg = tiny_demo_config(str(tmp_path), num_images=12, batch_size=2)
    tasks = multitask_ablation.train_tasks(cfg)
    assert tasks == ['cls', 'loc', 'seg']
    total = 0
    for task in tasks:
        single = multitask_ablation.single_task_config(cfg, task)
        for loop in (single.train_cfg, single.val_cfg, single.test_cfg):
            assert {s.dataset.task for s in loop.slots} == {task}
            assert len(loop.slots) == 2  # phantom_a and phantom_b
        for evaluator in (single.val_evaluator, single.test_evaluator):
            assert {multitask_ablation._metric_task(m)
                    for m in evaluator} == {task}
            assert len(evaluator) == 2
        assert single.train_cfg.lock_fraction == 0
        assert single.train_cfg.release_fraction == 1.5
        total += multitask_ablation.train_iterations(single)
    # the source config is left as it was
    assert len(cfg.train_cfg.slots) == 6 and cfg.train_cfg.lock_fraction
    assert multitask_ablation.train_iterations(cfg) == total == 6 * 5
    with pytest.raises(ValueError, match="no 'cls' train slot"):
        multitask_ablation.single_task_config(
            multitask_ablation.single_task_config(cfg, 'seg'), 'cls')


def test_study_variants_keep_the_budget(tmp_path):
    """no-lock: one release phase of the same length; no-consistency: the
    teacher kept, its consistency loss off; --seeds: randomness.seed."""
    cfg = tiny_demo_config(str(tmp_path), num_images=12, batch_size=2)
    cfg.model.consistency_weight = 0.5
    runs = multitask_ablation.study_runs(cfg, ['no-lock', 'no-consistency'])
    assert list(runs) == [
        'multi-task', 'no-lock', 'no-consistency', 'single-task_cls',
        'single-task_loc', 'single-task_seg'
    ]
    no_lock = runs['no-lock']
    assert no_lock.train_cfg.lock_fraction == 0
    assert no_lock.train_cfg.release_fraction == 1.5
    assert no_lock.train_cfg.slots == cfg.train_cfg.slots
    # 6 train images per slot, batch 2: ceil(9/2) = 5 = ceil(3/2) + ceil(6/2)
    assert multitask_ablation.train_iterations(no_lock) == \
        multitask_ablation.train_iterations(cfg) == 6 * 5
    no_consistency = runs['no-consistency']
    assert no_consistency.model.consistency_weight == 0
    assert no_consistency.model.with_teacher
    assert no_consistency.train_cfg == cfg.train_cfg
    # the source config is left as it was
    assert cfg.model.consistency_weight == 0.5
    assert cfg.train_cfg.lock_fraction == 0.5
    seeded = multitask_ablation.seeded_config(cfg, 7)
    assert seeded.randomness.seed == 7 and cfg.randomness.seed == 0
    assert multitask_ablation.seeded_config(cfg, None) is cfg

    cfg.model.consistency_weight = 0.0
    with pytest.raises(ValueError, match='no teacher consistency loss'):
        multitask_ablation.study_runs(cfg, ['no-consistency'])


def test_study_summary_over_seeds():
    """Mean and sample sd of each run's metric and of the paired
    differences to the single-task run, matched by (dataset, task,
    network) whatever the row order of a seed."""

    def results(multi, no_lock, single):
        return {
            'multi-task': {
                ('jsrt', 'seg', 'teacher'): multi,
                ('jsrt', 'cls', 'teacher'): multi - 10
            },
            'no-lock': {
                ('jsrt', 'seg', 'teacher'): no_lock,
                ('jsrt', 'cls', 'teacher'): math.nan
            },
            'single-task_seg': {
                ('jsrt', 'seg', 'teacher'): single
            },
            'single-task_cls': {
                ('jsrt', 'cls', 'teacher'): single - 10
            },
        }

    seeds = {
        '0':
        ablation_summary.ablation_rows(results(80.0, 78.0, 79.0)),
        '1':
        ablation_summary.ablation_rows(results(84.0, 79.0, 80.0)),
        '2':
        list(
            reversed(
                ablation_summary.ablation_rows(results(82.0, 80.0, 75.0)))),
    }
    summary = ablation_summary.summarise(seeds)
    seg = next(r for r in summary if r['task'] == 'seg')
    assert seg['seeds'] == 3
    assert seg['multi_task']['mean'] == pytest.approx(82.0)
    assert seg['multi_task']['sd'] == pytest.approx(2.0)
    assert seg['single_task']['values'] == [79.0, 80.0, 75.0]
    # paired: 1, 4, 7 -> mean 4, sd 3
    assert seg['multi_task - single_task']['mean'] == pytest.approx(4.0)
    assert seg['multi_task - single_task']['sd'] == pytest.approx(3.0)
    assert seg['no-lock - single_task']['values'] == [-1.0, -1.0, 5.0]
    cls = next(r for r in summary if r['task'] == 'cls')
    assert math.isnan(cls['no-lock']['mean'])
    table = ablation_summary.format_summary(summary, {})
    assert '| jsrt | seg | Dice | teacher | 82.00 ± 2.00 | 79.00 ± 1.00 ' \
        in table
    assert '| +4.00 ± 3.00 |' in table
    assert 'Mean ± sd over 3 seeds.' in table
    # the report: the same table; JSON with null for NaN, nested too
    same, report = ablation_summary.ablation_report(seeds, {}, [0, 1, 2])
    assert same == table and report['seeds'] == [0, 1, 2]
    json.dumps(report, allow_nan=False)
    cls = next(r for r in report['summary'] if r['task'] == 'cls')
    assert cls['no-lock'] == dict(mean=None, sd=None, values=[None] * 3)
    assert cls['multi_task']['values'] == [70.0, 74.0, 72.0]


# 4 tiny trainings + tests in subprocesses (about 4.5 min on 2 cores): the
# study's parts are in the default run (test_study_variants_keep_the_budget,
# test_study_summary_over_seeds), the whole tool with -m slow
@pytest.mark.slow
def test_multitask_ablation_trains_and_compares(tmp_path, capsys):
    cfg = tiny_two_slot_config(str(tmp_path))
    config = write_config(cfg, str(tmp_path / 'tiny.py'))
    work_dir = tmp_path / 'ablation'
    table = multitask_ablation.main(
        [config, '--work-dir',
         str(work_dir), '--variants', 'no-lock'])
    report = json.loads((work_dir / 'ablation.json').read_text())
    runs = report['runs']
    assert set(runs) == {
        'multi-task', 'no-lock', 'single-task_cls', 'single-task_seg'
    }
    assert runs['no-lock']['iterations'] == 6
    # 4 train images, batch 2: (1 lock + 2 release) per slot or 3 release
    assert runs['multi-task']['iterations'] == 6
    assert runs['single-task_cls']['iterations'] == 3
    for name, run in runs.items():
        # a real checkpoint of the run's last iteration
        assert run['checkpoint'].endswith(f'iter_{run["iterations"]}.pth')
        assert osp.isfile(run['checkpoint'])
    # the single-task runs tested their own task only
    seg_only = json.loads(
        (work_dir / 'single-task_seg' / 'results.json').read_text())
    assert {row['cls AUC'] for row in seg_only['table']} == {None}
    rows = report['rows']
    assert {(r['task'], r['network'])
            for r in rows} == {(t, n)
                               for t in ('cls', 'seg')
                               for n in ('teacher', 'student')}
    for row in rows:
        run = 'single-task_' + row['task']
        metric = f'{row["network"]}/phantom_a/{row["task"]}/{row["metric"]}'
        single = json.loads(
            (work_dir / run / 'results.json').read_text())['metrics'][metric]
        multi = json.loads((work_dir / 'multi-task' /
                            'results.json').read_text())['metrics'][metric]
        no_lock = json.loads((work_dir / 'no-lock' /
                              'results.json').read_text())['metrics'][metric]
        assert row['single_task'] == single and row['multi_task'] == multi
        assert row['no-lock'] == no_lock
        assert row['difference'] == pytest.approx(multi - single)
    assert (work_dir / 'ablation.md').read_text().strip() == table
    # --reuse reads the finished runs instead of training again
    log = work_dir / 'multi-task' / 'train_stdout.log'
    mtime = log.stat().st_mtime
    capsys.readouterr()
    again = multitask_ablation.main([
        config, '--work-dir',
        str(work_dir), '--variants', 'no-lock', '--reuse'
    ])
    assert again == table and log.stat().st_mtime == mtime
    assert capsys.readouterr().out.count(': reusing ') == 4


def test_benchmark_overhead_rounds(tmp_path, monkeypatch, capsys):
    """Each ratio over >= 3 interleaved rounds: min / median / max; one
    slow round does not flag the target."""
    cfg = tiny_demo_config(str(tmp_path), num_images=8, image_size=64)
    config = write_config(cfg, str(tmp_path / 'tiny.py'))
    assert benchmark_overhead.parse_args([config]).rounds == 3
    calls = []

    def scripted_step(model, optim, data, device):
        # 3 variants per repetition, 1 repetition per round: the
        # FoundationX steps of the 2nd round are 3x slower
        calls.append(type(model).__name__)
        slow = type(model).__name__ == 'FoundationX' and \
            (len(calls) - 1) // 3 == 1
        return 30.0 if slow else 10.0

    monkeypatch.setattr(benchmark_overhead, '_timed_step', scripted_step)
    table = benchmark_overhead.main([
        config, '--iters', '1', '--warmup', '0', '--shape', '64', '--tasks',
        'cls', '--rounds', '3'
    ])
    assert len(calls) == 9
    assert '| 1.000 (1.000-3.000) |' in table and '(!) |' not in table
    assert 'median (min-max) over 3 round(s)' in table
    assert '3 rounds of 1 steps' in capsys.readouterr().out
    with pytest.raises(ValueError, match='--rounds must be >= 1'):
        benchmark_overhead.main([config, '--rounds', '0'])


# a real 2-cycle run with val_scope='all' (~2 min on 2 cores): kept out of
# the default run to hold it under 30 min; `pytest -m slow` runs it
@pytest.mark.slow
def test_transfer_matrix_from_a_real_run(tmp_path, capsys):
    """2 cycles of 2 slots, every val slot validated after every slot:
    each cell is the logged change over that slot's training."""
    cfg = tiny_two_slot_config(str(tmp_path))
    cfg.train_cfg.max_cycles = 2
    cfg.train_cfg.val_scope = 'all'
    cfg.train_cfg.val_at_cycle_end = False
    config = write_config(cfg, str(tmp_path / 'tiny.py'))
    run_train(config, timeout=600)
    out = str(tmp_path / 'matrix' / 'transfer.png')
    result = transfer_matrix.main(
        [str(tmp_path), '--out', out, '--metrics', 'cls/AUC', 'seg/Dice'])
    assert mpimg.imread(out).shape[2] in (3, 4)
    slots = ['phantom_a/cls', 'phantom_a/seg']
    assert result['slots'] == slots
    # the metrics as logged, by step: slots end at iterations 3, 6, 9, 12
    logged = {}
    for run in plot_slots.find_run_dirs(str(tmp_path)):
        for record in plot_slots.read_scalars(
                osp.join(run, 'vis_data', 'scalars.json')):
            for key, value in plot_slots.val_points(record).items():
                logged[key + (record['step'], )] = value
    for network in ('student', 'teacher'):
        matrix = result[network]
        assert matrix['columns'] == [
            'phantom_a/cls/AUC', 'phantom_a/seg/Dice'
        ]
        for col, (task, metric) in enumerate((('cls', 'AUC'),
                                              ('seg', 'Dice'))):

            def change(before, after):
                keys = [(network, 'phantom_a', task, metric, step)
                        for step in (before, after)]
                diff = logged[keys[1]] - logged[keys[0]]
                # an AUC of 2 val images of one class is NaN: no change
                return None if math.isnan(diff) else pytest.approx(diff)

            # slot 1: only cycle 2 has a validation before it
            assert matrix['per_cycle'][0][col] == [None, change(6, 9)]
            assert matrix['per_cycle'][1][col] == [
                change(3, 6), change(9, 12)
            ]
            if task == 'seg':
                assert matrix['mean'][1][col] == pytest.approx(
                    (logged[(network, 'phantom_a', 'seg', 'Dice', 6)] -
                     logged[(network, 'phantom_a', 'seg', 'Dice', 3)] +
                     logged[(network, 'phantom_a', 'seg', 'Dice', 12)] -
                     logged[(network, 'phantom_a', 'seg', 'Dice', 9)]) / 2)
    stem = osp.splitext(out)[0]
    with open(f'{stem}.json') as f:
        assert json.load(f)['slots'] == slots
    with open(f'{stem}.md') as f:
        table = f.read()
    assert '| slot trained | phantom_a/cls/AUC | phantom_a/seg/Dice |' \
        in table
    assert '### teacher' in table and '### student' in table


def test_transfer_matrix_needs_val_scope_all(tmp_path):
    """val_scope='slots' validates each slot alone: no metric is validated
    twice one slot apart, which the tool says."""
    run = tmp_path / '20260101_000000'
    (run / 'vis_data').mkdir(parents=True)
    lines = [
        f'cycle 1/1 | slot {s}/2 phantom_a/{t} | {p} phase: {n} iterations'
        for s, t in ((1, 'cls'), (2, 'seg'))
        for p, n in (('lock', 1), ('release', 2))
    ]
    (run / '20260101_000000.log').write_text('\n'.join(lines) + '\n')
    (run / 'vis_data' / 'scalars.json').write_text(
        json.dumps({'student/phantom_a/cls/AUC': 60.0, 'step': 3}) + '\n' +
        json.dumps({'student/phantom_a/seg/Dice': 20.0, 'step': 6}) + '\n')
    with pytest.raises(ValueError, match="val_scope='all'"):
        transfer_matrix.main([str(tmp_path), '--out', str(tmp_path / 'm.png')])


def test_gpu_benchmark_dry_run(tmp_path, capsys):
    """The paper-size GPU benchmark checked on the CPU: tiny models, one
    step each, fp32 and (bf16 autocast) amp, the table with its ratios."""
    out = tmp_path / 'gpu.md'
    table = gpu_benchmark.main(
        ['--dry-run', '--tasks', 'cls', '--out', str(out)])
    rows = re.findall(r'^\| cls \| (fp32|bf16 autocast \(CPU\)) \| ([^|]+) \|'
                      r' ([\d.]+) \| ([\d.]+) \|', table, re.M)
    assert [(p, m.strip()) for p, m, _, _ in rows] == [
        (p, m) for p in ('fp32', 'bf16 autocast (CPU)')
        for m in ('mmpretrain ImageClassifier', 'FoundationX',
                  'FoundationX + teacher')
    ]
    for _, _, ms, img_s in rows:  # img/s = batch 2 / step time
        assert float(img_s) == pytest.approx(2000 / float(ms), rel=0.05,
                                             abs=0.06)
    assert 'batch 2' in table and 'DRY RUN' in table
    assert out.read_text().startswith('\n## GPU throughput, paper size')
    assert table in capsys.readouterr().out
    # the real run needs a GPU
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            gpu_benchmark.main(['--tasks', 'cls'])
        assert 'no CUDA device' in capsys.readouterr().err
    args = gpu_benchmark.parse_args(['--dry-run'])
    assert (args.batch_size, args.shape, args.iters) == (2, 64, 1)


def test_benchmark_resizes_the_cls_crop():
    """(c) times the dataset configs' train pipelines at --shape: the cls
    ones resize by a random resized crop."""
    from mmengine import Config
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'jsrt.py'))
    for task, pipeline in cfg.train_pipelines.items():
        pipeline = [dict(t) for t in pipeline]
        benchmark._set_resize(pipeline, 96)
        sizes = [
            t['scale'] for t in pipeline if t['type'] in
            ('mmdet.Resize', 'mmpretrain.RandomResizedCrop')
        ]
        assert sizes == [96 if task == 'cls' else (96, 96)], task
