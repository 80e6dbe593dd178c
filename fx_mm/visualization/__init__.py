# Copyright (c) fx_mm contributors. All rights reserved.
from .compose import compose_views
from .drawing import TILE_HEIGHT, to_rgb_uint8
from .fx_visualizer import FXVisualizer
from .utils import (FX_PALETTE, dataset_class_names, gt_in_original_frame,
                    gt_to_original, load_rgb_image, palette_colors)

__all__ = [
    'FXVisualizer', 'compose_views', 'FX_PALETTE', 'dataset_class_names',
    'gt_in_original_frame', 'gt_to_original', 'load_rgb_image',
    'palette_colors', 'to_rgb_uint8', 'TILE_HEIGHT'
]
