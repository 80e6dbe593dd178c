# Copyright (c) fx_mm contributors. All rights reserved.
from .lock_release_hook import LockReleaseHook, lock_plan
from .mean_teacher_hook import MeanTeacherHook
from .rng_state_hook import RNGStateHook
from .slot_checkpoint_hook import SlotCheckpointHook
from .task_grad_clip_hook import TaskGradClipHook

__all__ = [
    'LockReleaseHook', 'MeanTeacherHook', 'RNGStateHook',
    'SlotCheckpointHook', 'TaskGradClipHook', 'lock_plan'
]
