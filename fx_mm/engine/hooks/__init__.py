# Copyright (c) fx_mm contributors. All rights reserved.
from .bad_sample_hook import BadSampleHook
from .fx_visualization_hook import FXVisualizationHook
from .lock_release_hook import LockReleaseHook, lock_plan
from .mean_teacher_hook import MeanTeacherHook
from .nan_guard_hook import NaNGuardHook, NonFiniteError
from .preemption_hook import PreemptionHook
from .rank_consistency_hook import (RankConsistencyHook,
                                    check_rank_consistency)
from .rng_state_hook import RNGStateHook
from .slot_checkpoint_hook import SlotCheckpointHook
from .task_grad_clip_hook import TaskGradClipHook

__all__ = [
    'FXVisualizationHook', 'LockReleaseHook', 'MeanTeacherHook',
    'RNGStateHook',
    'RankConsistencyHook', 'check_rank_consistency', 'SlotCheckpointHook',
    'TaskGradClipHook', 'lock_plan'
]
__all__ += [
    'BadSampleHook', 'NaNGuardHook', 'NonFiniteError', 'PreemptionHook'
]
