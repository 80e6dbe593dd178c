# Copyright (c) fx_mm contributors. All rights reserved.
from fx_mm.structures.slot_phase import SlotPhaseState
from .cyclic_loop import CyclicLockReleaseLoop
from .fx_runner import FXRunner, build_runner
from .multi_slot_loops import MultiSlotTestLoop, MultiSlotValLoop

__all__ = [
    'CyclicLockReleaseLoop', 'MultiSlotValLoop', 'MultiSlotTestLoop',
    'SlotPhaseState', 'FXRunner', 'build_runner'
]
