# Copyright (c) fx_mm contributors. All rights reserved.
from .slot_phase import (PHASES, SlotPhaseState, current_slot_phase,
                         phase_sequence, published_slot_phase)
from .tasks import (CLASS_METAINFO_KEYS, DATA_SAMPLE_TYPES, TASK_BRANCHES,
                    TASKS, check_task, task_of_sample_type)

__all__ = [
    'TASKS', 'CLASS_METAINFO_KEYS', 'DATA_SAMPLE_TYPES', 'TASK_BRANCHES',
    'check_task', 'task_of_sample_type', 'PHASES', 'SlotPhaseState',
    'current_slot_phase', 'phase_sequence', 'published_slot_phase'
]
