# Copyright (c) fx_mm contributors. All rights reserved.
from .base_task_metric import BaseTaskMetric, metric_key
from .detection_map import DetectionMAP
from .dice_metric import DiceMetric
from .multilabel_auc import MultiLabelAUC

__all__ = [
    'BaseTaskMetric', 'metric_key', 'MultiLabelAUC', 'DetectionMAP',
    'DiceMetric'
]
