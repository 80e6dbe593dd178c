# Copyright (c) fx_mm contributors. All rights reserved.
from .fx_runner import FXRunner, build_runner
from .loops import (CyclicLockReleaseLoop, MultiSlotTestLoop,
                    MultiSlotValLoop, SlotPhaseState)

__all__ = [
    'CyclicLockReleaseLoop', 'MultiSlotValLoop', 'MultiSlotTestLoop',
    'SlotPhaseState', 'FXRunner', 'build_runner'
]
