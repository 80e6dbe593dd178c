# Copyright (c) fx_mm contributors. All rights reserved.
"""CyclicLockReleaseLoop starts the next phase's loader workers during the
last iteration of a phase (no stall at the phase start), and that changes
nothing about the training: same batches, same weights."""
import torch
from mmengine.runner import Runner

from fx_test_utils import tiny_demo_config


def train(work_dir: str, data_root: str, prefetch: bool):
    cfg = tiny_demo_config(
        work_dir,
        num_images=8,
        image_size=64,
        max_cycles=2,
        batch_size=2,
        data_root=data_root)
    # phantom_a cls then phantom_a seg; worker processes load the data
    cfg.train_cfg.slots = [cfg.train_cfg.slots[0], cfg.train_cfg.slots[2]]
    cfg.train_cfg.prefetch_next_phase = prefetch
    cfg.train_cfg.val_at_cycle_end = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_dataloader.num_workers = 1
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0, interval=-1)
    runner = Runner.from_cfg(cfg)
    loop = runner.build_train_loop(runner._train_loop)
    runner._train_loop = loop
    built, batches = [], []
    build = loop._phase_loader

    def recording_build(cycle, slot_index, phase, start=0):
        state = loop.state
        running = (state.cycle, state.slot_index, state.phase,
                   state.phase_iter, state.phase_len) if state.phase_len \
            else None
        built.append(((cycle, slot_index, phase), running))
        return build(cycle, slot_index, phase, start)

    loop._phase_loader = recording_build
    run_iter = loop.run_iter

    def recording_iter(data_batch):
        batches.append([s.img_path for s in data_batch['data_samples']])
        run_iter(data_batch)

    loop.run_iter = recording_iter
    runner.train()
    return runner.model.state_dict(), built, batches


def test_next_phase_is_prefetched_and_changes_nothing(tmp_path):
    data_root = str(tmp_path / 'data')
    state, built, batches = train(str(tmp_path / 'on'), data_root, True)
    phases = [(c, k, p) for c in range(2) for k in range(2)
              for p in ('lock', 'release')]
    # every phase's loader built once, in order
    assert [key for key, _ in built] == phases
    # the first at the start; every other one during the LAST iteration
    # of the phase before it
    assert built[0][1] is None
    for (key, running), previous in zip(built[1:], phases):
        cycle, slot_index, phase, phase_iter, phase_len = running
        assert (cycle, slot_index, phase) == previous, key
        assert phase_iter == phase_len - 1, key

    plain_state, plain_built, plain_batches = train(
        str(tmp_path / 'off'), data_root, False)
    # without prefetching each loader is built when its phase starts
    assert [key for key, _ in plain_built] == phases
    assert all(running is None or running[3] == running[4]
               for _, running in plain_built[1:])
    assert batches == plain_batches and len(batches) == 2 * 2 * 3
    differing = [
        key for key in state if not torch.equal(state[key], plain_state[key])
    ]
    assert not differing, differing[:5]
