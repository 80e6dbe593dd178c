# Copyright (c) fx_mm contributors. All rights reserved.
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from fx_mm.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save and restore the python, numpy and torch RNG states with each
    checkpoint (mmengine does not), so that a resumed run draws the same
    dropout / denoising noise / augmentation as the uninterrupted one.

    The states are the saving rank's (rank 0). :class:`CyclicLockReleaseLoop`
    does not need them: it seeds the RNGs from (seed, iteration, rank)
    before every training iteration, which also keeps validation and other
    work between two steps out of the training's random numbers and gives
    every DDP rank its own stream back on resume. The hook matters for
    other loops.
    """

    priority = 'VERY_HIGH'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_states'] = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state(),
            cuda=torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() else [])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get('rng_states')
        if states is None:
            runner.logger.warning(
                'the checkpoint has no RNG states (not written by fx_mm): '
                'the resumed run will not repeat the original exactly')
            return
        python_state = states['python']
        random.setstate((python_state[0], tuple(python_state[1]),
                         python_state[2]))
        np.random.set_state(tuple(states['numpy']))
        torch.set_rng_state(states['torch'].cpu())
        if states.get('cuda') and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states['cuda'])
