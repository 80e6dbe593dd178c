# Copyright (c) fx_mm contributors. All rights reserved.
"""The overlay :class:`~fx_mm.apis.FXInferencer` draws of one image's
predictions: a tile per head, a row per task."""
import numpy as np

from fx_mm.structures import TASKS
from fx_mm.visualization import FXVisualizer, compose_views, to_rgb_uint8
from .results import HeadSamples


def draw_overlay(visualizer: FXVisualizer,
                 image: np.ndarray,
                 heads: HeadSamples,
                 score_thr: float = 0.3,
                 max_height: int = 512,
                 draw_pred: bool = True) -> np.ndarray:
    """Draw the predictions of every head on one image.

    Args:
        visualizer (FXVisualizer): Draws one head's prediction.
        image (np.ndarray): (H, W, 3) RGB image as loaded.
        heads (dict): ``{dataset: {task: data sample}}`` predicted.
        score_thr (float): Boxes scored above it are drawn. Defaults to
            0.3.
        max_height (int): Height limit of each tile. Defaults to 512.
        draw_pred (bool): False draws the bare image. Defaults to True.

    Returns:
        np.ndarray: (H', W', 3) uint8 RGB; rows in the order of
        :data:`~fx_mm.structures.TASKS` (cls, loc, seg).
    """
    if not draw_pred:
        return compose_views(
            dict(input=to_rgb_uint8(image)), max_height=max_height)
    views = {}
    for dataset, tasks in heads.items():
        for task, sample in tasks.items():
            views[f'{task}/{dataset}'] = visualizer.draw_view(
                image, sample, 'pred', score_thr)
    # compose_views makes a row per key prefix in the order it meets them
    views = dict(sorted(views.items(), key=lambda kv: TASKS.index(kv[0][:3])))
    return compose_views(views, max_height=max_height)
