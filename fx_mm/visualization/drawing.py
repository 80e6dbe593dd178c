# Copyright (c) fx_mm contributors. All rights reserved.
"""Sizes, text and colours shared by the views of every task.

Text and line sizes are given for a :data:`TILE_HEIGHT` px canvas and grow
with taller canvases (:func:`size_scale`), so that a picture shrunk to a
tile by :func:`~fx_mm.visualization.compose_views` keeps them.

The functions that measure or draw text take the mmengine ``Visualizer``
whose canvas they use (its ``dpi`` turns pixels into matplotlib points).
"""
from typing import Sequence, Tuple

import numpy as np
from matplotlib.font_manager import FontProperties
from mmengine.visualization import Visualizer

#: Height (pixels) of one tile of a composed picture (:func:`compose_views`)
#: and the canvas height at which ``font_px`` / ``line_width`` are given:
#: taller canvases scale them up by ``height / TILE_HEIGHT`` so that they
#: come out at the given size once the picture is shrunk to a tile.
TILE_HEIGHT = 512

#: Gray level of the panels right of an image (cls bars, seg legend).
PANEL_GRAY = 24
#: Box behind a title: readable on bright and dark radiographs alike.
TITLE_BOX = dict(facecolor='black', alpha=0.6, pad=0.3, edgecolor='none')


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W) gray or (H, W, 3) RGB -> (H, W, 3) uint8 RGB."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'FXVisualizer: expected an (H, W) or (H, W, 3) '
                         f'image, got shape {image.shape}')
    return np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))


def size_scale(height: int) -> float:
    """Factor of text and line sizes on a canvas ``height`` pixels high
    (1 up to :data:`TILE_HEIGHT`, proportional above)."""
    return max(1.0, height / TILE_HEIGHT)


def format_score(score: float) -> str:
    """Scores as the JSON holds them: fractions with two decimals."""
    return f'{float(score):.2f}'


def matplotlib_rgb(color: Sequence[int]) -> Tuple[float, ...]:
    """(R, G, B) in 0-255 -> matplotlib's (r, g, b) in 0-1."""
    return tuple(c / 255.0 for c in color)


def font_points(visualizer: Visualizer, height_px: float) -> float:
    """Matplotlib points for text ``height_px`` pixels high."""
    return height_px * 72.0 / visualizer.dpi


def line_points(visualizer: Visualizer, line_width: float,
                height: int) -> float:
    """Matplotlib points of box / contour lines ``line_width`` pixels wide
    on a :data:`TILE_HEIGHT` canvas, drawn on a ``height`` px canvas."""
    return font_points(visualizer, line_width * size_scale(height))


def text_width(visualizer: Visualizer, text: str, height_px: float) -> float:
    """Pixels that ``text`` takes at font size ``height_px``, measured by
    the renderer of the visualizer's canvas (panels are sized to fit)."""
    renderer = visualizer.fig_save_canvas.get_renderer()
    width, _, _ = renderer.get_text_width_height_descent(
        text,
        FontProperties(
            family='sans-serif', size=font_points(visualizer, height_px)),
        ismath=False)
    return float(width)


def draw_text_block(visualizer: Visualizer, lines: Sequence[str], height: int,
                    width: int, avoid: Sequence[Sequence[float]],
                    font_px: float) -> None:
    """Title (and notes) in the first corner of the canvas (top left, top
    right, bottom left, bottom right) that covers none of the ``avoid``
    rectangles; top left when none is free.

    Args:
        visualizer (Visualizer): Holds the (height, width) canvas.
        lines (Sequence[str]): Title first, one line each.
        height (int): Canvas height in pixels.
        width (int): Canvas width in pixels.
        avoid (Sequence[Sequence[float]]): (N, 4) rectangles (x1, y1, x2,
            y2) already drawn (boxes and their labels).
        font_px (float): Text height on a :data:`TILE_HEIGHT` canvas.
    """
    px = font_px * size_scale(height)
    pad = 0.3 * px
    block_w = max(text_width(visualizer, t, px) for t in lines) + 3 * pad
    block_h = len(lines) * 1.45 * px + 2 * pad
    corners = [(0.0, 0.0), (width - 1 - block_w, 0.0),
               (0.0, height - 1 - block_h),
               (width - 1 - block_w, height - 1 - block_h)]

    def free(x: float, y: float) -> bool:
        return x >= 0 and y >= 0 and not any(
            x < x2 and x1 < x + block_w and y < y2 and y1 < y + block_h
            for x1, y1, x2, y2 in avoid)

    x, y = next((c for c in corners if free(*c)), corners[0])
    visualizer.draw_texts(
        list(lines),
        np.array([[x + pad, y + pad + i * 1.45 * px]
                  for i in range(len(lines))]),
        colors=(255, 255, 255),
        font_sizes=font_points(visualizer, px),
        bboxes=TITLE_BOX)
