# Copyright (c) fx_mm contributors. All rights reserved.
from typing import List, Optional, Tuple

import torch.nn as nn
from mmengine.hooks import Hook

from fx_mm.registry import HOOKS
from fx_mm.structures.slot_phase import current_slot_phase
from fx_mm.utils.model_wrappers import unwrap_model


def lock_plan(student: nn.Module, dataset: str,
              task: str) -> Tuple[List[nn.Module], List[nn.Module]]:
    """(modules that stay trainable, modules frozen) in a lock phase.

    The reference's table: cls locks nothing; loc freezes everything but
    this dataset's decoding part (decoder, queries, heads, denoising
    embeddings, encoder-output projection); seg freezes everything but this
    dataset's segmentation head.
    """
    if task == 'cls':
        return [student], []
    if task not in ('loc', 'seg'):
        raise ValueError(f'unknown task {task!r}')
    return student.branch(task).dataset_modules(dataset), [student]


@HOOKS.register_module()
class LockReleaseHook(Hook):
    """Freeze per slot type in lock phases, unfreeze in release phases.

    Applied in ``before_train_iter`` (every iteration, so that a
    ``model.train()`` call by a loop or after validation cannot undo it):

    - release phase (and every slot start): every student parameter
      trainable, every module in train mode;
    - lock phase: see :func:`lock_plan`. Frozen modules get
      ``requires_grad=False`` AND ``eval()``: their BatchNorm statistics and
      dropout stop changing too (the research code only stops gradients;
      documented deviation).

    The optimizer is built over ALL student parameters before training;
    a frozen parameter ends each step with ``grad is None`` (mmengine zeroes
    grads with ``set_to_none``), so AdamW neither moves it by momentum nor
    decays it. Under DDP this needs ``find_unused_parameters=True``.

    Args:
        lock_tasks (tuple[str]): Tasks whose lock phase freezes anything.
            Defaults to ``('loc', 'seg')`` as in the paper.
    """

    priority = 'HIGH'

    def __init__(self, lock_tasks: Tuple[str] = ('loc', 'seg')) -> None:
        self.lock_tasks = tuple(lock_tasks)
        self._applied: Optional[tuple] = None
        self._plan: tuple = ([], [])
        self._modes_set = False

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        state = current_slot_phase(runner, required_by=type(self).__name__)
        model = unwrap_model(runner.model)
        student = model.student
        key = (state.cycle, state.slot_index, state.phase)
        locking = state.phase == 'lock' and state.task in self.lock_tasks
        if key != self._applied:
            student.requires_grad_(True)
            self._plan = ([], [])
            if locking:
                self._plan = lock_plan(student, state.dataset, state.task)
                trainable, frozen = self._plan
                for module in frozen:
                    module.requires_grad_(False)
                for module in trainable:
                    module.requires_grad_(True)
                runner.logger.info(
                    f'lock phase of {state.dataset}/{state.task}: '
                    f'{self.count(student, True)} parameters trainable, '
                    f'{self.count(student, False)} frozen')
            self._applied = key
            self._modes_set = False
        trainable, frozen = self._plan
        # Modes are set again whenever something switched them since (a
        # loop's model.train() puts frozen modules back in train mode,
        # validation leaves the model in eval mode); checking the top
        # modules' flags is cheaper than walking every module each
        # iteration.
        if self._modes_set and student.training and not any(
                module.training
                for module in frozen) and all(module.training
                                              for module in trainable):
            return
        student.train()
        for module in frozen:
            module.eval()
        for module in trainable:
            module.train()
        self._modes_set = True

    def after_train(self, runner) -> None:
        unwrap_model(runner.model).student.requires_grad_(True)
        self._applied = None
        self._plan = ([], [])
        self._modes_set = False

    @staticmethod
    def count(module: nn.Module, requires_grad: bool) -> int:
        return sum(p.numel() for p in module.parameters()
                   if p.requires_grad == requires_grad)
