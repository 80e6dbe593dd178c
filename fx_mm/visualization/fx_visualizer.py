# Copyright (c) fx_mm contributors. All rights reserved.
"""Drawing fx_mm's three kinds of predictions and ground truth."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from matplotlib.font_manager import FontProperties
from mmcv.ops import batched_nms
from mmdet.structures.mask import bitmap_to_polygon
from mmdet.visualization import DetLocalVisualizer
from mmengine.dist import master_only
from mmengine.structures import InstanceData

from fx_mm.registry import VISUALIZERS
from fx_mm.structures import TASKS, task_of_sample_type
from .utils import ClassNames, boxes_to_tensor, masks_to_array, palette_colors

#: Height (pixels) of one tile of a composed picture (:func:`compose_views`)
#: and the canvas height at which ``font_px`` / ``line_width`` are given:
#: taller canvases scale them up by ``height / TILE_HEIGHT`` so that they
#: come out at the given size once the picture is shrunk to a tile.
TILE_HEIGHT = 512

_PANEL_GRAY = 24
_TRACK_GRAY = (70, 70, 70)
_TITLE_BOX = dict(facecolor='black', alpha=0.6, pad=0.3, edgecolor='none')


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


def _task_of(data_sample) -> str:
    """``metainfo['task']``, else guessed from the data sample type."""
    task = data_sample.metainfo.get('task')
    if task is None:
        task = task_of_sample_type(data_sample)
    if task not in TASKS:
        raise ValueError(
            f'FXVisualizer: cannot tell the task of a {type(data_sample)} '
            f'(metainfo task={data_sample.metainfo.get("task")!r}); '
            f'expected one of {TASKS}')
    return task


def _matplotlib_rgb(color: Sequence[int]) -> Tuple[float, ...]:
    return tuple(c / 255.0 for c in color)


def overlay_masks(image: np.ndarray, masks: np.ndarray,
                  colors: Sequence[Sequence[int]], alpha: float,
                  stripe_px: int) -> Tuple[np.ndarray, bool]:
    """Blend (C, H, W) bool masks into an RGB image without mixing colours.

    A pixel of one channel takes that channel's colour (at ``alpha``); a
    pixel of several channels takes, in diagonal stripes ``stripe_px``
    wide, the colour of each of them in turn, so every drawn colour is a
    legend colour.

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


@VISUALIZERS.register_module()
class FXVisualizer(DetLocalVisualizer):
    """Visualizer of fx_mm's classification, localization and segmentation
    samples, one (dataset, task) head per data sample.

    ``add_datasample`` reads the task from ``data_sample.metainfo['task']``
    and the head from ``metainfo['dataset']``, and draws, like mmdet, the
    ground truth on the left and the prediction on the right:

    - cls: the image with a bar panel on its right: the ``topk`` classes
      (by predicted score) with their scores; the ground-truth view shows
      the same classes with 1 / 0 and ``?`` for unknown labels
      (``gt_label_mask`` False);
    - loc: boxes with class names (predictions: and scores above
      ``pred_score_thr``, after class-wise NMS at ``box_nms_iou`` and at
      most ``max_boxes``; a note says when no box is above the threshold or
      how many boxes were left out);
    - seg: one translucent mask and contour per channel, with a legend in
      a panel right of the image; pixels of several channels (channels are
      independent and may overlap) are striped in their colours.

    Scores are written as the JSON of :class:`~fx_mm.apis.FXInferencer`
    holds them (fractions, ``0.31``). Text and line sizes are given for a
    :data:`TILE_HEIGHT` px canvas and grow with taller canvases, so that a
    picture shrunk to a tile by :func:`compose_views` keeps them.

    The image and the data sample must share coordinates (fx_mm's
    predictions are in original image pixels; ground truth of training
    pipelines can be mapped there with
    :func:`fx_mm.visualization.gt_to_original`).

    Class names come from ``class_names`` / :meth:`set_class_names`, or
    from ``dataset_meta['class_names']`` (both ``{dataset: {task: [names]}}``);
    a head without names shows ``class_<i>``.

    Args:
        name (str): Instance name. Defaults to 'visualizer'.
        image (np.ndarray, optional): Image to draw on. Defaults to None.
        vis_backends (list[dict], optional): Storage backends.
        save_dir (str, optional): Directory of the backends' files.
        class_names (dict, optional): ``{dataset: {task: [names]}}``.
        topk (int): Classes shown in a classification panel. Defaults to 5.
        mask_alpha (float): Opacity of segmentation masks. Defaults to 0.45.
        cls_panel_ratio (float): Width of the classification panel relative
            to the image width (widened when the text needs it). Defaults
            to 1.0.
        line_width (int | float): Box and contour width in pixels of a
            :data:`TILE_HEIGHT` canvas. Defaults to 2.
        alpha (float): Opacity of boxes. Defaults to 0.8.
        text_color (tuple): Colour of box labels. Defaults to light gray.
        font_px (float): Text height (font size in pixels) on a
            :data:`TILE_HEIGHT` canvas. Defaults to 14.
        max_boxes (int): Most predicted boxes drawn per view. Defaults
            to 10.
        box_nms_iou (float): IoU above which the lower-scored of two
            predicted boxes of one class is not drawn. Defaults to 0.5.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 class_names: Optional[ClassNames] = None,
                 topk: int = 5,
                 mask_alpha: float = 0.45,
                 cls_panel_ratio: float = 1.0,
                 line_width: float = 2,
                 alpha: float = 0.8,
                 text_color: Tuple[int, int, int] = (240, 240, 240),
                 font_px: float = 14.,
                 max_boxes: int = 10,
                 box_nms_iou: float = 0.5) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            text_color=text_color,
            line_width=line_width,
            alpha=alpha)
        if topk < 1:
            raise ValueError(f'FXVisualizer: topk must be >= 1, got {topk}')
        if cls_panel_ratio <= 0:
            raise ValueError('FXVisualizer: cls_panel_ratio must be > 0')
        if font_px <= 0 or line_width <= 0:
            raise ValueError('FXVisualizer: font_px and line_width must be '
                             '> 0')
        if max_boxes < 1:
            raise ValueError(
                f'FXVisualizer: max_boxes must be >= 1, got {max_boxes}')
        if not 0 < box_nms_iou <= 1:
            raise ValueError(f'FXVisualizer: box_nms_iou must be in (0, 1], '
                             f'got {box_nms_iou}')
        self.topk = topk
        self.mask_alpha = mask_alpha
        self.cls_panel_ratio = cls_panel_ratio
        self.font_px = float(font_px)
        self.max_boxes = max_boxes
        self.box_nms_iou = box_nms_iou
        self.class_names: ClassNames = {}
        if class_names:
            self.set_class_names(class_names)

    # ------------------------------------------------------------------
    def set_class_names(self, class_names: ClassNames) -> None:
        """Merge ``{dataset: {task: [names]}}`` into the known names."""
        for dataset, tasks in class_names.items():
            if not isinstance(tasks, dict):
                raise TypeError(
                    f'FXVisualizer: class_names[{dataset!r}] must be a dict '
                    f'{{task: [names]}}, got {type(tasks).__name__}')
            for task, names in tasks.items():
                if task not in TASKS:
                    raise ValueError(
                        f'FXVisualizer: class_names[{dataset!r}] has unknown '
                        f'task {task!r}; expected one of {TASKS}')
                self.class_names.setdefault(dataset, {})[task] = list(names)

    def get_class_names(self, dataset: Optional[str], task: str,
                        num_classes: int) -> List[str]:
        """Names of a head's ``num_classes`` outputs."""
        meta_names = (self.dataset_meta or {}).get('class_names') or {}
        names = self.class_names.get(dataset, {}).get(task)
        if names is None:
            names = meta_names.get(dataset, {}).get(task)
        if names is None:
            return [f'class_{i}' for i in range(num_classes)]
        if len(names) < num_classes:
            raise ValueError(
                f'FXVisualizer: {len(names)} class names for {dataset}/'
                f'{task} ({names}) but the sample has {num_classes} '
                'classes')
        return list(names)

    # ------------------------------------------------------------------
    def _font_size(self, height_px: float) -> float:
        """Matplotlib points for text ``height_px`` pixels high."""
        return height_px * 72.0 / self.dpi

    def _text_width(self, text: str, height_px: float) -> float:
        """Pixels that ``text`` takes at font size ``height_px``."""
        renderer = self.fig_save_canvas.get_renderer()
        width, _, _ = renderer.get_text_width_height_descent(
            text,
            FontProperties(
                family='sans-serif', size=self._font_size(height_px)),
            ismath=False)
        return float(width)

    def _line_width(self, height: int) -> float:
        """Matplotlib points of box / contour lines on a ``height`` px
        canvas."""
        return self._font_size(self.line_width * size_scale(height))

    def _draw_text_block(self, lines: Sequence[str], height: int, width: int,
                         avoid: Sequence[Sequence[float]]) -> None:
        """Title (and notes) in the first corner of the canvas (top left,
        top right, bottom left, bottom right) that covers none of the
        ``avoid`` (x1, y1, x2, y2) rectangles; top left when none is
        free."""
        px = self.font_px * size_scale(height)
        pad = 0.3 * px
        block_w = max(self._text_width(t, px) for t in lines) + 3 * pad
        block_h = len(lines) * 1.45 * px + 2 * pad
        corners = [(0.0, 0.0), (width - 1 - block_w, 0.0),
                   (0.0, height - 1 - block_h),
                   (width - 1 - block_w, height - 1 - block_h)]

        def free(x: float, y: float) -> bool:
            return x >= 0 and y >= 0 and not any(
                x < x2 and x1 < x + block_w and y < y2 and y1 < y + block_h
                for x1, y1, x2, y2 in avoid)

        x, y = next((c for c in corners if free(*c)), corners[0])
        self.draw_texts(
            list(lines),
            np.array([[x + pad, y + pad + i * 1.45 * px]
                      for i in range(len(lines))]),
            colors=(255, 255, 255),
            font_sizes=self._font_size(px),
            bboxes=_TITLE_BOX)

    def cls_panel_width(self, image_width: int, height: int,
                        names: Sequence[str], title: str) -> int:
        """Width of a classification panel: ``cls_panel_ratio`` of the
        image, widened to hold the longest ``name  0.00`` row and the
        title."""
        layout = self.cls_panel_layout(height, 0, 1, 1, self.font_px)
        font, title_px = layout['font_px'], layout['title_px']
        needed = max(
            [self._text_width(f'{name}   0.00', font)
             for name in names] + [self._text_width(title, title_px)])
        return int(
            math.ceil(
                max(image_width * self.cls_panel_ratio,
                    needed + 2 * layout['pad'] + 1)))

    @staticmethod
    def cls_panel_layout(height: int,
                         panel_left: int,
                         panel_width: int,
                         num_rows: int,
                         font_px: float = 14.) -> dict:
        """Geometry of a classification panel (pixels).

        Text is ``font_px`` high on a :data:`TILE_HEIGHT` canvas (scaled
        with taller ones); rows that do not fit in ``height`` are left out.

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

    def _draw_cls_view(self, image: np.ndarray, scores: np.ndarray,
                       known: Optional[np.ndarray], order: Sequence[int],
                       names: List[str], title: str) -> np.ndarray:
        """Image + a panel of one bar per class in ``order``.

        Args:
            image (np.ndarray): (H, W, 3) RGB.
            scores (np.ndarray): (C, ) scores in [0, 1].
            known (np.ndarray, optional): (C, ) bool; False draws ``?``.
            order (Sequence[int]): Class indices, top to bottom.
        """
        height, width = image.shape[:2]
        panel_width = self.cls_panel_width(width, height,
                                           [names[k] for k in order], title)
        canvas = np.concatenate(
            [image,
             np.full((height, panel_width, 3), _PANEL_GRAY, np.uint8)],
            axis=1)
        self.set_image(canvas)
        layout = self.cls_panel_layout(height, width, panel_width, len(order),
                                       self.font_px)
        colors = palette_colors(len(scores))
        font = self._font_size(layout['font_px'])
        x0, bar_len = layout['x0'], layout['bar_len']
        self.draw_texts(
            title,
            np.array([x0, 0.3 * layout['title_px']]),
            colors=(255, 255, 255),
            font_sizes=self._font_size(layout['title_px']))
        tracks, bars, bar_colors = [], [], []
        for (text_y, y0, y1), k in zip(layout['rows'], order):
            is_known = known is None or bool(known[k])
            score = float(np.clip(scores[k], 0.0, 1.0))
            tracks.append([x0, y0, x0 + bar_len, y1])
            if is_known and score > 0:
                bars.append([x0, y0, x0 + score * bar_len, y1])
                bar_colors.append(colors[k])
            value = format_score(score) if is_known else '?'
            self.draw_texts([names[k], value],
                            np.array([[x0, text_y], [x0 + bar_len, text_y]]),
                            colors=(235, 235, 235),
                            font_sizes=font,
                            horizontal_alignments=['left', 'right'])
        if tracks:
            self.draw_bboxes(
                np.array(tracks),
                edge_colors=_TRACK_GRAY,
                face_colors=_TRACK_GRAY,
                alpha=1.0,
                line_widths=0)
        if bars:
            self.draw_bboxes(
                np.array(bars),
                edge_colors=bar_colors,
                face_colors=bar_colors,
                alpha=1.0,
                line_widths=0)
        return self.get_image()

    def boxes_to_draw(self, instances: InstanceData,
                      score_thr: float) -> InstanceData:
        """Predicted boxes worth drawing: score above ``score_thr``, then
        class-wise NMS (``box_nms_iou``, mmcv's ``batched_nms``) and the
        ``max_boxes`` best, highest score first."""
        instances = instances[instances.scores > score_thr]
        if len(instances) == 0:
            return instances
        _, keep = batched_nms(
            boxes_to_tensor(instances.bboxes),
            instances.scores.float(),
            torch.as_tensor(instances.labels).long(),
            nms_cfg=dict(type='nms', iou_threshold=self.box_nms_iou))
        return instances[keep[:self.max_boxes]]

    def _draw_loc_view(self,
                       image: np.ndarray,
                       instances: InstanceData,
                       names: List[str],
                       title: str,
                       notes: Sequence[str] = ()) -> np.ndarray:
        """Boxes with ``name`` / ``name score`` labels on ``image``."""
        height, width = image.shape[:2]
        self.set_image(image)
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
            self.draw_bboxes(
                bboxes,
                edge_colors=colors,
                alpha=self.alpha,
                line_widths=self._line_width(height))
            px = self.font_px * size_scale(height)
            label_h = 1.3 * px
            texts, positions, boxes = [], [], []
            for i, (x1, y1, x2, y2) in enumerate(bboxes.tolist()):
                text = names[labels[i]]
                if scores is not None:
                    text = f'{text} {format_score(scores[i])}'
                text_w = self._text_width(text, px) + 0.6 * px
                x = min(x1, max(0.0, width - 1 - text_w))
                # above the box, or inside it at the top of the image
                y = y1 - label_h if y1 >= label_h else y1 + 0.15 * px
                texts.append(text)
                positions.append([x + 0.3 * px, y + 0.15 * px])
                drawn_areas += [[x1, y1, x2, y2],
                                [x, y, x + text_w, y + label_h]]
                boxes.append(
                    dict(
                        facecolor=_matplotlib_rgb(colors[i]),
                        alpha=0.8,
                        pad=0.3,
                        edgecolor='none'))
            self.draw_texts(
                texts,
                np.array(positions),
                colors=self.text_color,
                font_sizes=self._font_size(px),
                bboxes=boxes)
        self._draw_text_block([title, *notes], height, width, drawn_areas)
        return self.get_image()

    def _draw_seg_view(self, image: np.ndarray, masks: np.ndarray,
                       names: List[str], title: str) -> np.ndarray:
        """Masks of the (C, H, W) channels + a legend panel on the right."""
        height, width = image.shape[:2]
        if masks.shape[1:] != (height, width):
            raise ValueError(
                f'FXVisualizer: masks of size {masks.shape[1:]} (H, W) do '
                f'not match the image {(height, width)}; draw on the image '
                'the masks belong to (see fx_mm.visualization.'
                'gt_to_original)')
        scale = size_scale(height)
        colors = palette_colors(len(masks))
        drawn, overlap = overlay_masks(image, masks, colors, self.mask_alpha,
                                       int(round(5 * scale)))
        px = self.font_px * scale
        entries = [
            name if masks[c].any() else f'{name} (empty)'
            for c, name in enumerate(names[:len(masks)])
        ]
        if overlap:
            entries.append('striped: overlap')
        pad, line_h, swatch = 0.6 * px, 1.6 * px, int(round(1.1 * px))
        title_h = 1.8 * 1.1 * px
        per_column = max(1, int((height - title_h) // line_h))
        columns = math.ceil(len(entries) / per_column)
        column_w = max([self._text_width(e, px) for e in entries] + [0.0]) \
            + swatch + 2 * pad
        panel_width = int(
            math.ceil(
                max(columns * column_w, self._text_width(title, 1.1 * px)) +
                2 * pad))
        panel = np.full((height, panel_width, 3), _PANEL_GRAY, np.uint8)
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
        self.set_image(np.concatenate([drawn, panel], axis=1))
        for c in range(len(masks)):
            contours, _ = bitmap_to_polygon(masks[c])
            contours = [p for p in contours if len(p) >= 3]
            if contours:
                self.draw_polygons(
                    contours,
                    edge_colors=colors[c],
                    line_widths=self._line_width(height) / 2,
                    alpha=1.0)
        self.draw_texts(
            title,
            np.array([width + pad, 0.3 * 1.1 * px]),
            colors=(255, 255, 255),
            font_sizes=self._font_size(1.1 * px))
        self.draw_texts(
            entries,
            np.array(positions),
            colors=(235, 235, 235),
            font_sizes=self._font_size(px))
        return self.get_image()

    # ------------------------------------------------------------------
    def draw_view(self,
                  image: np.ndarray,
                  data_sample,
                  which: str = 'pred',
                  pred_score_thr: float = 0.3,
                  title: Optional[str] = None) -> Optional[np.ndarray]:
        """Draw the ground truth (``which='gt'``) or the prediction
        (``'pred'``) of one data sample; None when the sample has none."""
        image = to_rgb_uint8(image)
        task = _task_of(data_sample)
        dataset = data_sample.metainfo.get('dataset')
        head = f'{dataset}/{task}' if dataset else task
        title = title or f'{head} {"GT" if which == "gt" else "pred"}'
        if task == 'cls':
            pred = data_sample.get('pred_score')
            gt = data_sample.get('gt_score')
            ref = pred if pred is not None else gt
            if ref is None:
                return None
            ref = torch.as_tensor(ref).float().cpu().numpy()
            names = self.get_class_names(dataset, task, len(ref))
            order = np.argsort(-ref, kind='stable')[:self.topk]
            if which == 'gt':
                if gt is None:
                    return None
                known = data_sample.get('gt_label_mask')
                known = None if known is None else \
                    torch.as_tensor(known).bool().cpu().numpy()
                scores = torch.as_tensor(gt).float().cpu().numpy()
                return self._draw_cls_view(image, scores, known, order, names,
                                           title)
            if pred is None:
                return None
            return self._draw_cls_view(image, ref, None, order, names, title)
        if task == 'loc':
            key = 'gt_instances' if which == 'gt' else 'pred_instances'
            if key not in data_sample:
                return None
            instances = data_sample.get(key)
            notes = []
            if which == 'pred' and 'scores' in instances:
                above = int((instances.scores > pred_score_thr).sum())
                drawn = self.boxes_to_draw(instances, pred_score_thr)
                thr = format_score(pred_score_thr)
                if not len(drawn):
                    best = (f' (best {format_score(instances.scores.max())})'
                            if len(instances) else '')
                    notes.append(f'no box above {thr}{best}')
                elif len(drawn) < above:
                    notes.append(f'{len(drawn)} of {above} boxes above '
                                 f'{thr} (overlaps / top {self.max_boxes})')
                instances = drawn
            elif not len(instances):
                notes.append('no box')
            labels = instances.get('labels', torch.zeros(0))
            num = int(labels.max()) + 1 if len(labels) else 1
            names = self.get_class_names(dataset, task, num)
            return self._draw_loc_view(image, instances, names, title, notes)
        key = 'gt_sem_seg' if which == 'gt' else 'pred_sem_seg'
        if key not in data_sample:
            return None
        masks = masks_to_array(data_sample.get(key).data)
        names = self.get_class_names(dataset, task, len(masks))
        return self._draw_seg_view(image, masks, names, title)

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0.,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       pred_score_thr: float = 0.3) -> np.ndarray:
        """Draw one data sample and show / save / record it.

        Ground truth (left) and prediction (right) are concatenated when
        both are drawn, as in mmdet.

        Args:
            name (str): Image identifier for the backends and the window.
            image (np.ndarray): (H, W) gray or (H, W, 3) RGB, in the
                coordinates of the data sample.
            data_sample: mmpretrain ``DataSample`` (cls), mmdet
                ``DetDataSample`` (loc) or mmseg ``SegDataSample`` (seg) with
                ``task`` and ``dataset`` in its metainfo.
            draw_gt (bool): Draw the ground truth. Defaults to True.
            draw_pred (bool): Draw the prediction. Defaults to True.
            show (bool): Display the picture. Defaults to False.
            wait_time (float): Seconds to show it. Defaults to 0.
            out_file (str, optional): Write the picture there instead of
                to the backends.
            step (int): Global step for the backends. Defaults to 0.
            pred_score_thr (float): Boxes with a score above it are drawn.
                Defaults to 0.3.

        Returns:
            np.ndarray: The drawn (H, W', 3) RGB picture.
        """
        image = to_rgb_uint8(image)
        views = []
        if data_sample is not None:
            data_sample = data_sample.cpu()
            if draw_gt:
                views.append(self.draw_view(image, data_sample, 'gt'))
            if draw_pred:
                views.append(
                    self.draw_view(image, data_sample, 'pred', pred_score_thr))
        views = [v for v in views if v is not None]
        if views:
            heights = {v.shape[0] for v in views}
            assert len(heights) == 1, 'views of one sample differ in height'
            drawn = np.concatenate(views, axis=1)
        else:
            drawn = image
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)
        return drawn


def compose_views(views: Dict[str, np.ndarray],
                  max_height: int = TILE_HEIGHT,
                  background: int = 255) -> np.ndarray:
    """Tile pictures (e.g. one per head) into one RGB image: one row per
    key prefix (``task``), tiles scaled to at most ``max_height`` rows.

    Args:
        views (dict): ``{'<task>/<dataset>': (H, W, 3) RGB}``.

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
