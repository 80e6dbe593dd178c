# Copyright (c) fx_mm contributors. All rights reserved.
"""Real torch.distributed on CPU (gloo): `tools/dist_train.sh CONFIG 2`
trains through the lock and release phases of a cls, a loc and a seg slot,
and student and teacher stay bit-identical on both ranks."""
import os
import re
import subprocess
import sys

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from fx_mm.engine.hooks import check_rank_consistency
from fx_mm.utils import load_fx_checkpoint
from fx_test_utils import REPO_ROOT, free_port, tiny_demo_config, write_config


def test_dist_train_two_cpu_ranks_stay_identical(tmp_path):
    cfg = tiny_demo_config(str(tmp_path), num_images=16, batch_size=2)
    cfg.train_cfg.slots = cfg.train_cfg.slots[:3]  # phantom_a cls/loc/seg
    cfg.train_cfg.val_at_cycle_end = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    # the base runtime's RankConsistencyHook checks every slot end
    assert any(h.type == 'RankConsistencyHook' for h in cfg.custom_hooks)
    config = write_config(cfg, str(tmp_path / 'ddp.py'))
    env = dict(
        os.environ,
        FX_PYTHON=sys.executable,
        PORT=str(free_port()),
        OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', config, '2'],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    for task in ('cls', 'loc', 'seg'):
        for phase in ('lock', 'release'):
            assert f'phantom_a/{task} | {phase} phase' in log
    checks = re.findall(
        r'rank consistency \((end of slot phantom_a/\w+|end of training)'
        r', iteration \d+\): (\d+) tensors of student/teacher identical on '
        r'2 ranks', log)
    assert [where for where, _ in checks] == [
        'end of slot phantom_a/cls', 'end of slot phantom_a/loc',
        'end of slot phantom_a/seg', 'end of training'
    ], log[-3000:]
    # each rank saw half of every phase: iterations = sum of halved phases
    ckpt = load_fx_checkpoint(
        open(tmp_path / 'last_checkpoint').read().strip())
    phase_iters = [
        int(n) for n in re.findall(
            r'phantom_a/\w+ \| (?:lock|release) phase: (\d+) iterations',
            log)
    ]
    assert ckpt['meta']['iter'] == sum(phase_iters)
    state = ckpt['state_dict']
    name = 'backbone.patch_embed.projection.weight'
    assert not torch.equal(state['student.' + name], state['teacher.' + name])


def _rank_consistency_worker(rank: int, port: int, result_dir: str) -> None:
    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=2)
    torch.manual_seed(0)
    student = torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    outcome = f'identical {check_rank_consistency(dict(student=student))}'
    if rank == 1:  # one rank drifts: a BN statistic it updated alone
        student[1].running_mean += 1e-6
    try:
        check_rank_consistency(dict(student=student))
        outcome += ' | no error'
    except RuntimeError as error:
        outcome += f' | {error}'
    with open(os.path.join(result_dir, f'rank{rank}.txt'), 'w') as f:
        f.write(outcome)
    torch_dist.destroy_process_group()


def test_check_rank_consistency_names_the_drifted_tensor(tmp_path):
    mp.start_processes(
        _rank_consistency_worker,
        args=(free_port(), str(tmp_path)),
        nprocs=2,
        start_method='spawn')
    for rank in (0, 1):
        outcome = (tmp_path / f'rank{rank}.txt').read_text()
        first, second = outcome.split(' | ')
        # Linear weight+bias, BN weight+bias+2 stats+count = 7 tensors
        assert first == 'identical 7'
        assert 'weights differ across the 2 ranks' in second
        assert 'student.1.running_mean (rank 1 != rank 0)' in second
        assert 'student.0.weight' not in second
