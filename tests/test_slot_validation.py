# Copyright (c) fx_mm contributors. All rights reserved.
"""Validation right after each slot, on that slot's val set only (the
paper's protocol), through a real Runner."""
import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner

from fx_test_utils import tiny_demo_config


class MetricRecorder(Hook):

    def __init__(self) -> None:
        self.validations = []

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.validations.append(dict(metrics))


def small_config(work_dir):
    cfg = tiny_demo_config(work_dir, num_images=12, batch_size=2)
    # train phantom_a cls then phantom_b seg; all 6 val slots configured
    cfg.train_cfg.slots = [cfg.train_cfg.slots[0], cfg.train_cfg.slots[5]]
    cfg.train_cfg.val_interval = 1
    cfg.train_cfg.val_scope = 'slots'
    cfg.train_cfg.val_at_cycle_end = False
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0)
    return cfg


def test_each_slot_is_validated_alone_for_student_and_teacher(tmp_path):
    cfg = small_config(str(tmp_path))
    cfg.experiment_name = 'slot_validation'
    runner = Runner.from_cfg(cfg)
    recorder = MetricRecorder()
    runner.register_hook(recorder)
    runner.train()
    assert len(recorder.validations) == 2
    first, second = (set(v) for v in recorder.validations)
    for network in ('student', 'teacher'):
        assert f'{network}/phantom_a/cls/AUC' in first
        assert f'{network}/phantom_b/seg/Dice' in second
    # nothing of the other slots
    assert not any('/seg/' in k or 'phantom_b' in k for k in first)
    assert not any('/cls/' in k or 'phantom_a' in k for k in second)
    # a full validation still evaluates every val slot
    everything = runner.val_loop.run()
    for dataset in ('phantom_a', 'phantom_b'):
        for key in ('cls/AUC', 'loc/mAP40', 'seg/Dice'):
            assert f'teacher/{dataset}/{key}' in everything


def test_a_metric_without_a_val_slot_is_an_error(tmp_path):
    cfg = small_config(str(tmp_path))
    cfg.experiment_name = 'metric_without_slot'
    cfg.val_cfg.slots = cfg.val_cfg.slots[:1]  # phantom_a cls only
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=r'DetectionMAP for phantom_a/loc '
                       r'has no val slot'):
        runner.train()


def test_one_network_logs_each_metric_once_under_its_name(tmp_path):
    """One evaluated network: every key still says which one
    (``teacher/...``), and no bare duplicate is logged beside it."""
    cfg = small_config(str(tmp_path))
    cfg.experiment_name = 'one_network_keys'
    cfg.val_cfg.predict_on = ['teacher']
    runner = Runner.from_cfg(cfg)
    metrics = runner.val_loop.run(slots=[('phantom_a', 'cls')])
    assert 'teacher/phantom_a/cls/AUC' in metrics
    assert all(k.startswith('teacher/') for k in metrics), sorted(metrics)
    # the message hub (what the log and TensorBoard show) holds the same
    # keys, once each
    logged = [
        k[len('val/'):] for k in runner.message_hub.log_scalars
        if k.startswith('val/') and k.count('/') > 1
    ]
    assert sorted(logged) == sorted(metrics)
