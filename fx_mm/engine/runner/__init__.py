# Copyright (c) fx_mm contributors. All rights reserved.
from .loops import (CyclicLockReleaseLoop, MultiSlotTestLoop,
                    MultiSlotValLoop, SlotPhaseState)

__all__ = [
    'CyclicLockReleaseLoop', 'MultiSlotValLoop', 'MultiSlotTestLoop',
    'SlotPhaseState'
]
