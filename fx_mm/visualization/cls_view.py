# Copyright (c) fx_mm contributors. All rights reserved.
"""The classification view: the image with a panel of score bars.

The panel right of the image lists the ``topk`` classes by predicted
score, one row each: the class name, its score (``0.31``) and a bar as
long as the score. The ground-truth view lists the same classes in the
same order with 1 / 0, and ``?`` for unknown labels, so that the two views
of a sample read side by side.
"""
import math
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
from mmengine.visualization import Visualizer

from .drawing import (PANEL_GRAY, font_points, format_score, size_scale,
                      text_width)
from .utils import palette_colors

#: Colour of the track a bar runs in (the length of a score of 1).
TRACK_GRAY = (70, 70, 70)


def cls_panel_layout(height: int,
                     panel_left: int,
                     panel_width: int,
                     num_rows: int,
                     font_px: float = 14.) -> dict:
    """Geometry of a classification panel (pixels).

    Text is ``font_px`` high on a :data:`~.drawing.TILE_HEIGHT` canvas
    (scaled with taller ones); rows that do not fit in ``height`` are left
    out.

    Args:
        height (int): Canvas height.
        panel_left (int): x of the panel's left edge (the image width).
        panel_width (int): Panel width.
        num_rows (int): Classes to list.
        font_px (float): Text height on a ``TILE_HEIGHT`` canvas.
            Defaults to 14.

    Returns:
        dict: ``title_h``, ``title_px``, ``font_px``, ``pad``, ``x0``
        (left end of the bars), ``bar_len`` (length of a bar of score 1)
        and ``rows``: per row ``(text_y, bar_y0, bar_y1)``.
    """
    font = font_px * size_scale(height)
    title_px = 1.1 * font
    title_h = 1.8 * title_px
    pad = 0.6 * font
    row_min = 2.6 * font
    fit = max(1, int((height - title_h) // row_min))
    num_rows = min(num_rows, fit)
    row_h = min((height - title_h) / max(num_rows, 1), 4.0 * font)
    rows = []
    for i in range(num_rows):
        top = title_h + i * row_h
        bar_y0 = top + 1.35 * font
        rows.append((top + 0.1 * font, bar_y0, bar_y0 + 0.8 * font))
    return dict(
        title_h=title_h,
        title_px=title_px,
        font_px=font,
        pad=pad,
        x0=panel_left + pad,
        bar_len=panel_width - 2 * pad,
        rows=rows)


def cls_panel_width(visualizer: Visualizer, image_width: int, height: int,
                    names: Sequence[str], title: str, font_px: float,
                    panel_ratio: float) -> int:
    """Width of a classification panel: ``panel_ratio`` of the image,
    widened to hold the longest ``name  0.00`` row and the title."""
    layout = cls_panel_layout(height, 0, 1, 1, font_px)
    font, title_px = layout['font_px'], layout['title_px']
    needed = max(
        [text_width(visualizer, f'{name}   0.00', font)
         for name in names] + [text_width(visualizer, title, title_px)])
    return int(
        math.ceil(
            max(image_width * panel_ratio, needed + 2 * layout['pad'] + 1)))


def draw_cls_panel(visualizer: Visualizer, image: np.ndarray,
                   scores: np.ndarray, known: Optional[np.ndarray],
                   order: Sequence[int], names: List[str], title: str,
                   font_px: float, panel_ratio: float) -> np.ndarray:
    """Image + a panel of one bar per class in ``order``.

    Args:
        visualizer (Visualizer): Draws on its canvas.
        image (np.ndarray): (H, W, 3) RGB.
        scores (np.ndarray): (C, ) scores in [0, 1].
        known (np.ndarray, optional): (C, ) bool; False draws ``?``.
        order (Sequence[int]): Class indices, top to bottom.
        names (list[str]): (C, ) class names.
        title (str): Panel title.
        font_px (float): Text height on a ``TILE_HEIGHT`` canvas.
        panel_ratio (float): Least panel width relative to the image.

    Returns:
        np.ndarray: (H, W + panel width, 3) RGB.
    """
    height, width = image.shape[:2]
    panel_width = cls_panel_width(visualizer, width, height,
                                  [names[k] for k in order], title, font_px,
                                  panel_ratio)
    canvas = np.concatenate(
        [image, np.full((height, panel_width, 3), PANEL_GRAY, np.uint8)],
        axis=1)
    visualizer.set_image(canvas)
    layout = cls_panel_layout(height, width, panel_width, len(order), font_px)
    colors = palette_colors(len(scores))
    font = font_points(visualizer, layout['font_px'])
    x0, bar_len = layout['x0'], layout['bar_len']
    visualizer.draw_texts(
        title,
        np.array([x0, 0.3 * layout['title_px']]),
        colors=(255, 255, 255),
        font_sizes=font_points(visualizer, layout['title_px']))
    tracks, bars, bar_colors = [], [], []
    for (text_y, y0, y1), k in zip(layout['rows'], order):
        is_known = known is None or bool(known[k])
        score = float(np.clip(scores[k], 0.0, 1.0))
        tracks.append([x0, y0, x0 + bar_len, y1])
        if is_known and score > 0:
            bars.append([x0, y0, x0 + score * bar_len, y1])
            bar_colors.append(colors[k])
        value = format_score(score) if is_known else '?'
        visualizer.draw_texts([names[k], value],
                              np.array([[x0, text_y], [x0 + bar_len, text_y]]),
                              colors=(235, 235, 235),
                              font_sizes=font,
                              horizontal_alignments=['left', 'right'])
    # tracks first: the bars are drawn over them
    if tracks:
        visualizer.draw_bboxes(
            np.array(tracks),
            edge_colors=TRACK_GRAY,
            face_colors=TRACK_GRAY,
            alpha=1.0,
            line_widths=0)
    if bars:
        visualizer.draw_bboxes(
            np.array(bars),
            edge_colors=bar_colors,
            face_colors=bar_colors,
            alpha=1.0,
            line_widths=0)
    return visualizer.get_image()


def draw_cls_view(visualizer: Visualizer, image: np.ndarray, data_sample,
                  which: str, title: str,
                  class_names: Callable[[int], List[str]], topk: int,
                  font_px: float, panel_ratio: float) -> Optional[np.ndarray]:
    """The ground truth (``which='gt'``) or the prediction (``'pred'``) of
    a classification sample; None when the sample has none.

    Both views list the ``topk`` classes by predicted score (by ground
    truth when there is no prediction) in that order.

    Args:
        visualizer (Visualizer): Draws on its canvas.
        image (np.ndarray): (H, W, 3) uint8 RGB.
        data_sample: mmpretrain ``DataSample`` with ``pred_score`` and / or
            ``gt_score`` (C, ) and optionally ``gt_label_mask`` (C, ).
        which (str): ``'gt'`` or ``'pred'``.
        title (str): Panel title.
        class_names (Callable): Number of classes -> their names.
        topk (int): Classes listed.
        font_px (float): Text height on a ``TILE_HEIGHT`` canvas.
        panel_ratio (float): Least panel width relative to the image.

    Returns:
        np.ndarray, optional: (H, W', 3) RGB.
    """
    pred = data_sample.get('pred_score')
    gt = data_sample.get('gt_score')
    ref = pred if pred is not None else gt
    if ref is None:
        return None
    ref = torch.as_tensor(ref).float().cpu().numpy()
    names = class_names(len(ref))
    order = np.argsort(-ref, kind='stable')[:topk]
    if which == 'gt':
        if gt is None:
            return None
        known = data_sample.get('gt_label_mask')
        known = None if known is None else \
            torch.as_tensor(known).bool().cpu().numpy()
        scores = torch.as_tensor(gt).float().cpu().numpy()
        return draw_cls_panel(visualizer, image, scores, known, order, names,
                              title, font_px, panel_ratio)
    if pred is None:
        return None
    return draw_cls_panel(visualizer, image, ref, None, order, names, title,
                          font_px, panel_ratio)
