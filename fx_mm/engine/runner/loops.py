# Copyright (c) fx_mm contributors. All rights reserved.
import copy
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.evaluator import Evaluator
from mmengine.runner import BaseLoop, set_random_seed
from mmengine.runner.amp import autocast
from torch.utils.data import DataLoader

from fx_mm.registry import DATASETS, LOOPS
from .slot_checks import VAL_SLOT_KEYS, check_slot_head, check_slot_keys
from .slot_data import (build_phase_dataloader, iteration_seed,
                        phase_num_iters, phase_seed)

PHASES = ('lock', 'release')
LOOP_STATE_KEY = 'fx_loop_state'


@dataclass
class SlotPhaseState:
    """Where the cyclic loop is; hooks read it as ``runner.train_loop.state``.

    ``phase_iter`` counts iterations done inside the phase; the flags are
    True during the hooks of the phase's / slot's last iteration.
    """
    cycle: int = 0
    slot_index: int = 0
    phase: str = 'lock'
    phase_iter: int = 0
    phase_len: int = 0
    slot_name: str = ''
    dataset: str = ''
    task: str = ''
    is_phase_end: bool = False
    is_slot_end: bool = False


class CycleLength:
    """Stands for a loop's dataloader where the loop iterates several:
    mmengine asks ``len(loop.dataloader)`` for the length of an "epoch"
    (schedulers, the log's ``[i/N]`` and eta). One train epoch here is one
    cycle; one val/test epoch is every selected slot's loader."""

    def __init__(self, iters_per_cycle: int, dataset=None) -> None:
        self.iters_per_cycle = iters_per_cycle
        self.dataset = dataset

    def __len__(self) -> int:
        return self.iters_per_cycle


def drop_log_scalars(message_hub, should_drop: Callable[[str], bool]) -> None:
    """Remove the message hub's scalar histories whose key ``should_drop``.

    mmengine's log processor logs every scalar the hub holds (train scalars
    averaged over a window of iterations), so values of another slot or of
    an earlier validation would otherwise be printed again as current.
    """
    scalars = message_hub.log_scalars
    for key in [k for k in scalars if should_drop(k)]:
        scalars.pop(key)


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
            return dict(cycle=0, slot_index=0, phase='lock', phase_iter=0)
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
            if phase == 'lock':
                phase = 'release'
            else:
                phase = 'lock'
                finished = [cycle, slot_index]
                slot_index += 1
                if slot_index == len(self.slots):
                    slot_index, cycle = 0, cycle + 1
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
            position = dict(cycle=self._epoch, slot_index=0, phase='lock',
                            phase_iter=0)
        self._prefetched = None  # a stopped run's prefetched workers
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_cycle(self, position: dict) -> None:
        cycle = self._epoch
        self.runner.call_hook('before_train_epoch')
        if position.get('after_slot') is not None:
            # resumed from a checkpoint of a slot's last iteration
            self._after_slot(*position['after_slot'], resumed=True)
        for slot_index in range(position['slot_index'], len(self.slots)):
            resume_here = slot_index == position['slot_index']
            for phase in PHASES:
                if resume_here and position['phase'] == 'release' and \
                        phase == 'lock':
                    continue
                start = position['phase_iter'] if (
                    resume_here and phase == position['phase']) else 0
                self.run_phase(cycle, slot_index, phase, start)
                if self.stop_training:
                    return
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
            self.runner.message_hub.update_info(
                LOOP_STATE_KEY, dict(state, after_slot=None))

    def _validate(self, slots: Optional[List[tuple]] = None) -> None:
        """Run the val loop; ``slots``: only these (dataset, task)."""
        val_loop = self.runner.val_loop
        if val_loop is None:
            return
        if slots is None:
            val_loop.run()
        else:
            val_loop.run(slots=slots)

    def _phase_loader(self, cycle: int, slot_index: int, phase: str,
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
        order = [(c, k, p) for c in (cycle, cycle + 1)
                 for k in range(len(self.slots)) for p in PHASES]
        position = order.index((cycle, slot_index, phase))
        for key in order[position + 1:]:
            if key[0] >= self.max_cycles:
                return None
            if self.phase_len(self.slots[key[1]], key[2]) > 0:
                return key
        return None

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
        self.runner.message_hub.update_info(
            'fx_slot', dict(asdict(self.state), num_slots=len(self.slots)))
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


@LOOPS.register_module()
class MultiSlotValLoop(BaseLoop):
    """Evaluate every configured (dataset, task) slot, for the student and
    the teacher, in one pass each.

    Each slot's samples go to the metrics of its (dataset, task) (a metric's
    ``dataset_name`` and ``task``); metrics without them (e.g.
    ``DumpResults``) see every slot. Every metric key is prefixed with the
    network, also when only one is evaluated: ``teacher/jsrt/seg/Dice``
    (one key per value; docs/inference.md). ``run(slots=[(dataset, task),
    ...])`` evaluates only those slots (validation right after a slot is
    trained).

    Args:
        runner: The runner.
        dataloader (dict): Loader defaults (batch_size, num_workers,
            collate_fn); ``dataset`` is ignored.
        evaluator (list | dict): Metrics of all slots.
        slots (list[dict]): ``dict(dataset=<cfg>, batch_size=...)`` each.
        predict_on (list[str], optional): Networks to evaluate:
            ``['student', 'teacher']``; None = the model's ``predict_on``.
        fp16 (bool): Autocast. Defaults to False.
    """

    stage = 'val'

    def __init__(self,
                 runner,
                 dataloader: Union[dict, None],
                 evaluator: Union[list, dict, Evaluator],
                 slots: Sequence[dict],
                 predict_on: Optional[Sequence[str]] = None,
                 fp16: bool = False) -> None:
        self._runner = runner
        if not slots:
            raise ValueError(f'{type(self).__name__}: `slots` is empty')
        defaults = dict(dataloader or {})
        defaults.pop('dataset', None)
        self.slot_loaders = []
        for k, slot in enumerate(slots):
            check_slot_keys(slot, f'{self.stage}_cfg.slots[{k}]',
                            VAL_SLOT_KEYS)
            slot = dict(slot)
            loader_cfg = copy.deepcopy(defaults)
            loader_cfg.update(
                {key: v
                 for key, v in slot.items() if key != 'dataset'})
            loader_cfg['dataset'] = slot['dataset']
            loader_cfg.setdefault(
                'sampler', dict(type='DefaultSampler', shuffle=False))
            self.slot_loaders.append(
                runner.build_dataloader(loader_cfg, seed=runner.seed))
            check_slot_head(runner.model, self.slot_loaders[-1].dataset,
                            f'{self.stage}_cfg.slots[{k}]')
        self.dataloader = self.slot_loaders[0]
        if isinstance(evaluator, (dict, list)):
            self.evaluator = runner.build_evaluator(evaluator)
        else:
            self.evaluator = evaluator
        self.slot_keys = [(getattr(loader.dataset, 'dataset_name', None),
                           getattr(loader.dataset, 'task', None))
                          for loader in self.slot_loaders]
        self.slot_evaluators = self._split_evaluator()
        self.predict_on = list(predict_on) if predict_on else None
        self.fp16 = fp16

    def _split_evaluator(self) -> List[Evaluator]:
        """One evaluator per slot holding the metrics of its (dataset,
        task) plus the metrics that take every sample."""
        def metric_key(metric):
            if not hasattr(metric, 'dataset_name'):
                return None
            return metric.dataset_name, metric.task

        for metric in self.evaluator.metrics:
            key = metric_key(metric)
            if key is not None and key not in self.slot_keys:
                raise ValueError(
                    f'{self.stage}_evaluator: {type(metric).__name__} for '
                    f'{key[0]}/{key[1]} has no {self.stage} slot; '
                    f'{self.stage} slots: '
                    f'{[f"{d}/{t}" for d, t in self.slot_keys]}')
        evaluators = []
        for slot_key in self.slot_keys:
            metrics = [
                m for m in self.evaluator.metrics
                if metric_key(m) in (None, slot_key)
            ]
            evaluators.append(Evaluator(metrics) if metrics else None)
        return evaluators

    @property
    def _model(self):
        model = self.runner.model
        return getattr(model, 'module', model)

    def _networks(self) -> List[str]:
        return self.predict_on or [self._model.predict_on]

    def run(self,
            slots: Optional[Sequence[tuple]] = None) -> Dict[str, float]:
        """Evaluate the networks on all slots, or only on ``slots``
        (``[(dataset, task), ...]``)."""
        selected = list(range(len(self.slot_loaders)))
        if slots is not None:
            wanted = {tuple(slot) for slot in slots}
            selected = [
                k for k in selected if self.slot_keys[k] in wanted
            ]
        stage = self.stage
        self.runner.call_hook(f'before_{stage}')
        self.runner.call_hook(f'before_{stage}_epoch')
        self.runner.model.eval()
        metrics: Dict[str, float] = {}
        previous = self._model.predict_on
        networks = self._networks()
        self.dataloader = CycleLength(
            sum(len(self.slot_loaders[k]) for k in selected),
            self.slot_loaders[selected[0]].dataset if selected else None)
        for network in networks:
            self._model.predict_on = network
            network_metrics = self._run_network(selected)
            for key, value in network_metrics.items():
                metrics[f'{network}/{key}'] = value
        self._model.predict_on = previous
        # mmengine logs every `val/*` scalar the message hub holds; drop the
        # previous validations' values so that slots not evaluated now are
        # not logged again with stale numbers
        # (metric keys have a dataset/task path; `val/time` etc. stay)
        drop_log_scalars(
            self.runner.message_hub,
            lambda key: key.startswith(f'{stage}/') and key.count('/') > 1)
        self.runner.call_hook(f'after_{stage}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{stage}')
        return metrics

    def _run_network(self, selected: Sequence[int]) -> Dict[str, float]:
        # One evaluate() per slot loader: mmengine drops a distributed
        # sampler's padding by cutting the collected results at the
        # dataset's size, which only works loader by loader.
        metrics: Dict[str, float] = {}
        batch_idx = 0
        for k in selected:
            loader, evaluator = self.slot_loaders[k], self.slot_evaluators[k]
            for data_batch in loader:
                self.run_iter(batch_idx, data_batch, evaluator)
                batch_idx += 1
            if evaluator is not None:
                metrics.update(evaluator.evaluate(len(loader.dataset)))
        return metrics

    @torch.no_grad()
    def run_iter(self,
                 idx: int,
                 data_batch: dict,
                 evaluator: Optional[Evaluator] = None) -> None:
        stage = self.stage
        self.runner.call_hook(
            f'before_{stage}_iter', batch_idx=idx, data_batch=data_batch)
        with autocast(enabled=self.fp16):
            step = getattr(self.runner.model, f'{stage}_step')
            outputs = step(data_batch)
        if evaluator is not None:
            evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            f'after_{stage}_iter',
            batch_idx=idx,
            data_batch=data_batch,
            outputs=outputs)


@LOOPS.register_module()
class MultiSlotTestLoop(MultiSlotValLoop):
    """:class:`MultiSlotValLoop` for ``tools/test.py`` (test hooks)."""

    stage = 'test'
