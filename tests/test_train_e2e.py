# Copyright (c) fx_mm contributors. All rights reserved.
"""tools/train.py end to end: a full lock-release cycle over all 6 slots of
the demo (cls / loc / seg x 2 datasets) with the mean teacher, validation of
student and teacher, slot checkpoints, and `--resume auto`."""
import csv
import glob
import json
import os
import re
import subprocess
import sys

import torch

from fx_mm.utils import load_fx_checkpoint
from fx_test_utils import (REPO_ROOT, free_port, run_train, tiny_demo_config,
                           write_config)


def test_one_full_cycle_all_tasks(tmp_path):
    cfg = tiny_demo_config(str(tmp_path), num_images=12, batch_size=2)
    config = write_config(cfg, str(tmp_path / 'tiny_demo.py'))
    log = run_train(config)
    for slot in ('phantom_a/cls', 'phantom_a/loc', 'phantom_a/seg',
                 'phantom_b/cls', 'phantom_b/loc', 'phantom_b/seg'):
        assert f'{slot} | lock phase' in log
        assert f'{slot} | release phase' in log
    for network in ('student', 'teacher'):
        for key in ('phantom_a/cls/AUC', 'phantom_b/loc/mAP40',
                    'phantom_a/seg/Dice'):
            assert re.search(rf'{network}/{key}: (\d|nan)', log), key
    ckpts = sorted(glob.glob(str(tmp_path / 'iter_*.pth')))
    assert ckpts, 'no slot checkpoint written'
    # TensorBoard is on by default: losses and metrics as events
    events = glob.glob(
        str(tmp_path / '*' / 'vis_data' / 'events.out.tfevents.*'))
    assert events and os.path.getsize(events[0]) > 1000, events
    ckpt = load_fx_checkpoint(
        open(tmp_path / 'last_checkpoint').read().strip())
    keys = ckpt['state_dict'].keys()
    assert any(k.startswith('student.') for k in keys)
    assert any(k.startswith('teacher.') for k in keys)
    assert 'rng_states' in ckpt
    # the teacher moved away from the student (EMA, not a copy)
    state = ckpt['state_dict']
    name = 'backbone.patch_embed.projection.weight'
    assert not torch.equal(state['student.' + name], state['teacher.' + name])

    # tools/test.py on the trained checkpoint: both networks, one table
    test_dir = tmp_path / 'test'
    proc = subprocess.run([
        sys.executable, 'tools/test.py', config,
        open(tmp_path / 'last_checkpoint').read().strip(), '--work-dir',
        str(test_dir), '--model-key', 'teacher', 'student'
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert '| network | dataset | cls AUC | loc mAP40 | seg Dice |' in out
    table = json.loads((test_dir / 'results.json').read_text())
    rows = {(r['network'], r['dataset']): r for r in table['table']}
    assert set(rows) == {(n, d)
                         for n in ('teacher', 'student')
                         for d in ('phantom_a', 'phantom_b')}
    for (network, dataset), row in rows.items():
        for column, task_key in (('cls AUC', 'cls/AUC'),
                                 ('loc mAP40', 'loc/mAP40'),
                                 ('seg Dice', 'seg/Dice')):
            # the table holds exactly what the evaluator computed
            assert row[column] == table['metrics'][
                f'{network}/{dataset}/{task_key}']
    csv_rows = list(csv.DictReader(open(test_dir / 'results.csv')))
    assert len(csv_rows) == 4
    md = (test_dir / 'results.md').read_text()
    assert md.count('\n') == 2 + 4

    # tools/dist_test.sh: 2 gloo processes give the numbers of one process
    port = free_port()
    dist_dir = tmp_path / 'dist_test'
    proc = subprocess.run([
        'bash', 'tools/dist_test.sh', config,
        open(tmp_path / 'last_checkpoint').read().strip(), '2',
        '--work-dir',
        str(dist_dir), '--model-key', 'teacher', 'student'
    ],
                          cwd=REPO_ROOT,
                          env=dict(
                              os.environ,
                              FX_PYTHON=sys.executable,
                              PORT=str(port),
                              OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    dist = json.loads((dist_dir / 'results.json').read_text())['metrics']
    single = table['metrics']
    assert dist.keys() == single.keys()
    for key, value in single.items():
        if value is None:  # undefined (NaN) in both
            assert dist[key] is None, key
        else:
            # per-rank batches differ in size: allow float noise only
            assert abs(dist[key] - value) < 1e-3, (key, value, dist[key])


def test_resume_auto_restores_the_iteration(resumed_two_slot_run):
    """`--resume` continues from the last checkpoint's iteration (cycle 2),
    not from cycle 1 (the run: conftest.py, validation on)."""
    run = resumed_two_slot_run
    iters_per_cycle = run['first_iter']
    log = run['resume_log']
    assert f'global iteration {iters_per_cycle}' in log
    assert 'cycle 1/2' not in log.split('Resuming')[1]
    assert 'cycle 2/2' in log
    with open(os.path.join(run['work_dir'], 'last_checkpoint')) as f:
        final = load_fx_checkpoint(f.read().strip())
    assert final['meta']['iter'] == 2 * iters_per_cycle
