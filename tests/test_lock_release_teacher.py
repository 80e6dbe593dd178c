# Copyright (c) fx_mm contributors. All rights reserved.
"""What each phase of a real cyclic run changes.

One real mmengine Runner trains a tiny Foundation X through the lock and
release phases of a cls, a loc and a seg slot. A recording hook snapshots
student and teacher around every iteration, so the tests can check, per
phase, exactly which tensors moved (parameters AND BatchNorm statistics)
and that the teacher is the EMA of the student at the phase ends only.
"""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from fx_mm.engine.hooks import MeanTeacherHook
from fx_mm.structures import current_slot_phase
from fx_mm.utils import unwrap_model
from fx_test_utils import DEMO_CONFIG, RESEARCH_DEMO_CONFIG, tiny_demo_config

STUDENT_WEIGHT = 0.2


def snapshot(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, after: dict) -> set:
    return {k for k in before if not torch.equal(before[k], after[k])}


class PhaseRecorder(Hook):
    """Snapshots around every training iteration (runs after the
    LockReleaseHook froze, and after the optimizer step and EMA)."""

    def __init__(self) -> None:
        self.records = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = unwrap_model(runner.model)
        self._student = snapshot(model.student)
        self._teacher = snapshot(model.teacher)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        model = unwrap_model(runner.model)
        state = current_slot_phase(runner)
        student_after = snapshot(model.student)
        teacher_after = snapshot(model.teacher)
        self.records.append(
            dict(
                task=state.task,
                dataset=state.dataset,
                phase=state.phase,
                is_phase_end=state.is_phase_end,
                student_changed=changed(self._student, student_after),
                teacher_changed=changed(self._teacher, teacher_after),
                teacher_before=self._teacher,
                teacher_after=teacher_after,
                student_after=student_after))


@pytest.fixture(
    scope='module',
    params=[DEMO_CONFIG, RESEARCH_DEMO_CONFIG],
    ids=['default', 'research'])
def records(request, tmp_path_factory):
    """The default architecture and the research-compatible one (the
    official weights' layout) go through the same engine."""
    work_dir = str(tmp_path_factory.mktemp('lock_release'))
    cfg = tiny_demo_config(
        work_dir, num_images=12, batch_size=2, config=request.param)
    # phantom_a: cls, loc, seg
    cfg.train_cfg.slots = cfg.train_cfg.slots[:3]
    cfg.train_cfg.val_at_cycle_end = False
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0)
    cfg.experiment_name = 'lock_release_records'
    runner = Runner.from_cfg(cfg)
    recorder = PhaseRecorder()
    runner.register_hook(recorder, priority='LOWEST')
    runner.train()
    return recorder.records


def phase_records(records, task, phase):
    selected = [
        r for r in records if r['task'] == task and r['phase'] == phase
    ]
    assert selected, f'no {task} {phase} iteration was run'
    return selected


def is_bn_stat(name: str) -> bool:
    return name.endswith(('running_mean', 'running_var'))


def test_the_run_visits_every_phase(records):
    visited = [(r['task'], r['phase']) for r in records]
    assert visited[0] == ('cls', 'lock')
    for task in ('cls', 'loc', 'seg'):
        assert (task, 'lock') in visited and (task, 'release') in visited


def test_cls_lock_phase_freezes_nothing(records):
    for record in phase_records(records, 'cls', 'lock'):
        moved = record['student_changed']
        assert any(k.startswith('backbone.') for k in moved)
        assert any(k.startswith('cls_branch.heads.phantom_a.') for k in moved)


def test_loc_lock_phase_trains_only_this_decoder(records):
    own = 'loc_branch.decoders.phantom_a.'
    for record in phase_records(records, 'loc', 'lock'):
        moved = record['student_changed']
        assert moved, 'the decoder of phantom_a did not learn'
        assert all(k.startswith(own) for k in moved), sorted(
            k for k in moved if not k.startswith(own))[:10]


def test_seg_lock_phase_trains_only_this_head_and_keeps_bn_stats(records):
    own = 'seg_branch.conv_segs.phantom_a.'
    for record in phase_records(records, 'seg', 'lock'):
        moved = record['student_changed']
        assert moved, 'the seg head of phantom_a did not learn'
        assert all(k.startswith(own) for k in moved), sorted(
            k for k in moved if not k.startswith(own))[:10]
    # the shared UperNet decoder has BatchNorm: its statistics stay put in
    # the lock phase (module in eval mode) and move in the release phase
    released = set().union(
        *(r['student_changed']
          for r in phase_records(records, 'seg', 'release')))
    bn_stats = {
        k
        for k in released if k.startswith('seg_branch.') and is_bn_stat(k)
    }
    assert bn_stats, 'no BatchNorm statistic of the seg decoder changed'


def test_release_phases_train_the_shared_parts(records):
    shared = dict(
        cls=('backbone.', ),
        loc=('backbone.', 'loc_branch.encoder.', 'loc_branch.neck.'),
        seg=('backbone.', 'seg_branch.lateral_convs.'))
    for task, prefixes in shared.items():
        for record in phase_records(records, task, 'release'):
            for prefix in prefixes:
                assert any(
                    k.startswith(prefix)
                    for k in record['student_changed']), (task, prefix)


def test_other_datasets_heads_never_change(records):
    for record in records:
        foreign = [k for k in record['student_changed'] if 'phantom_b' in k]
        assert not foreign, foreign[:5]


def test_teacher_is_the_ema_of_the_student_at_phase_ends_only(records):
    updates = 0
    for record in records:
        if not record['is_phase_end']:
            assert not record['teacher_changed']
            continue
        updates += 1
        before = record['teacher_before']
        after = record['teacher_after']
        student = record['student_after']
        for name, value in after.items():
            if value.dtype.is_floating_point:
                expected = before[name] + STUDENT_WEIGHT * (
                    student[name] - before[name])
                torch.testing.assert_close(
                    value, expected, rtol=1e-5, atol=1e-6, msg=name)
            else:  # num_batches_tracked: copied
                assert torch.equal(value, student[name]), name
        # buffers too: the BatchNorm statistics of the teacher follow
        if record['task'] == 'seg' and record['phase'] == 'release':
            assert any(is_bn_stat(k) for k in record['teacher_changed'])
    assert updates == 6  # 3 slots x (lock, release)


def test_update_teacher_arithmetic_on_buffers():
    student = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    teacher = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    student(torch.randn(8, 3))  # moves running stats, counts 1 batch
    before = snapshot(teacher)
    MeanTeacherHook.update_teacher(student, teacher, 0.25)
    for name, value in teacher.state_dict().items():
        if name.endswith('num_batches_tracked'):
            assert value.item() == 1
        else:
            expected = 0.75 * before[name] + 0.25 * student.state_dict()[name]
            torch.testing.assert_close(value, expected, msg=name)
