# Copyright (c) fx_mm contributors. All rights reserved.
"""Stop or skip a training step whose loss or gradients are not finite.

Where the check sits: mmengine's ``model.train_step`` runs forward, backward
and ``optimizer.step()`` in one call (``OptimWrapper.update_params``), so a
hook's ``after_train_iter`` only sees a NaN loss after the step has already
written NaN into every parameter. :class:`NaNGuardHook` therefore hooks into
the two places where the step can still be stopped, without replacing the
optimizer wrapper (so ``OptimWrapper``, ``AmpOptimWrapper``, gradient
clipping and DDP keep working unchanged):

1. a forward hook on the model records non-finite entries of the loss dict
   (``forward(mode='loss')`` returns it before backward);
2. a ``register_step_pre_hook`` on the torch optimizer runs right before
   ``optimizer.step()`` (after backward, DDP's gradient all-reduce and
   clipping) and checks every gradient. Under DDP the decision is
   all-reduced, so every rank skips (or raises) together.

Skipping sets every ``.grad`` of the optimizer to ``None``: torch optimizers
leave such parameters untouched (no update, no momentum, no weight decay,
no step count), exactly as ``GradScaler`` skips an overflowing AMP step.
The buffers the forward pass changed (BatchNorm statistics) are restored
from a copy taken before the iteration.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from fx_mm.registry import HOOKS
from fx_mm.structures.slot_phase import current_slot_phase
from fx_mm.utils.model_wrappers import unwrap_model

ACTIONS = ('skip', 'raise')


class NonFiniteError(FloatingPointError):
    """A training step produced a NaN/inf loss or gradient."""


@HOOKS.register_module()
class NaNGuardHook(Hook):
    """Skip (or stop at) a step whose loss or gradients are NaN/inf.

    The log line names the cycle, slot, dataset, task, phase, iteration, the
    non-finite losses / parameters and the image files of the batch.

    Args:
        action (str): ``'skip'``: leave the parameters unchanged by this
            step and go on; ``'raise'``: raise :class:`NonFiniteError`.
            Defaults to ``'skip'``.
        max_consecutive_skips (int): Raise anyway after this many skipped
            steps in a row (training that only produces NaNs is broken).
            Defaults to 20.
        restore_buffers (bool): On a skip, restore the model's buffers
            (BatchNorm running statistics) to their values before the
            iteration. Defaults to True.
        max_listed (int): Parameters / files listed in a message.
            Defaults to 8.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 action: str = 'skip',
                 max_consecutive_skips: int = 20,
                 restore_buffers: bool = True,
                 max_listed: int = 8) -> None:
        if action not in ACTIONS:
            raise ValueError(f'NaNGuardHook: action={action!r}; expected one '
                             f'of {ACTIONS}')
        if max_consecutive_skips < 1:
            raise ValueError('max_consecutive_skips must be >= 1, got '
                             f'{max_consecutive_skips}')
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.restore_buffers = restore_buffers
        self.max_listed = max_listed
        self.num_skipped = 0
        self.consecutive = 0
        self._runner = None
        self._handles: List = []
        self._in_iter = False
        self._bad_losses: Dict[str, float] = {}
        self._files: List[str] = []
        self._buffers: Optional[List[torch.Tensor]] = None
        self._skipped_this_cycle = 0
        self._names: Dict[int, str] = {}

    # -- installation ---------------------------------------------------
    def before_train(self, runner) -> None:
        self._runner = runner
        model = unwrap_model(runner.model)
        self._names = {id(p): n for n, p in model.named_parameters()}
        self._handles.append(model.register_forward_hook(self._check_loss))
        optim_wrapper = runner.optim_wrapper
        wrappers = optim_wrapper.values() if hasattr(
            optim_wrapper, 'values') else [optim_wrapper]
        for wrapper in wrappers:
            self._handles.append(
                wrapper.optimizer.register_step_pre_hook(self._check_step))

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self.num_skipped:
            runner.logger.warning(
                f'NaNGuardHook: skipped {self.num_skipped} training steps '
                'with a non-finite loss or gradient in this run')

    # -- per iteration --------------------------------------------------
    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        self._in_iter = True
        self._bad_losses = {}
        samples = (data_batch or {}).get('data_samples') or []
        self._files = [
            str(s.metainfo.get('img_path', '?')) for s in samples
            if hasattr(s, 'metainfo')
        ]
        if self.restore_buffers:
            self._buffers = [
                b.detach().clone()
                for b in unwrap_model(runner.model).buffers()
            ]

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._in_iter = False
        self._buffers = None
        if self._bad_losses:
            # no optimizer step consumed the finding (gradient accumulation,
            # or AMP's GradScaler skipped the step itself)
            message = self._describe(runner, self._bad_loss_text(), [])
            self._bad_losses = {}
            if self.action == 'raise':
                runner.logger.error(message)
                raise NonFiniteError(message)
            runner.logger.warning(message + ' (no optimizer step ran)')

    def after_train_epoch(self, runner) -> None:
        if self._skipped_this_cycle:
            runner.logger.warning(
                f'NaNGuardHook: {self._skipped_this_cycle} steps skipped in '
                f'cycle {runner.epoch + 1} ({self.num_skipped} in total)')
        self._skipped_this_cycle = 0

    # -- the checks -----------------------------------------------------
    def _check_loss(self, module, args, output) -> None:
        """Forward hook: note the non-finite entries of a loss dict."""
        if not (self._in_iter and module.training
                and isinstance(output, dict)):
            return
        for name, value in output.items():
            if 'loss' not in name:
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            for item in values:
                if isinstance(item, torch.Tensor) and item.is_floating_point(
                ) and not bool(torch.isfinite(item.detach()).all()):
                    self._bad_losses[name] = float(item.detach().sum())

    def _bad_loss_text(self) -> str:
        return 'non-finite loss ' + ', '.join(
            f'{k}={v}' for k, v in self._bad_losses.items())

    def _nonfinite_grads(self, params: Sequence[torch.nn.Parameter]) -> list:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return []
        norms = torch._foreach_norm(grads)
        finite = torch.stack([n.to(norms[0].device) for n in norms]) \
            .isfinite()
        if bool(finite.all()):
            return []
        with_grad = [p for p in params if p.grad is not None]
        return [
            self._names.get(id(p), f'<param {tuple(p.shape)}>')
            for p, ok in zip(with_grad, finite.tolist()) if not ok
        ]

    def _check_step(self, optimizer, args, kwargs) -> None:
        """Optimizer step pre-hook: skip or raise before the update."""
        runner = self._runner
        if runner is None or not self._in_iter:
            return
        params = [p for g in optimizer.param_groups for p in g['params']]
        bad_params = self._nonfinite_grads(params)
        local_bad = bool(bad_params or self._bad_losses)
        flag = torch.tensor([float(local_bad)],
                            device=params[0].device if params else 'cpu')
        if get_world_size() > 1:
            all_reduce(flag, op='max')
        if not bool(flag.item()):
            self.consecutive = 0
            return
        reason = []
        if self._bad_losses:
            reason.append(self._bad_loss_text())
        if bad_params:
            reason.append(f'non-finite gradients in {len(bad_params)} '
                          'parameters')
        if not local_bad:
            reason.append('non-finite loss or gradient on another rank')
        self._bad_losses = {}
        message = self._describe(runner, '; '.join(reason), bad_params)
        if self.action == 'raise':
            runner.logger.error(message)
            raise NonFiniteError(message)
        self._skip(optimizer, runner)
        self.num_skipped += 1
        self._skipped_this_cycle += 1
        self.consecutive += 1
        runner.logger.warning(
            f'{message} -> step skipped, parameters unchanged '
            f'({self.num_skipped} skipped so far, {self.consecutive} in a '
            'row)')
        if self.consecutive >= self.max_consecutive_skips:
            raise NonFiniteError(
                f'NaNGuardHook: {self.consecutive} consecutive steps were '
                'non-finite; stopping (max_consecutive_skips='
                f'{self.max_consecutive_skips}). Last: {message}')

    @torch.no_grad()
    def _skip(self, optimizer, runner) -> None:
        for group in optimizer.param_groups:
            for p in group['params']:
                p.grad = None
        if self.restore_buffers and self._buffers is not None:
            for buffer, saved in zip(
                    unwrap_model(runner.model).buffers(), self._buffers):
                buffer.copy_(saved)

    def _describe(self, runner, reason: str, bad_params: list) -> str:
        """Where in training the problem happened, for the log."""
        state = current_slot_phase(runner)
        if state is not None and getattr(state, 'slot_name', ''):
            num_slots = len(getattr(runner.train_loop, 'slots', [])) or '?'
            where = (f'cycle {state.cycle + 1}, slot {state.slot_index + 1}'
                     f'/{num_slots} {state.slot_name} (dataset '
                     f'{state.dataset}, task {state.task}), {state.phase} '
                     f'phase iteration {state.phase_iter + 1}/'
                     f'{state.phase_len}')
        else:
            where = f'epoch {runner.epoch + 1}'
        listed = self.max_listed
        text = (f'NaNGuardHook: {reason} at iteration {runner.iter + 1} '
                f'({where})')
        if bad_params:
            more = len(bad_params) - listed
            text += '; parameters: ' + ', '.join(bad_params[:listed]) + \
                (f' (+{more} more)' if more > 0 else '')
        files = self._files
        text += '; batch files: ' + (', '.join(files[:listed]) or '?') + \
            (f' (+{len(files) - listed} more)' if len(files) > listed else '')
        return text
