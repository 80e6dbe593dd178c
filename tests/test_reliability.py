# Copyright (c) fx_mm contributors. All rights reserved.
"""Reliability in real (tiny) training runs: NaN/inf guard, skipping samples
that fail to load, preemption + resume through tools/train.py, atomic
checkpoints and the dataset checker.

The runs use the demo config cut to one slot without validation (mmengine
formats the whole config with yapf several times per run; the full demo
config takes ~5 s each time on a loaded 2-core machine)."""
import glob
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import threading

import pytest
import torch
from fx_test_utils import (REPO_ROOT, free_port, set_hook, tiny_demo_config,
                           write_config)
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.runner.checkpoint import save_checkpoint

from fx_mm.datasets import SyntheticCXRDataset
from fx_mm.engine.hooks import NonFiniteError, SlotCheckpointHook
from fx_mm.engine.runner.slot_data import phase_plan, phase_seed
from fx_mm.registry import HOOKS
from fx_mm.utils import load_fx_checkpoint
from fx_mm.utils.checkpoint import AtomicLocalBackend

SLOTS = dict(cls=0, loc=1, seg=2)  # phantom_a slots of the demo config


def small_config(work_dir: str,
                 task: str = 'cls',
                 num_images: int = 8,
                 batch_size: int = 2,
                 image_size: int = 64):
    """The demo config with ONE phantom_a slot, no validation / test."""
    cfg = tiny_demo_config(
        work_dir,
        num_images=num_images,
        batch_size=batch_size,
        image_size=image_size)
    cfg.train_cfg.slots = [cfg.train_cfg.slots[SLOTS[task]]]
    cfg.train_cfg.val_at_cycle_end = False
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator', 'test_cfg',
                'test_dataloader', 'test_evaluator'):
        cfg[key] = None
    for key in ('train_slots', 'val_slots', 'test_slots', 'class_names',
                'variants', 'tasks', 'metric_types', 'train_pipeline',
                'test_pipeline'):
        cfg.pop(key, None)
    return cfg


def slot_dataset(cfg, index: int = 0) -> SyntheticCXRDataset:
    """The slot's dataset, built as the loop builds it (generates data)."""
    dataset_cfg = dict(cfg.train_cfg.slots[index].dataset)
    dataset_cfg.pop('type')
    return SyntheticCXRDataset(**dataset_cfg)


def read_log(work_dir: str) -> str:
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert logs, f'no log file under {work_dir}'
    return open(max(logs, key=osp.getmtime)).read()


def truncate(path: str) -> None:
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 3])


# ---------------------------------------------------------------------------
# NaN / inf guard
@HOOKS.register_module()
class PoisonBatchHook(Hook):
    """Test hook: replaces the images of the batch at iteration ``at`` by
    NaN and records, for every iteration, whether the step changed the
    student's parameters / the model's buffers."""

    priority = 'LOWEST'

    def __init__(self, at: int = 1) -> None:
        self.at = at
        self.steps = []  # (iter, params unchanged, buffers unchanged)
        self.poisoned_files = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = runner.model
        self.params = [p.detach().clone() for p in model.student.parameters()]
        self.buffers = [b.detach().clone() for b in model.buffers()]
        if runner.iter == self.at:
            data_batch['inputs'] = [
                torch.full(x.shape, float('nan')) for x in data_batch['inputs']
            ]
            self.poisoned_files = [
                s.metainfo['img_path'] for s in data_batch['data_samples']
            ]

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        model = runner.model
        params_same = all(
            torch.equal(a, b)
            for a, b in zip(self.params, model.student.parameters()))
        buffers_same = all(
            torch.equal(a, b) for a, b in zip(self.buffers, model.buffers()))
        self.steps.append((runner.iter, params_same, buffers_same))


def poisoned_run(work_dir: str, action: str, at: int, task: str = 'cls'):
    cfg = small_config(work_dir, task=task)
    set_hook(cfg, 'NaNGuardHook', action=action)
    set_hook(cfg, 'PoisonBatchHook', at=at)
    runner = Runner.from_cfg(cfg)
    poison = [h for h in runner.hooks if isinstance(h, PoisonBatchHook)][0]
    return runner, poison


def test_nan_guard_skips_the_step_and_names_the_batch(tmp_path):
    # seg: the UPerHead's BatchNorm statistics see the NaN batch too
    runner, poison = poisoned_run(str(tmp_path), 'skip', at=1, task='seg')
    runner.train()
    assert [s[0] for s in poison.steps] == [0, 1, 2]
    # normal steps move the parameters (the lock phase keeps the decoder's
    # BatchNorm in eval mode; the release phase updates its statistics) ...
    assert poison.steps[0][1] is False
    assert poison.steps[2][1:] == (False, False)
    # ... the poisoned one leaves both exactly as they were
    assert poison.steps[1][1:] == (True, True)
    for p in runner.model.parameters():
        assert torch.isfinite(p).all()
    for b in runner.model.buffers():
        assert torch.isfinite(b.float()).all()
    log = read_log(str(tmp_path))
    line = [x for x in log.splitlines() if 'NaNGuardHook: non-finite' in x]
    assert len(line) == 1, log[-3000:]
    line = line[0]
    for text in ('iteration 2', 'cycle 1', 'slot 1/1 phantom_a/seg',
                 'dataset phantom_a', 'task seg', 'release phase',
                 'non-finite loss loss_', 'non-finite gradients',
                 'step skipped, parameters unchanged', '1 skipped so far'):
        assert text in line, (text, line)
    assert len(poison.poisoned_files) == 2
    for path in poison.poisoned_files:
        assert path in line
    assert '1 steps skipped in cycle 1' in log


def test_nan_guard_raise_stops_training(tmp_path):
    runner, poison = poisoned_run(str(tmp_path), 'raise', at=0)
    with pytest.raises(NonFiniteError) as info:
        runner.train()
    message = str(info.value)
    for text in ('iteration 1', 'cycle 1', 'slot 1/1 phantom_a/cls',
                 'dataset phantom_a', 'task cls', 'lock phase',
                 'non-finite loss loss_cls=nan'):
        assert text in message, (text, message)
    for path in poison.poisoned_files:
        assert path in message
    # raised before the optimizer step: no parameter was written
    assert poison.steps == []
    for p in runner.model.parameters():
        assert torch.isfinite(p).all()
    assert 'NaNGuardHook' in read_log(str(tmp_path))


def test_nan_in_a_loc_slot_reaches_the_guard_not_the_matcher(tmp_path):
    """NaN images in a DINO (loc) slot make the decoder's outputs NaN;
    scipy's Hungarian matcher would stop the run with a bare "matrix
    contains invalid numeric entries". The loss is NaN instead, so the
    guard skips the step and names the iteration, the slot and the files.
    """
    runner, poison = poisoned_run(str(tmp_path), 'skip', at=1, task='loc')
    runner.train()
    assert [s[0] for s in poison.steps] == [0, 1, 2]
    assert poison.steps[1][1] is True  # the NaN step left the parameters
    for p in runner.model.parameters():
        assert torch.isfinite(p).all()
    log = read_log(str(tmp_path))
    guard = [x for x in log.splitlines() if 'NaNGuardHook: non-finite' in x]
    assert len(guard) == 1, log[-3000:]
    for text in ('non-finite loss loss_nonfinite_loc=nan', 'iteration 2',
                 'slot 1/1 phantom_a/loc', 'task loc', 'step skipped'):
        assert text in guard[0], (text, guard[0])
    model = [
        x for x in log.splitlines() if 'MultiDatasetDINO: non-finite' in x
    ]
    assert len(model) == 1, log[-3000:]
    assert 'of the phantom_a decoder at iteration 2 (cycle 1, slot 1/1 ' \
        'phantom_a/loc' in model[0]
    assert 'Hungarian matching skipped' in model[0]
    assert len(poison.poisoned_files) == 2
    for path in poison.poisoned_files:
        assert path in guard[0] and path in model[0]


RANK_POISON_HOOK = """
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from fx_mm.registry import HOOKS


@HOOKS.register_module()
class RankPoisonHook(Hook):
    priority = 'LOWEST'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        student = runner.model.module.student
        self.params = [p.detach().clone() for p in student.parameters()]
        if runner.iter == 1 and get_rank() == 0:
            data_batch['inputs'] = [
                torch.full(x.shape, float('nan')) for x in data_batch['inputs']
            ]

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        student = runner.model.module.student
        same = all(
            torch.equal(a, b) for a, b in zip(self.params,
                                              student.parameters()))
        with open(f'{runner.work_dir}/rank{get_rank()}.txt', 'a') as f:
            f.write(f'{runner.iter} {same}\\n')
"""


def test_nan_guard_skips_on_every_rank_under_ddp(tmp_path):
    """Only rank 0's batch is NaN: both ranks skip the step and stay
    identical (gloo DDP on CPU through tools/dist_train.sh)."""
    port = free_port()
    (tmp_path / 'rank_poison_hook.py').write_text(RANK_POISON_HOOK)
    cfg = small_config(str(tmp_path / 'work'), num_images=16)
    cfg.custom_imports = dict(imports=['rank_poison_hook'])
    set_hook(cfg, 'NaNGuardHook')
    set_hook(cfg, 'RankPoisonHook')
    set_hook(cfg, 'RankConsistencyHook', at=('train_end', ))
    config = write_config(cfg, str(tmp_path / 'ddp.py'))
    env = dict(
        os.environ,
        PYTHONPATH=f'{tmp_path}:{os.environ.get("PYTHONPATH", "")}',
        FX_PYTHON=sys.executable,
        PORT=str(port),
        OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', 'tools/dist_train.sh', config, '2'],
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    for rank in (0, 1):
        steps = (tmp_path / 'work' / f'rank{rank}.txt').read_text().split()
        assert steps == ['0', 'False', '1', 'True', '2',
                         'False'], (rank, steps)
    # 8 train images, 2 ranks x batch 2: lock 1 + release 2 iterations
    assert re.search(r'NaNGuardHook: non-finite .* at iteration 2 ', log)
    assert re.search(
        r'rank consistency \(end of training, iteration 3\): \d+ tensors '
        r'of student/teacher identical on 2 ranks', log), log[-3000:]


# ---------------------------------------------------------------------------
# a sample that fails to load, with on_bad_record='skip'
def test_run_skips_an_undecodable_image_and_counts_it(tmp_path):
    cfg = small_config(str(tmp_path))
    cfg.train_cfg.slots[0].dataset.on_bad_record = 'skip'
    set_hook(cfg, 'BadSampleHook')
    dataset = slot_dataset(cfg)
    bad_path = dataset.get_data_info(0)['img_path']
    truncate(bad_path)
    # lower bound of the skips, worked out from the loop's phase plans:
    # every time index 0 is drawn (a replacement may draw it again)
    plans = [
        phase_plan(
            len(dataset), fraction, 2, phase_seed(cfg.randomness.seed, 0, 0,
                                                  k))
        for k, fraction in enumerate((0.5, 1.0))
    ]
    drawn = sum(plan.count(0) for plan in plans)
    assert drawn >= 1

    runner = Runner.from_cfg(cfg)
    runner.train()
    slot_data = runner.train_loop.slots[0]['dataset']
    skipped = slot_data.num_skipped_samples
    assert skipped >= drawn
    log = read_log(str(tmp_path))
    lines = [x for x in log.splitlines() if 'skipped sample' in x]
    assert len(lines) == skipped
    assert bad_path in lines[0] and 'cannot decode image' in lines[0]
    assert f'{skipped} skipped so far' in lines[-1]
    assert f'samples skipped in cycle 1: phantom_a/cls {skipped} ' \
        f'(total {skipped})' in log
    # the run finished: a checkpoint of the last iteration exists
    last = open(tmp_path / 'last_checkpoint').read().strip()
    assert load_fx_checkpoint(last)['meta']['iter'] == runner.iter


# ---------------------------------------------------------------------------
# preemption
def test_preemption_checkpoint_exit_and_resume(tmp_path):
    cfg = small_config(str(tmp_path), num_images=16)
    set_hook(cfg, 'PreemptionHook', signals=('SIGUSR1', ), exit_code=3)
    # no slot checkpoint before the end: the only one is the preemption's
    cfg.default_hooks.checkpoint.slot_interval = 0
    config = write_config(cfg, str(tmp_path / 'tiny.py'))
    total = 2 + 4  # 8 train images: lock 0.5 * 8 / 2 + release 8 / 2

    proc = subprocess.Popen([sys.executable, 'tools/train.py', config],
                            cwd=REPO_ROOT,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True)
    watchdog = threading.Timer(600, proc.kill)
    watchdog.start()
    lines, signalled = [], False
    try:
        for line in proc.stdout:
            lines.append(line)
            if not signalled and f'Iter(train) [1/{total}]' in line:
                proc.send_signal(signal.SIGUSR1)
                signalled = True
        code = proc.wait()
    finally:
        watchdog.cancel()
    log = ''.join(lines)
    assert signalled, log[-3000:]
    assert code == 3, log[-3000:]
    assert 'PreemptionHook: received SIGUSR1' in log
    assert 'Traceback' not in log
    stopped_at = load_fx_checkpoint(
        open(tmp_path / 'last_checkpoint').read().strip())['meta']['iter']
    assert 1 <= stopped_at < total
    assert f'saved {tmp_path}/iter_{stopped_at}.pth' in log
    assert f'Iter(train) [{stopped_at + 1}/{total}]' not in log

    proc = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--resume'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert f'(global iteration {stopped_at})' in log
    assert f'Iter(train) [{stopped_at + 1}/{total}]' in log
    assert f'Iter(train) [{stopped_at}/{total}]' not in log
    final = load_fx_checkpoint(
        open(tmp_path / 'last_checkpoint').read().strip())
    assert final['meta']['iter'] == total


def test_preemption_second_signal_and_requeue(tmp_path, monkeypatch):
    from fx_mm.engine.hooks import PreemptionHook
    runner = Runner.from_cfg(small_config(str(tmp_path)))
    calls = []
    previous = signal.signal(signal.SIGUSR2, lambda *a: calls.append(a[0]))
    try:
        hook = PreemptionHook(signals=('USR2', ), requeue=True)
        hook.before_run(runner)
        os.kill(os.getpid(), signal.SIGUSR2)
        assert hook.received == signal.SIGUSR2 and calls == []
        # a second signal goes to the handler that was there before
        os.kill(os.getpid(), signal.SIGUSR2)
        assert calls == [signal.SIGUSR2]
        assert signal.getsignal(signal.SIGUSR2) is not hook._handler
        # the exit: `scontrol requeue <job>` (a stand-in that records its
        # arguments), then status 128 + SIGUSR2
        fake = tmp_path / 'bin' / 'scontrol'
        fake.parent.mkdir()
        fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\n')
        fake.chmod(0o755)
        monkeypatch.setenv('PATH', f'{fake.parent}:{os.environ["PATH"]}')
        monkeypatch.setenv('SLURM_JOB_ID', '4242')
        monkeypatch.delenv('SLURM_ARRAY_JOB_ID', raising=False)
        hook.stopped = True
        with pytest.raises(SystemExit) as info:
            hook.after_run(runner)
        assert info.value.code == 128 + signal.SIGUSR2
        assert (fake.parent / 'args').read_text() == 'requeue 4242\n'
    finally:
        signal.signal(signal.SIGUSR2, previous)


# ---------------------------------------------------------------------------
# atomic checkpoints
def _crash_halfway(fileobj, data: bytes) -> None:
    fileobj.write(data[:len(data) // 2])
    raise OSError('simulated crash: disk full')


def _two_checkpoints():
    first = dict(state_dict=dict(w=torch.arange(4.)), meta=dict(iter=1))
    second = dict(state_dict=dict(w=torch.arange(4.) * 10), meta=dict(iter=2))
    return first, second


def test_slot_checkpoint_hook_saves_atomically(tmp_path, monkeypatch):
    hook = SlotCheckpointHook(slot_interval=1)
    path = str(tmp_path / 'iter_2.pth')
    first, second = _two_checkpoints()
    # mmengine's save_checkpoint, with the hook's backend arguments (what
    # runner.save_checkpoint is given by the hook)
    save_checkpoint(first, path, backend_args=hook.backend_args)
    monkeypatch.setattr(AtomicLocalBackend, '_write_file',
                        staticmethod(_crash_halfway))
    with pytest.raises(OSError, match='simulated crash'):
        save_checkpoint(second, path, backend_args=hook.backend_args)
    loaded = load_fx_checkpoint(path)
    assert loaded['meta']['iter'] == 1
    assert torch.equal(loaded['state_dict']['w'], torch.arange(4.))
    assert os.listdir(tmp_path) == ['iter_2.pth']  # no temporary left


def test_plain_local_backend_would_corrupt_the_checkpoint(
        tmp_path, monkeypatch):
    """The control experiment: the same crash with mmengine's own local
    backend leaves a truncated, unreadable file."""
    from mmengine.fileio import LocalBackend
    path = str(tmp_path / 'iter_2.pth')
    first, second = _two_checkpoints()
    save_checkpoint(first, path)
    real_open = open

    def crashing_put(self, obj, filepath):
        with real_open(filepath, 'wb') as f:
            _crash_halfway(f, obj)

    monkeypatch.setattr(LocalBackend, 'put', crashing_put)
    with pytest.raises(OSError, match='simulated crash'):
        save_checkpoint(second, path)
    with pytest.raises(RuntimeError, match='not a readable checkpoint'):
        load_fx_checkpoint(path)


def test_atomic_backend_keeps_file_permissions_and_text(tmp_path):
    backend = AtomicLocalBackend()
    target = str(tmp_path / 'last_checkpoint')
    backend.put_text('a/iter_4.pth', target)
    assert open(target).read() == 'a/iter_4.pth'
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask


# ---------------------------------------------------------------------------
# tools/analysis_tools/check_dataset.py
def test_check_dataset_reports_a_corrupted_image(tmp_path):
    cfg = small_config(str(tmp_path))
    # two train slots: phantom_a cls (corrupted image) and phantom_a seg
    seg = tiny_demo_config(str(tmp_path), num_images=8).train_cfg.slots[2]
    cfg.train_cfg.slots.append(seg)
    config = write_config(cfg, str(tmp_path / 'check.py'))
    dataset = slot_dataset(cfg)
    bad_path = dataset.get_data_info(1)['img_path']
    truncate(bad_path)
    n = len(dataset)
    out = str(tmp_path / 'problems.json')
    proc = subprocess.run([
        sys.executable, 'tools/analysis_tools/check_dataset.py', config,
        '--split', 'train', '--out', out
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = [
        line.split() for line in proc.stdout.splitlines()
        if line.startswith('train')
    ]
    # split dataset task images ok bad problems...; the same image file
    # serves both slots (one phantom per image)
    assert [r[:6] for r in rows] == [
        ['train', 'phantom_a', 'cls',
         str(n), str(n - 1), '1'],
        ['train', 'phantom_a', 'seg',
         str(n), str(n - 1), '1'],
    ]
    assert bad_path in proc.stdout and 'cannot decode image' in proc.stdout
    assert f'2 bad of {2 * n} samples' in proc.stdout
    problems = json.load(open(out))
    assert [len(row['problems']) for row in problems] == [1, 1]


def test_check_dataset_clean_data_exits_zero(tmp_path, capsys):
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
    try:
        import check_dataset
    finally:
        sys.path.pop(0)
    cfg = small_config(str(tmp_path))
    config = write_config(cfg, str(tmp_path / 'check.py'))
    assert check_dataset.main([config, '--split', 'train']) == 0
    captured = capsys.readouterr()
    out = captured.out
    # progress per slot on stderr; stdout keeps the table only
    assert 'checking phantom_a/cls: 4 samples' in captured.err
    assert '] 4/4, ' in captured.err
    assert '4/4' not in out
    rows = [
        line.split() for line in out.splitlines() if line.startswith('train')
    ]
    assert [r[:6]
            for r in rows] == [['train', 'phantom_a', 'cls', '4', '4', '0']]
    assert 'all 4 samples are fine' in out
