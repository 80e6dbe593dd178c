# Copyright (c) fx_mm contributors. All rights reserved.
"""The one description of the loop's visiting order
(:func:`phase_sequence`) and the one model unwrapping
(:func:`unwrap_model`)."""
from itertools import islice

import torch

from fx_mm.structures import PHASES, phase_sequence
from fx_mm.utils import unwrap_model


def test_phase_sequence_visits_slots_then_phases_then_cycles():
    positions = list(islice(phase_sequence(2), 6))
    assert positions == [(0, 0, 'lock'), (0, 0, 'release'), (0, 1, 'lock'),
                         (0, 1, 'release'), (1, 0, 'lock'), (1, 0, 'release')]
    assert PHASES == ('lock', 'release')


def test_phase_sequence_starts_mid_cycle_and_mid_slot():
    # a resume at the release phase of the last slot: that phase, then the
    # next cycle from its first slot
    positions = list(islice(phase_sequence(3, 4, 2, 'release'), 3))
    assert positions == [(4, 2, 'release'), (5, 0, 'lock'), (5, 0, 'release')]


def test_unwrap_model_reads_through_registered_wrappers_only():
    net = torch.nn.Linear(2, 2)
    assert unwrap_model(net) is net
    assert unwrap_model(torch.nn.DataParallel(net)) is net

    class HasModuleAttribute(torch.nn.Module):
        """Not a wrapper, although it has a ``module`` attribute."""

        def __init__(self) -> None:
            super().__init__()
            self.module = torch.nn.Linear(2, 2)

    plain = HasModuleAttribute()
    assert unwrap_model(plain) is plain
