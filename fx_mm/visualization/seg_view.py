# Copyright (c) fx_mm contributors. All rights reserved.
"""The segmentation view: translucent masks and contours, and a legend.

fx_mm's segmentation channels are independent (multi-label): organs
overlap, e.g. the clavicles the lungs. Blending their colours would paint
overlaps in a colour that the legend lacks, so overlapping pixels are
striped in the colours of their channels instead (:func:`overlay_masks`).
The legend sits in a panel right of the image, never on it.
"""
import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.structures.mask import bitmap_to_polygon
from mmengine.visualization import Visualizer

from .drawing import (PANEL_GRAY, font_points, line_points, size_scale,
                      text_width)
from .utils import masks_to_array, palette_colors


def overlay_masks(image: np.ndarray, masks: np.ndarray,
                  colors: Sequence[Sequence[int]], alpha: float,
                  stripe_px: int) -> Tuple[np.ndarray, bool]:
    """Blend (C, H, W) bool masks into an RGB image without mixing colours.

    A pixel of one channel takes that channel's colour (at ``alpha``); a
    pixel of several channels takes, in diagonal stripes ``stripe_px``
    wide, the colour of each of them in turn, so every drawn colour is a
    legend colour.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB.
        masks (np.ndarray): (C, H, W) bool.
        colors (Sequence[Sequence[int]]): (C, 3) RGB, one per channel.
        alpha (float): Opacity of the masks.
        stripe_px (int): Stripe width in pixels.

    Returns:
        tuple: The (H, W, 3) uint8 picture and whether channels overlap.
    """
    height, width = masks.shape[1:]
    count = masks.sum(axis=0, dtype=np.int16)
    covered = count > 0
    out = image.copy()
    if not covered.any():
        return out, False
    # rank of each channel among the channels covering a pixel (0, 1, ...)
    rank = np.cumsum(masks, axis=0, dtype=np.int16) - 1
    diagonal = np.add.outer(
        np.arange(height, dtype=np.int32), np.arange(width, dtype=np.int32))
    turn = (diagonal // max(1, stripe_px)) % np.maximum(count, 1)
    chosen = np.argmax(masks & (rank == turn[None]), axis=0)
    palette = np.asarray(colors, np.float32)
    blended = (1 - alpha) * image[covered].astype(np.float32) + \
        alpha * palette[chosen[covered]]
    out[covered] = np.round(blended).clip(0, 255).astype(np.uint8)
    return out, bool((count > 1).any())


def draw_seg_masks(visualizer: Visualizer, image: np.ndarray,
                   masks: np.ndarray, names: List[str], title: str,
                   font_px: float, line_width: float,
                   mask_alpha: float) -> np.ndarray:
    """Masks of the (C, H, W) channels + a legend panel on the right.

    Args:
        visualizer (Visualizer): Draws on its canvas.
        image (np.ndarray): (H, W, 3) RGB.
        masks (np.ndarray): (C, H, W) bool, in the pixels of ``image``.
        names (list[str]): At least C channel names.
        title (str): Legend title.
        font_px (float): Text height on a ``TILE_HEIGHT`` canvas.
        line_width (float): Box width on a ``TILE_HEIGHT`` canvas; contours
            are drawn half as wide.
        mask_alpha (float): Opacity of the masks.

    Returns:
        np.ndarray: (H, W + legend width, 3) RGB.
    """
    height, width = image.shape[:2]
    if masks.shape[1:] != (height, width):
        raise ValueError(
            f'FXVisualizer: masks of size {masks.shape[1:]} (H, W) do '
            f'not match the image {(height, width)}; draw on the image '
            'the masks belong to (see fx_mm.visualization.'
            'gt_to_original)')
    scale = size_scale(height)
    colors = palette_colors(len(masks))
    drawn, overlap = overlay_masks(image, masks, colors, mask_alpha,
                                   int(round(5 * scale)))
    px = font_px * scale
    entries = [
        name if masks[c].any() else f'{name} (empty)'
        for c, name in enumerate(names[:len(masks)])
    ]
    if overlap:
        entries.append('striped: overlap')
    pad, line_h, swatch = 0.6 * px, 1.6 * px, int(round(1.1 * px))
    title_h = 1.8 * 1.1 * px
    # entries that do not fit in the height go to further columns
    per_column = max(1, int((height - title_h) // line_h))
    columns = math.ceil(len(entries) / per_column)
    column_w = max([text_width(visualizer, e, px)
                    for e in entries] + [0.0]) + swatch + 2 * pad
    panel_width = int(
        math.ceil(
            max(columns * column_w, text_width(visualizer, title, 1.1 * px)) +
            2 * pad))
    panel = np.full((height, panel_width, 3), PANEL_GRAY, np.uint8)
    positions = []
    for i, entry in enumerate(entries):
        left = int(pad + (i // per_column) * column_w)
        top = int(title_h + (i % per_column) * line_h)
        positions.append([width + left + swatch + pad, top])
        # swatches are painted like the masks: a channel's colour, or
        # the stripes of overlapping pixels
        cover = np.zeros((len(masks), swatch, swatch), bool)
        if i < len(masks):
            cover[i] = True
        else:
            cover[:] = True
        square, _ = overlay_masks(
            np.zeros((swatch, swatch, 3), np.uint8), cover, colors, 1.0,
            max(2, swatch // 4))
        region = panel[top:top + swatch, left:left + swatch]
        region[...] = square[:region.shape[0], :region.shape[1]]
    visualizer.set_image(np.concatenate([drawn, panel], axis=1))
    for c in range(len(masks)):
        contours, _ = bitmap_to_polygon(masks[c])
        contours = [p for p in contours if len(p) >= 3]
        if contours:
            visualizer.draw_polygons(
                contours,
                edge_colors=colors[c],
                line_widths=line_points(visualizer, line_width, height) / 2,
                alpha=1.0)
    visualizer.draw_texts(
        title,
        np.array([width + pad, 0.3 * 1.1 * px]),
        colors=(255, 255, 255),
        font_sizes=font_points(visualizer, 1.1 * px))
    visualizer.draw_texts(
        entries,
        np.array(positions),
        colors=(235, 235, 235),
        font_sizes=font_points(visualizer, px))
    return visualizer.get_image()


def draw_seg_view(visualizer: Visualizer, image: np.ndarray, data_sample,
                  which: str, title: str, class_names: Callable[[int],
                                                                List[str]],
                  font_px: float, line_width: float,
                  mask_alpha: float) -> Optional[np.ndarray]:
    """The ground truth (``which='gt'``) or the prediction (``'pred'``) of
    a segmentation sample; None when the sample has none.

    Args:
        visualizer (Visualizer): Draws on its canvas.
        image (np.ndarray): (H, W, 3) uint8 RGB.
        data_sample: mmseg ``SegDataSample`` with ``gt_sem_seg`` and / or
            ``pred_sem_seg`` (C, H, W) (or (H, W)) binary masks.
        which (str): ``'gt'`` or ``'pred'``.
        title (str): Legend title.
        class_names (Callable): Number of channels -> their names.
        font_px, line_width, mask_alpha: See :func:`draw_seg_masks`.

    Returns:
        np.ndarray, optional: (H, W', 3) RGB.
    """
    key = 'gt_sem_seg' if which == 'gt' else 'pred_sem_seg'
    if key not in data_sample:
        return None
    masks = masks_to_array(data_sample.get(key).data)
    names = class_names(len(masks))
    return draw_seg_masks(visualizer, image, masks, names, title, font_px,
                          line_width, mask_alpha)
