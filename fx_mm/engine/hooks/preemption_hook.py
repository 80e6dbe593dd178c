# Copyright (c) fx_mm contributors. All rights reserved.
"""Save a resumable checkpoint and exit cleanly when the job is preempted.

Cluster schedulers announce a preemption or the end of the time limit with a
signal (SLURM: ``#SBATCH --signal=USR1@120`` sends SIGUSR1 120 s before the
end; SIGTERM precedes the final SIGKILL). The signal handler only sets a
flag; the training loop checks it at the next iteration boundary, saves a
checkpoint exactly as :class:`SlotCheckpointHook` does (same file names,
``last_checkpoint``, loop position and RNG states), stops the loop, lets the
other hooks finish (``after_train`` / ``after_run``) and exits with
``exit_code``. ``python tools/train.py CONFIG --resume`` continues from that
iteration. See docs/reliability.md for the SLURM job layout.
"""
import os
import signal
import subprocess
import sys
import threading
from typing import Optional, Sequence, Union

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook, Hook

from fx_mm.registry import HOOKS


def _signal_number(sig: Union[str, int]) -> int:
    if isinstance(sig, int):
        return sig
    name = sig.upper()
    if not name.startswith('SIG'):
        name = 'SIG' + name
    number = getattr(signal, name, None)
    if number is None:
        raise ValueError(f'PreemptionHook: unknown signal {sig!r}')
    return int(number)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Checkpoint at the next iteration boundary after a signal, then exit.

    Args:
        signals (Sequence[str | int]): Signals that request the stop.
            Defaults to ``('SIGTERM', 'SIGUSR1')``.
        exit_code (int, optional): Exit status of the process after the
            checkpoint. None (default): ``128 + signal number`` (what a shell
            reports for a process ended by that signal, e.g. 138 for
            SIGUSR1), so that a wrapper script never mistakes a preempted
            run for a finished one.
        requeue (bool): Run ``scontrol requeue $SLURM_JOB_ID`` (rank 0)
            before exiting when ``SLURM_JOB_ID`` is set. Defaults to False.
        save_checkpoint (bool): Save before exiting. Defaults to True.

    A second signal (while the first is still being handled) restores the
    previous handlers and is delivered again: by default the process ends
    at once, as it would without this hook.
    """

    priority = 'LOWEST'  # after every other hook of the iteration

    def __init__(self,
                 signals: Sequence[Union[str, int]] = ('SIGTERM', 'SIGUSR1'),
                 exit_code: Optional[int] = None,
                 requeue: bool = False,
                 save_checkpoint: bool = True) -> None:
        self.signals = [_signal_number(s) for s in signals]
        self.exit_code = exit_code
        self.requeue = requeue
        self.save_checkpoint = save_checkpoint
        self.received: Optional[int] = None
        self.stopped = False
        self._previous = {}

    # -- signal handling --------------------------------------------------
    def _handler(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum
            return
        # a second signal: give the process back its previous behaviour
        # (by default: terminate now) and deliver the signal again
        self._restore_handlers()
        signal.raise_signal(signum)

    def before_run(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning(
                'PreemptionHook: not in the main thread; signal handlers '
                'cannot be installed, preemption is not handled')
            return
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handler)
        names = ', '.join(signal.Signals(s).name for s in self.signals)
        runner.logger.info(
            f'PreemptionHook: on {names}, save a checkpoint at the next '
            'iteration and exit' +
            (' (and requeue the SLURM job)' if self.requeue else ''))

    def _restore_handlers(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    # -- the stop ---------------------------------------------------------
    def _stop_requested(self) -> bool:
        flag = torch.tensor([0.0 if self.received is None else 1.0])
        if get_world_size() > 1:
            # every rank must stop at the same iteration
            all_reduce(flag, op='max')
        return bool(flag.item())

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if self.stopped or not self._stop_requested():
            return
        self.stopped = True
        name = signal.Signals(self.received).name if self.received \
            else 'a signal on another rank'
        runner.logger.warning(
            f'PreemptionHook: received {name}; stopping after iteration '
            f'{runner.iter + 1}')
        if self.save_checkpoint:
            self._save(runner)
            # rank 0 writes; no rank may exit (and have a launcher such as
            # `srun --kill-on-bad-exit` kill the others) before it is done
            barrier()
        runner.train_loop.stop_training = True

    def _save(self, runner) -> None:
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        step = runner.iter + 1
        if hooks:
            hook = hooks[0]
            filename = hook.filename_tmpl.format(step)
            last = runner.message_hub.get_info('last_ckpt') or ''
            if os.path.basename(str(last)) == filename:
                runner.logger.info(
                    f'PreemptionHook: {last} was just saved; not saving '
                    'again')
                return
            hook._save_checkpoint(runner)
            path = hook.last_ckpt
        else:
            from fx_mm.utils.checkpoint import ATOMIC_BACKEND_ARGS
            filename = f'iter_{step}.pth'
            runner.save_checkpoint(
                runner.work_dir,
                filename,
                meta=dict(epoch=runner.epoch, iter=step),
                by_epoch=False,
                backend_args=dict(ATOMIC_BACKEND_ARGS))
            path = os.path.join(runner.work_dir, filename)
            if is_main_process():
                with open(
                        os.path.join(runner.work_dir, 'last_checkpoint'),
                        'w') as f:
                    f.write(path)
        runner.logger.warning(f'PreemptionHook: saved {path}; resume with '
                              '`python tools/train.py CONFIG --resume`')

    def after_run(self, runner) -> None:
        self._restore_handlers()
        if not self.stopped:
            return
        if self.requeue:
            self._requeue(runner)
        code = self.exit_code
        if code is None:
            code = 128 + (self.received or signal.SIGTERM)
        runner.logger.warning(f'PreemptionHook: exiting with status {code}')
        sys.exit(code)

    @staticmethod
    def _requeue(runner) -> None:
        job = os.environ.get('SLURM_JOB_ID')
        if not job or not is_main_process():
            if not job:
                runner.logger.warning(
                    'PreemptionHook: requeue=True but SLURM_JOB_ID is not '
                    'set; not requeued')
            return
        array_job = os.environ.get('SLURM_ARRAY_JOB_ID')
        array_task = os.environ.get('SLURM_ARRAY_TASK_ID')
        if array_job and array_task:
            job = f'{array_job}_{array_task}'
        try:
            result = subprocess.run(['scontrol', 'requeue', job],
                                    capture_output=True,
                                    text=True,
                                    timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            runner.logger.error(
                f'PreemptionHook: `scontrol requeue {job}` failed: {err}')
            return
        if result.returncode:
            runner.logger.error(
                f'PreemptionHook: `scontrol requeue {job}` exited with '
                f'{result.returncode}: {result.stderr.strip()}')
        else:
            runner.logger.warning(f'PreemptionHook: requeued SLURM job {job}')
