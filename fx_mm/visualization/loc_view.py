# Copyright (c) fx_mm contributors. All rights reserved.
"""The localization view: boxes with ``name`` / ``name score`` labels.

A detector returns many overlapping, low-scored boxes; the prediction view
draws the few worth looking at (:func:`select_boxes`) and says in a note
under the title what it left out, so that an empty picture is never
mistaken for "nothing found".
"""
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.ops import batched_nms
from mmengine.structures import InstanceData
from mmengine.visualization import Visualizer

from .drawing import (draw_text_block, font_points, format_score, line_points,
                      matplotlib_rgb, size_scale, text_width)
from .utils import boxes_to_tensor, palette_colors


def select_boxes(instances: InstanceData, score_thr: float, nms_iou: float,
                 max_boxes: int) -> InstanceData:
    """Predicted boxes worth drawing: score above ``score_thr``, then
    class-wise NMS at ``nms_iou`` (mmcv's ``batched_nms``) and the
    ``max_boxes`` best, highest score first.

    Args:
        instances (InstanceData): ``bboxes`` (N, 4), ``labels`` (N, ) and
            ``scores`` (N, ).
        score_thr (float): Boxes scored at most this are left out.
        nms_iou (float): IoU above which the lower-scored of two boxes of
            one class is left out.
        max_boxes (int): Most boxes kept.

    Returns:
        InstanceData: The (M, ) kept instances, M <= ``max_boxes``.
    """
    instances = instances[instances.scores > score_thr]
    if len(instances) == 0:
        return instances
    _, keep = batched_nms(
        boxes_to_tensor(instances.bboxes),
        instances.scores.float(),
        torch.as_tensor(instances.labels).long(),
        nms_cfg=dict(type='nms', iou_threshold=nms_iou))
    return instances[keep[:max_boxes]]


def select_boxes_with_note(instances: InstanceData, score_thr: float,
                           nms_iou: float,
                           max_boxes: int) -> Tuple[InstanceData, List[str]]:
    """:func:`select_boxes` and the note that says what was left out:
    ``no box above 0.30 (best 0.12)`` or ``3 of 7 boxes above 0.30
    (overlaps / top 10)``; no note when every box above the threshold is
    drawn."""
    above = int((instances.scores > score_thr).sum())
    drawn = select_boxes(instances, score_thr, nms_iou, max_boxes)
    thr = format_score(score_thr)
    notes = []
    if not len(drawn):
        best = (f' (best {format_score(instances.scores.max())})'
                if len(instances) else '')
        notes.append(f'no box above {thr}{best}')
    elif len(drawn) < above:
        notes.append(f'{len(drawn)} of {above} boxes above '
                     f'{thr} (overlaps / top {max_boxes})')
    return drawn, notes


def draw_boxes(visualizer: Visualizer, image: np.ndarray,
               instances: InstanceData, names: List[str], title: str,
               notes: Sequence[str], font_px: float, line_width: float,
               alpha: float, text_color: Tuple[int, int, int]) -> np.ndarray:
    """Boxes with ``name`` / ``name score`` labels on ``image``, and the
    title (and notes) in a corner free of them.

    Args:
        visualizer (Visualizer): Draws on its canvas.
        image (np.ndarray): (H, W, 3) RGB.
        instances (InstanceData): ``bboxes`` (N, 4) and ``labels`` (N, ),
            optionally ``scores`` (N, ) (written after the name).
        names (list[str]): Class names, indexed by label.
        title (str): Title of the view.
        notes (Sequence[str]): Lines under the title.
        font_px (float): Text height on a ``TILE_HEIGHT`` canvas.
        line_width (float): Box width on a ``TILE_HEIGHT`` canvas.
        alpha (float): Box opacity.
        text_color (tuple): Colour of the box labels.

    Returns:
        np.ndarray: (H, W, 3) RGB.
    """
    height, width = image.shape[:2]
    visualizer.set_image(image)
    bboxes = boxes_to_tensor(instances.get('bboxes', torch.zeros(0, 4)))
    drawn_areas = []
    if len(bboxes):
        # boxes may reach past the image (mmengine warns then): clip to
        # the last pixel centre, the line still covers the edge
        bboxes = bboxes.clone()
        bboxes[:, 0::2] = bboxes[:, 0::2].clamp(0, width - 1)
        bboxes[:, 1::2] = bboxes[:, 1::2].clamp(0, height - 1)
        labels = torch.as_tensor(instances.labels).long().tolist()
        scores = instances.get('scores')
        palette = palette_colors(len(names))
        colors = [palette[label] for label in labels]
        visualizer.draw_bboxes(
            bboxes,
            edge_colors=colors,
            alpha=alpha,
            line_widths=line_points(visualizer, line_width, height))
        px = font_px * size_scale(height)
        label_h = 1.3 * px
        texts, positions, boxes = [], [], []
        for i, (x1, y1, x2, y2) in enumerate(bboxes.tolist()):
            text = names[labels[i]]
            if scores is not None:
                text = f'{text} {format_score(scores[i])}'
            text_w = text_width(visualizer, text, px) + 0.6 * px
            x = min(x1, max(0.0, width - 1 - text_w))
            # above the box, or inside it at the top of the image
            y = y1 - label_h if y1 >= label_h else y1 + 0.15 * px
            texts.append(text)
            positions.append([x + 0.3 * px, y + 0.15 * px])
            drawn_areas += [[x1, y1, x2, y2], [x, y, x + text_w, y + label_h]]
            boxes.append(
                dict(
                    facecolor=matplotlib_rgb(colors[i]),
                    alpha=0.8,
                    pad=0.3,
                    edgecolor='none'))
        visualizer.draw_texts(
            texts,
            np.array(positions),
            colors=text_color,
            font_sizes=font_points(visualizer, px),
            bboxes=boxes)
    draw_text_block(visualizer, [title, *notes], height, width, drawn_areas,
                    font_px)
    return visualizer.get_image()


def draw_loc_view(visualizer: Visualizer, image: np.ndarray, data_sample,
                  which: str, title: str, class_names: Callable[[int],
                                                                List[str]],
                  score_thr: float, nms_iou: float, max_boxes: int,
                  font_px: float, line_width: float, alpha: float,
                  text_color: Tuple[int, int, int]) -> Optional[np.ndarray]:
    """The ground truth (``which='gt'``) or the prediction (``'pred'``) of
    a localization sample; None when the sample has none.

    Predictions are thinned by :func:`select_boxes_with_note`; ground truth
    is drawn whole (a note says when it has no box).

    Args:
        visualizer (Visualizer): Draws on its canvas.
        image (np.ndarray): (H, W, 3) uint8 RGB.
        data_sample: mmdet ``DetDataSample`` with ``gt_instances`` and / or
            ``pred_instances``.
        which (str): ``'gt'`` or ``'pred'``.
        title (str): Title of the view.
        class_names (Callable): Number of classes -> their names.
        score_thr (float): Predicted boxes scored above it are drawn.
        nms_iou, max_boxes: See :func:`select_boxes`.
        font_px, line_width, alpha, text_color: See :func:`draw_boxes`.

    Returns:
        np.ndarray, optional: (H, W, 3) RGB.
    """
    key = 'gt_instances' if which == 'gt' else 'pred_instances'
    if key not in data_sample:
        return None
    instances = data_sample.get(key)
    notes = []
    if which == 'pred' and 'scores' in instances:
        instances, notes = select_boxes_with_note(instances, score_thr,
                                                  nms_iou, max_boxes)
    elif not len(instances):
        notes.append('no box')
    labels = instances.get('labels', torch.zeros(0))
    num = int(labels.max()) + 1 if len(labels) else 1
    names = class_names(num)
    return draw_boxes(visualizer, image, instances, names, title, notes,
                      font_px, line_width, alpha, text_color)
