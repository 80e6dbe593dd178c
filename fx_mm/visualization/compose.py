# Copyright (c) fx_mm contributors. All rights reserved.
"""Tiling the views of several heads into one picture."""
from typing import Dict, List

import mmcv
import numpy as np

from .drawing import TILE_HEIGHT


def compose_views(views: Dict[str, np.ndarray],
                  max_height: int = TILE_HEIGHT,
                  background: int = 255) -> np.ndarray:
    """Tile pictures (e.g. one per head) into one RGB image: one row per
    key prefix (``task``), tiles scaled to at most ``max_height`` rows.

    Views are drawn with text sized for :data:`~.drawing.TILE_HEIGHT`
    rows, so the default tile height keeps their text readable.

    Args:
        views (dict): ``{'<task>/<dataset>': (H, W, 3) RGB}``.
        max_height (int): Most rows of a tile; taller views are shrunk.
            Defaults to ``TILE_HEIGHT``.
        background (int): Gray level of the gaps. Defaults to 255.

    Returns:
        np.ndarray: (H', W', 3) uint8.
    """
    if not views:
        raise ValueError('compose_views: nothing to compose')
    rows: Dict[str, List[np.ndarray]] = {}
    for key, view in views.items():
        scale = min(1.0, max_height / view.shape[0])
        if scale < 1.0:
            view = mmcv.imrescale(view, scale, interpolation='area')
        rows.setdefault(key.split('/')[0], []).append(view)
    # a gap right of and under every tile keeps neighbours apart
    gap = 4
    row_images = []
    for tiles in rows.values():
        height = max(t.shape[0] for t in tiles)
        padded = []
        for tile in tiles:
            pad = np.full((height, tile.shape[1] + gap, 3), background,
                          np.uint8)
            pad[:tile.shape[0], :tile.shape[1]] = tile
            padded.append(pad)
        row_images.append(np.concatenate(padded, axis=1))
    width = max(r.shape[1] for r in row_images)
    out = []
    for row in row_images:
        pad = np.full((row.shape[0] + gap, width, 3), background, np.uint8)
        pad[:row.shape[0], :row.shape[1]] = row
        out.append(pad)
    return np.concatenate(out, axis=0)
