# Copyright (c) fx_mm contributors. All rights reserved.
from .tasks import (CLASS_METAINFO_KEYS, DATA_SAMPLE_TYPES, TASK_BRANCHES,
                    TASKS, check_task, task_of_sample_type)

__all__ = [
    'TASKS', 'CLASS_METAINFO_KEYS', 'DATA_SAMPLE_TYPES', 'TASK_BRANCHES',
    'check_task', 'task_of_sample_type'
]
