# Copyright (c) fx_mm contributors. All rights reserved.
import hashlib
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook

from fx_mm.registry import HOOKS
from fx_mm.structures.slot_phase import current_slot_phase
from fx_mm.utils.model_wrappers import unwrap_model


def tensor_digests(module: nn.Module) -> Dict[str, str]:
    """``{name: sha256 of the bytes}`` of every parameter and buffer."""
    digests = {}
    for name, tensor in module.state_dict().items():
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest = hashlib.sha256(data.view(torch.uint8).numpy().tobytes())
        digest.update(f'{tuple(data.shape)}{data.dtype}'.encode())
        digests[name] = digest.hexdigest()
    return digests


def check_rank_consistency(modules: Dict[str, nn.Module],
                           max_listed: int = 10) -> int:
    """Compare the weights of ``modules`` across all ranks, bit by bit.

    Every rank hashes its tensors, the hashes are gathered, and every rank
    raises the same error when any rank differs from rank 0.

    Args:
        modules (dict[str, nn.Module]): E.g.
            ``dict(student=..., teacher=...)``.
        max_listed (int): Differing tensors named in the error.

    Returns:
        int: Number of tensors compared.

    Raises:
        RuntimeError: Lists the differing tensors and the ranks.
    """
    local = {
        f'{prefix}.{name}': digest
        for prefix, module in modules.items()
        for name, digest in tensor_digests(module).items()
    }
    gathered: List[Dict[str, str]] = all_gather_object(local)
    reference = gathered[0]
    differing = []
    for rank, digests in enumerate(gathered[1:], start=1):
        if digests.keys() != reference.keys():
            missing = sorted(reference.keys() ^ digests.keys())[:max_listed]
            differing.append(f'rank {rank} has other tensors: {missing}')
            continue
        for name, digest in digests.items():
            if digest != reference[name]:
                differing.append(f'{name} (rank {rank} != rank 0)')
    if differing:
        listed = differing[:max_listed]
        more = len(differing) - len(listed)
        raise RuntimeError(
            f'weights differ across the {len(gathered)} ranks: ' +
            ', '.join(listed) + (f' and {more} more' if more else ''))
    return len(reference)


@HOOKS.register_module()
class RankConsistencyHook(Hook):
    """Check that student and teacher are bit-identical on every rank.

    DDP keeps replicas in sync only through gradient all-reduce; a rank
    that steps differently (a frozen module it did not freeze, an EMA
    update it skipped, a buffer it updated alone) drifts silently. This
    hook hashes every tensor on every rank and stops the run with the
    names of the differing tensors. Without a process group it does
    nothing.

    Args:
        at (Sequence[str]): When to check: ``'slot_end'`` (after the last
            iteration of every slot), ``'train_end'``.
    """

    priority = 'LOWEST'  # after the optimizer step and the EMA update

    def __init__(self, at: Sequence[str] = ('slot_end', 'train_end')) -> None:
        unknown = set(at) - {'slot_end', 'train_end'}
        if unknown:
            raise ValueError(f'RankConsistencyHook: unknown `at` values '
                             f'{sorted(unknown)}; use slot_end, train_end')
        self.at = tuple(at)

    def _check(self, runner, where: str, iteration: int) -> None:
        if get_world_size() == 1:
            return
        model = unwrap_model(runner.model)
        modules = dict(student=model.student)
        if getattr(model, 'teacher', None) is not None:
            modules['teacher'] = model.teacher
        count = check_rank_consistency(modules)
        runner.logger.info(
            f'rank consistency ({where}, iteration {iteration}): '
            f'{count} tensors of {"/".join(modules)} identical on '
            f'{get_world_size()} ranks (rank {get_rank()} checked)')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        state = current_slot_phase(runner)
        if 'slot_end' in self.at and state is not None and \
                state.is_slot_end:
            self._check(runner, f'end of slot {state.slot_name}',
                        runner.iter + 1)

    def after_train(self, runner) -> None:
        if 'train_end' in self.at:
            self._check(runner, 'end of training', runner.iter)
