# Copyright (c) fx_mm contributors. All rights reserved.
"""`tools/train.py --resume` from a checkpoint taken in the MIDDLE of a
lock phase continues exactly: N iterations straight and k + resume to N
give bit-identical student and teacher weights (chained slurm jobs depend
on it)."""
import os.path as osp

import torch

from fx_mm.engine.runner.slot_data import phase_num_iters
from fx_mm.registry import DATASETS
from fx_mm.utils import load_fx_checkpoint
from fx_test_utils import run_train, tiny_demo_config, write_config


def test_resume_mid_lock_phase_is_bit_exact(tmp_path):
    cfg = tiny_demo_config(
        str(tmp_path / 'straight'),
        num_images=12,
        batch_size=2,
        data_root=str(tmp_path / 'data'))
    # phantom_a seg, then phantom_a loc: resume inside the loc lock phase,
    # where the backbone and encoder are frozen and DINO draws denoising
    # noise from the global RNG
    cfg.train_cfg.slots = [cfg.train_cfg.slots[2], cfg.train_cfg.slots[1]]
    cfg.train_cfg.val_at_cycle_end = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    lens = {}
    for slot in cfg.train_cfg.slots:
        dataset = DATASETS.build(slot.dataset)
        for phase, fraction in (('lock', cfg.train_cfg.lock_fraction),
                                ('release', cfg.train_cfg.release_fraction)):
            lens[dataset.task, phase] = phase_num_iters(
                len(dataset), fraction, 2, 1)
    assert lens['loc', 'lock'] >= 2, lens
    # after k iterations the next one is the 2nd of the loc lock phase
    k = lens['seg', 'lock'] + lens['seg', 'release'] + 1
    total = sum(lens.values())
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0, interval=k)
    config = write_config(cfg, str(tmp_path / 'resume.py'))

    straight_dir = tmp_path / 'straight'
    run_train(config)
    mid = straight_dir / f'iter_{k}.pth'
    assert mid.is_file()
    assert (straight_dir / f'iter_{total}.pth').is_file()

    resumed_dir = tmp_path / 'resumed'
    log = run_train(config, '--work-dir', str(resumed_dir), '--resume',
                    str(mid))
    assert f'Resuming the cyclic loop at cycle 1, slot 2, lock phase, ' \
        f'iteration 1 of the phase (global iteration {k})' in log
    assert osp.isfile(resumed_dir / f'iter_{total}.pth')

    straight = load_fx_checkpoint(str(straight_dir / f'iter_{total}.pth'))
    resumed = load_fx_checkpoint(str(resumed_dir / f'iter_{total}.pth'))
    assert straight['meta']['iter'] == resumed['meta']['iter'] == total
    a, b = straight['state_dict'], resumed['state_dict']
    assert a.keys() == b.keys()
    assert any(key.startswith('teacher.') for key in a)
    differing = [key for key in a if not torch.equal(a[key], b[key])]
    assert not differing, differing[:10]
    # the run did train: the weights moved since the mid-phase checkpoint
    mid_state = load_fx_checkpoint(str(mid))['state_dict']
    name = 'student.loc_branch.decoders.phantom_a.bbox_head.cls_branches.0.'
    moved = [
        key for key in a
        if key.startswith(name) and not torch.equal(a[key], mid_state[key])
    ]
    assert moved
