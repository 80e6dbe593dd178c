# Copyright (c) fx_mm contributors. All rights reserved.
from typing import List, Optional, Sequence, Union

import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.runner import BaseLoop, set_random_seed
from torch.utils.data import DataLoader

from fx_mm.registry import DATASETS, LOOPS
from fx_mm.structures.slot_phase import (PHASES, SlotPhaseState,
                                         phase_sequence, publish_slot_phase)
from .epoch_length import CycleLength
from .log_scalars import drop_log_scalars
from .slot_checks import check_slot_head, check_slot_keys
from .slot_data import (build_phase_dataloader, iteration_seed,
                        phase_num_iters, phase_seed)

#: message hub key of the next position to train (saved with checkpoints)
LOOP_STATE_KEY = 'fx_loop_state'


@LOOPS.register_module()
class CyclicLockReleaseLoop(BaseLoop):
    """Foundation X's cyclic training over (dataset, task) slots.

    A cycle visits every slot in order; a slot runs a *lock* phase
    (``lock_fraction`` of one pass over its data; what is frozen is decided
    by :class:`LockReleaseHook`) then a *release* phase (``release_fraction``
    of a pass, everything trainable). One mmengine "epoch" is one cycle, so
    by-epoch parameter schedulers step once per cycle (the paper's cosine
    schedule) and ``max_epochs == max_cycles``.

    Each slot builds its own dataloader when a phase starts (no workers held
    across slots). The sample order is a function of (seed, cycle, slot,
    phase), and the python / numpy / torch (and CUDA) RNGs are seeded from
    (seed, iteration, rank) before every training iteration, so the model's
    random draws (dropout, drop path, denoising noise) depend on nothing
    that runs between two steps (validation, logging, visualisation, a
    checkpoint, a resume), on every rank.

    Exact resume: a checkpoint records the next position to train; one
    taken at the end of a slot also records that the slot's follow-up --
    its validation and, after the cycle's last slot, the cycle-end
    validation and the ``after_train_epoch`` hooks (by-cycle LR schedulers)
    -- has not run yet, and the resumed run runs it before the next
    training iteration, as the uninterrupted run did.

    Args:
        runner: The runner.
        dataloader (dict): Defaults for every slot's loader (``batch_size``,
            ``num_workers``, ``collate_fn``); ``dataset`` is ignored here.
        slots (list[dict]): In visiting order, each
            ``dict(dataset=<dataset cfg>, name=optional, batch_size=...,
            num_workers=...)``. The dataset's ``dataset_name`` and ``task``
            route the batches.
        max_cycles (int): Cycles to train.
        lock_fraction (float): Pass fraction of a lock phase (paper 0.5);
            0 skips lock phases.
        release_fraction (float): Pass fraction of a release phase (paper 1).
        val_interval (int): Validate after every N slots; 0 disables
            slot-wise validation.
        val_scope (str): What the slot-wise validation evaluates:
            ``'all'``: every val slot; ``'slots'``: only the val slots of the
            (dataset, task) pairs trained since the last validation (the
            paper evaluates each slot right after training it).
        val_at_cycle_end (bool): Also validate (every val slot) at the end of
            each cycle.
        prefetch_next_phase (bool): Start the next phase's loader workers
            before the last iteration of a phase, so that they load its
            first batches while that iteration computes instead of
            stalling the phase start. Only for slots with ``num_workers >
            0``; batches and training are the same either way. Defaults
            to True (it halves the phase-change stall on 2 CPU cores,
            docs/benchmarks.md).
    """

    def __init__(self,
                 runner,
                 dataloader: Union[dict, None],
                 slots: Sequence[dict],
                 max_cycles: int,
                 lock_fraction: float = 0.5,
                 release_fraction: float = 1.0,
                 val_interval: int = 1,
                 val_scope: str = 'all',
                 val_at_cycle_end: bool = False,
                 prefetch_next_phase: bool = True) -> None:
        self._runner = runner
        if val_scope not in ('all', 'slots'):
            raise ValueError(f'val_scope must be "all" or "slots", got '
                             f'{val_scope!r}')
        if not slots:
            raise ValueError('CyclicLockReleaseLoop: `slots` is empty')
        if max_cycles < 1:
            raise ValueError(f'max_cycles must be >= 1, got {max_cycles}')
        for name, value in (('lock_fraction', lock_fraction),
                            ('release_fraction', release_fraction)):
            if not 0 <= value <= 10:
                raise ValueError(f'{name} must be in [0, 10], got {value}')
        self.loader_defaults = dict(dataloader or {})
        self.loader_defaults.pop('dataset', None)
        self.loader_defaults.pop('sampler', None)
        self.max_cycles = max_cycles
        self.fractions = dict(lock=lock_fraction, release=release_fraction)
        self.val_interval = val_interval
        self.val_scope = val_scope
        self.val_at_cycle_end = val_at_cycle_end
        self.prefetch_next_phase = prefetch_next_phase
        # (cycle, slot_index, phase) -> (loader, started iterator)
        self._prefetched = None
        self.slots = [self._build_slot(k, s) for k, s in enumerate(slots)]
        self.state = SlotPhaseState()
        self._epoch = 0
        self._iter = 0
        self._iters_per_cycle = sum(
            self.phase_len(slot, phase) for slot in self.slots
            for phase in PHASES)
        self._max_iters = self._iters_per_cycle * max_cycles
        self.dataloader = CycleLength(self._iters_per_cycle)
        self.stop_training = False

    # ------------------------------------------------------------------
    def _build_slot(self, index: int, slot_cfg: dict) -> dict:
        check_slot_keys(slot_cfg, f'train_cfg.slots[{index}]')
        slot_cfg = dict(slot_cfg)
        dataset = slot_cfg['dataset']
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        task = getattr(dataset, 'task', None)
        name = getattr(dataset, 'dataset_name', None)
        if task is None or name is None:
            raise ValueError(
                f'train_cfg.slots[{index}]: {type(dataset).__name__} has no '
                '`task` / `dataset_name` (use an fx_mm CXR dataset)')
        check_slot_head(self.runner.model, dataset,
                        f'train_cfg.slots[{index}]')
        loader = dict(self.loader_defaults)
        loader.update({
            k: v
            for k, v in slot_cfg.items() if k not in ('dataset', 'name')
        })
        return dict(
            name=slot_cfg.get('name', f'{name}/{task}'),
            dataset=dataset,
            dataset_name=name,
            task=task,
            batch_size=int(loader.get('batch_size', 1)),
            num_workers=int(loader.get('num_workers', 0)),
            collate_fn=loader.get('collate_fn'))

    # ------------------------------------------------------------------
    @property
    def max_epochs(self) -> int:
        return self.max_cycles

    @property
    def max_iters(self) -> int:
        return self._max_iters

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def iter(self) -> int:
        return self._iter

    def phase_len(self, slot: dict, phase: str) -> int:
        return phase_num_iters(
            len(slot['dataset']), self.fractions[phase], slot['batch_size'],
            get_world_size())

    # ------------------------------------------------------------------
    def _restore_position(self) -> dict:
        """The next (cycle, slot, phase, phase_iter) to run; from the
        message hub after a resume, else the start."""
        saved = self.runner.message_hub.get_info(LOOP_STATE_KEY)
        if saved is None or self._iter == 0:
            return dict(cycle=0, slot_index=0, phase=PHASES[0], phase_iter=0)
        self.runner.logger.info(
            f'Resuming the cyclic loop at cycle {saved["cycle"] + 1}, slot '
            f'{saved["slot_index"] + 1}, {saved["phase"]} phase, '
            f'iteration {saved["phase_iter"]} of the phase '
            f'(global iteration {self._iter})')
        return dict(saved)

    def _save_position(self, cycle: int, slot_index: int, phase: str,
                       phase_iter: int) -> None:
        """Record the NEXT position to run (what a checkpoint resumes at);
        after a slot's last iteration also ``after_slot = [cycle, slot]``:
        that slot's follow-up (:meth:`_after_slot`) is still to run."""
        slot = self.slots[slot_index]
        finished = None
        if phase_iter >= self.phase_len(slot, phase):
            phase_iter = 0
            positions = phase_sequence(
                len(self.slots), cycle, slot_index, phase)
            next(positions)
            next_cycle, next_slot, phase = next(positions)
            if (next_cycle, next_slot) != (cycle, slot_index):
                finished = [cycle, slot_index]
            cycle, slot_index = next_cycle, next_slot
        self.runner.message_hub.update_info(
            LOOP_STATE_KEY,
            dict(
                cycle=cycle,
                slot_index=slot_index,
                phase=phase,
                phase_iter=phase_iter,
                after_slot=finished))

    def run(self) -> torch.nn.Module:
        self.runner.call_hook('before_train')
        position = self._restore_position()
        self._epoch = position['cycle']
        pending = position.get('after_slot')
        if pending is not None and pending[1] == len(self.slots) - 1:
            # resumed from a checkpoint of a cycle's last iteration: finish
            # that cycle first (validation, after_train_epoch hooks)
            self._epoch = pending[0]
            self._after_slot(*pending, resumed=True)
            position = dict(position, after_slot=None)
        while self._epoch < self.max_cycles and not self.stop_training:
            self.run_cycle(position)
            position = dict(
                cycle=self._epoch, slot_index=0, phase=PHASES[0], phase_iter=0)
        self._prefetched = None  # a stopped run's prefetched workers
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_cycle(self, position: dict) -> None:
        cycle = self._epoch
        self.runner.call_hook('before_train_epoch')
        if position.get('after_slot') is not None:
            # resumed from a checkpoint of a slot's last iteration
            self._after_slot(*position['after_slot'], resumed=True)
        for position_cycle, slot_index, phase in phase_sequence(
                len(self.slots), cycle, position['slot_index'],
                position['phase']):
            if position_cycle != cycle:
                break
            resume_here = (slot_index, phase) == (position['slot_index'],
                                                  position['phase'])
            start = position['phase_iter'] if resume_here else 0
            self.run_phase(cycle, slot_index, phase, start)
            if self.stop_training:
                return
            if phase == PHASES[-1]:
                self._after_slot(cycle, slot_index)

    def _after_slot(self,
                    cycle: int,
                    slot_index: int,
                    resumed: bool = False) -> None:
        """What follows a slot before the next training iteration: the
        slot-wise validation and, after the cycle's last slot, the end of
        the cycle (cycle-end validation, ``after_train_epoch`` hooks).
        ``resumed``: run for a checkpoint taken before it."""
        done = slot_index + 1
        validate = bool(self.val_interval) and done % self.val_interval == 0
        cycle_end = done == len(self.slots)
        if resumed and (validate or cycle_end):
            what = ['validation'] if validate else []
            what += ['end of the cycle'] if cycle_end else []
            self.runner.logger.info(
                f'Resuming: running what followed slot {done} of cycle '
                f'{cycle + 1} in the interrupted run ({" and ".join(what)}) '
                'before the next training iteration')
        if validate:
            trained = self.slots[done - self.val_interval:done]
            self._validate(None if self.val_scope == 'all' else [(
                slot['dataset_name'], slot['task']) for slot in trained])
        if cycle_end:
            if self.val_at_cycle_end and not (
                    self.val_scope == 'all' and self.val_interval
                    and len(self.slots) % self.val_interval == 0):
                self._validate()
            self.runner.call_hook('after_train_epoch')
            self._epoch += 1
        # done: a checkpoint taken from now on does not repeat it
        state = self.runner.message_hub.get_info(LOOP_STATE_KEY)
        if state is not None and state.get('after_slot') is not None:
            self.runner.message_hub.update_info(LOOP_STATE_KEY,
                                                dict(state, after_slot=None))

    def _validate(self, slots: Optional[List[tuple]] = None) -> None:
        """Run the val loop; ``slots``: only these (dataset, task)."""
        val_loop = self.runner.val_loop
        if val_loop is None:
            return
        if slots is None:
            val_loop.run()
        else:
            val_loop.run(slots=slots)

    def _phase_loader(self,
                      cycle: int,
                      slot_index: int,
                      phase: str,
                      start: int = 0) -> DataLoader:
        slot = self.slots[slot_index]
        seed = phase_seed(self.runner.seed or 0, cycle, slot_index,
                          PHASES.index(phase))
        return build_phase_dataloader(
            slot['dataset'],
            self.fractions[phase],
            slot['batch_size'],
            seed,
            start_iter=start,
            num_workers=slot['num_workers'],
            collate_fn=slot['collate_fn'])

    def _next_phase(self, cycle: int, slot_index: int,
                    phase: str) -> Optional[tuple]:
        """The (cycle, slot_index, phase) trained after this phase (phases
        of length 0 skipped); None after the last one."""
        positions = phase_sequence(len(self.slots), cycle, slot_index, phase)
        next(positions)
        for key in positions:
            if key[0] >= self.max_cycles:
                return None
            if self.phase_len(self.slots[key[1]], key[2]) > 0:
                return key

    def _prefetch(self, cycle: int, slot_index: int, phase: str) -> None:
        """Start the loader workers of the phase after this one."""
        key = self._next_phase(cycle, slot_index, phase)
        if key is None or self.slots[key[1]]['num_workers'] == 0:
            return
        loader = self._phase_loader(*key)
        self._prefetched = (key, loader, iter(loader))

    def run_phase(self, cycle: int, slot_index: int, phase: str,
                  start: int) -> None:
        slot = self.slots[slot_index]
        phase_len = self.phase_len(slot, phase)
        if phase_len == 0 or start >= phase_len:
            return
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None and start == 0 and \
                prefetched[0] == (cycle, slot_index, phase):
            self.dataloader, batches = prefetched[1:]
        else:
            self.dataloader = self._phase_loader(cycle, slot_index, phase,
                                                 start)
            batches = self.dataloader
        self.state = SlotPhaseState(
            cycle=cycle,
            slot_index=slot_index,
            phase=phase,
            phase_iter=start,
            phase_len=phase_len,
            slot_name=slot['name'],
            dataset=slot['dataset_name'],
            task=slot['task'])
        publish_slot_phase(self.runner.message_hub, self.state,
                           len(self.slots))
        self._forget_other_slot_losses()
        self.runner.logger.info(
            f'cycle {cycle + 1}/{self.max_cycles} | slot {slot_index + 1}/'
            f'{len(self.slots)} {slot["name"]} | {phase} phase: '
            f'{phase_len} iterations' +
            (f' (resuming at {start})' if start else ''))
        # mmengine's loops call model.train() at every epoch start; here a
        # phase is the unit: LockReleaseHook re-freezes in before_train_iter.
        self.runner.model.train()
        for data_batch in batches:
            self.state.is_phase_end = self.state.phase_iter + 1 == phase_len
            self.state.is_slot_end = self.state.is_phase_end and (
                phase == 'release' or self.phase_len(slot, 'release') == 0)
            if self.state.is_phase_end and self.prefetch_next_phase:
                self._prefetch(cycle, slot_index, phase)
            self.run_iter(data_batch)
            if self.stop_training:
                break
        self.dataloader = CycleLength(self._iters_per_cycle)

    def _forget_other_slot_losses(self) -> None:
        """Drop the loss histories of earlier phases from the message hub.

        mmengine's log processor averages every ``train/*`` scalar over a
        window of recent iterations; across a slot change that would mix
        (and keep printing) another task's losses. Learning rates and
        timings are kept.
        """
        drop_log_scalars(
            self.runner.message_hub, lambda key: key.startswith('train/') and
            ('loss' in key or key == 'train/grad_norm'))

    def run_iter(self, data_batch) -> None:
        batch_idx = self.state.phase_iter
        # the model's random draws are a function of the position, like the
        # sample order: what ran since the last step (validation, logging,
        # a resume) cannot shift them, and each rank has its own stream
        set_random_seed(
            iteration_seed(self.runner.seed or 0, self._iter, get_rank()))
        self.runner.call_hook(
            'before_train_iter', batch_idx=batch_idx, data_batch=data_batch)
        outputs = self.runner.model.train_step(
            data_batch, optim_wrapper=self.runner.optim_wrapper)
        self.state.phase_iter += 1
        self._save_position(self.state.cycle, self.state.slot_index,
                            self.state.phase, self.state.phase_iter)
        self.runner.call_hook(
            'after_train_iter',
            batch_idx=batch_idx,
            data_batch=data_batch,
            outputs=outputs)
        self._iter += 1
