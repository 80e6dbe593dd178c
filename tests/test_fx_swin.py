# Copyright (c) fx_mm contributors. All rights reserved.
"""FXSwinTransformer: gradients behind frozen stages with checkpointing,
un-normalised outputs, and importing fx_mm leaves mmdet's / mmengine's
classes as they are."""
import subprocess
import sys

import pytest
import torch

from fx_mm.models.backbones import FXSwinTransformer
from fx_test_utils import REPO_ROOT

TINY = dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8),
            drop_path_rate=0., out_indices=(0, 1, 2, 3))


def _grads_behind_frozen_stages(swin) -> dict:
    """Freeze patch embedding and stage 1 (the lock-phase situation), run
    a backward, and report which trainable blocks got gradients."""
    swin.train()
    swin.patch_embed.requires_grad_(False)
    swin.stages[0].requires_grad_(False)
    loss = sum(out.square().mean() for out in swin(torch.randn(2, 3, 64, 64)))
    loss.backward()
    return {
        name: param.grad is not None
        for name, param in swin.named_parameters() if param.requires_grad
    }


@pytest.mark.parametrize('with_cp', [False, True])
def test_checkpointing_reaches_blocks_behind_frozen_ones(with_cp):
    torch.manual_seed(0)
    swin = FXSwinTransformer(with_cp=with_cp, **TINY)
    got_grad = _grads_behind_frozen_stages(swin)
    assert got_grad and all(got_grad.values()), [
        n for n, g in got_grad.items() if not g
    ][:5]


def test_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = FXSwinTransformer(with_cp=False, **TINY)
    checkpointed = FXSwinTransformer(with_cp=True, **TINY)
    checkpointed.load_state_dict(plain.state_dict())
    grads = []
    for swin in (plain, checkpointed):
        torch.manual_seed(1)
        _grads_behind_frozen_stages(swin)
        grads.append({n: p.grad for n, p in swin.named_parameters()
                      if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name])


def test_out_norms_false_returns_the_raw_stages():
    torch.manual_seed(0)
    # mmdet's train() returns None: call eval() on its own line
    normed = FXSwinTransformer(**TINY)
    raw = FXSwinTransformer(out_norms=False, **TINY)
    normed.eval()
    raw.eval()
    state = {k: v for k, v in normed.state_dict().items()
             if not k.startswith('norm')}
    raw.load_state_dict(state, strict=True)  # no norm{i} keys
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        for a, b, i in zip(raw(x), normed(x), range(4)):
            norm = getattr(normed, f'norm{i}')
            expected = norm(a.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            torch.testing.assert_close(expected, b)


def test_importing_fx_mm_changes_nothing_upstream():
    """Other code in the same process keeps mmdet's Swin and mmengine's
    checkpoint loading exactly as they were (fx_mm's changes live in its
    registered subclasses: FXSwinTransformer, FXRunner, FXPretrainedInit)."""
    script = (
        'import mmdet.models.backbones.swin as sw\n'
        'from mmengine.runner.checkpoint import CheckpointLoader as C\n'
        'from mmengine.model.weight_init import PretrainedInit as P\n'
        'S, B = sw.SwinTransformer, sw.SwinBlock\n'
        'def state():\n'
        '    return (sw.cp, S.init_weights, S.forward, B.forward,\n'
        '            dict(C._schemes), P.__call__)\n'
        'before = state()\n'
        'import fx_mm, fx_mm.models, fx_mm.engine, fx_mm.datasets\n'
        'import fx_mm.apis\n'
        'from fx_mm.utils import register_all_modules\n'
        'register_all_modules()\n'
        'after = state()\n'
        'print("CHANGED", [i for i in range(6) if before[i] != after[i]])\n')
    out = subprocess.run([sys.executable, '-c', script],
                         cwd=REPO_ROOT,
                         capture_output=True,
                         text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'CHANGED []' in out.stdout, out.stdout[-2000:]
