# Copyright (c) fx_mm contributors. All rights reserved.
from mmengine.hooks import CheckpointHook

from fx_mm.registry import HOOKS
from fx_mm.structures.slot_phase import current_slot_phase
from fx_mm.utils.checkpoint import ATOMIC_BACKEND_ARGS


@HOOKS.register_module()
class SlotCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that also saves after every
    ``slot_interval`` slots of the cyclic loop.

    Files are named by iteration (``iter_<N>.pth``), so ``--resume auto``
    finds the latest; ``interval`` still saves every N iterations.

    Local checkpoints are written atomically (a temporary file in the same
    folder renamed over the target, :class:`fx_mm.utils.checkpoint.
    AtomicLocalBackend`): a crash or a kill mid-write never leaves a
    truncated checkpoint. Passing ``backend_args`` / ``file_client_args``
    or a remote ``out_dir`` (``s3://...``) uses that backend instead.
    """

    def __init__(self, slot_interval: int = 1, **kwargs) -> None:
        kwargs['by_epoch'] = False
        kwargs.setdefault('interval', -1)
        out_dir = kwargs.get('out_dir')
        if kwargs.get('backend_args') is None and \
                kwargs.get('file_client_args') is None and \
                (out_dir is None or '://' not in str(out_dir)):
            kwargs['backend_args'] = dict(ATOMIC_BACKEND_ARGS)
        super().__init__(**kwargs)
        self.slot_interval = slot_interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        state = current_slot_phase(runner)
        slot_end = state is not None and state.is_slot_end and \
            self.slot_interval > 0 and \
            (state.slot_index + 1) % self.slot_interval == 0
        by_iter = self.interval > 0 and self.every_n_train_iters(
            runner, self.interval, self.save_begin)
        last = self.save_last and self.is_last_train_iter(runner)
        if slot_end or by_iter or last:
            runner.logger.info(
                f'Saving checkpoint at {runner.iter + 1} iterations')
            self._save_checkpoint(runner)
