# Copyright (c) fx_mm contributors. All rights reserved.
"""The embedded default teaches the model something real: after a short
lock-release training the TEACHER beats the untrained model on every task
(cls AUC, loc mAP40, seg Dice) of the synthetic phantoms' test split."""
import pytest
from mmengine.runner import Runner

from fx_test_utils import tiny_demo_config

TASK_METRICS = dict(cls='AUC', loc='mAP40', seg='Dice')


def build_runner(work_dir, data_root, name):
    cfg = tiny_demo_config(
        work_dir,
        num_images=80,
        image_size=128,
        max_cycles=2,
        batch_size=8,
        data_root=data_root)
    cfg.model.loc_branch.num_queries = 30
    cfg.model.loc_branch.test_cfg.max_per_img = 30
    cfg.train_cfg.val_at_cycle_end = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg.predict_on = ['teacher']
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0)
    cfg.default_hooks.logger.interval = 10
    cfg.experiment_name = name
    return Runner.from_cfg(cfg)


def task_scores(metrics: dict) -> dict:
    return {
        (dataset, task): metrics[f'teacher/{dataset}/{task}/{metric}']
        for dataset in ('phantom_a', 'phantom_b')
        for task, metric in TASK_METRICS.items()
    }


@pytest.fixture(scope='module')
def scores(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo_learns')
    data_root = str(root / 'data')
    untrained = build_runner(str(root / 'untrained'), data_root, 'untrained')
    # the weights training starts from (Runner.test() skips init_weights)
    untrained.model.init_weights()
    before = task_scores(untrained.test())
    trained = build_runner(str(root / 'trained'), data_root, 'trained')
    trained.train()
    after = task_scores(trained.test())
    return before, after


@pytest.mark.parametrize('task', ['cls', 'loc', 'seg'])
def test_trained_teacher_beats_the_untrained_model(scores, task):
    before, after = scores
    for dataset in ('phantom_a', 'phantom_b'):
        key = (dataset, task)
        print(f'{dataset}/{task}: untrained {before[key]:.2f} -> '
              f'teacher {after[key]:.2f}')
        assert after[key] > before[key], (key, before[key], after[key])
