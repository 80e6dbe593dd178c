# Copyright (c) fx_mm contributors. All rights reserved.
"""Drawing fx_mm's three kinds of predictions and ground truth."""
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmdet.structures.mask import bitmap_to_polygon
from mmdet.visualization import DetLocalVisualizer
from mmengine.dist import master_only
from mmengine.structures import InstanceData

from fx_mm.registry import VISUALIZERS
from fx_mm.structures import TASKS, task_of_sample_type
from .utils import ClassNames, boxes_to_tensor, masks_to_array, palette_colors


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
      ``pred_score_thr``), drawn by mmdet's
      :meth:`DetLocalVisualizer._draw_instances`;
    - seg: one translucent mask and contour per channel (channels are
      independent and may overlap) with a legend of class names.

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
            to the image width. Defaults to 1.0.
        line_width (int | float): Box line width. Defaults to 2.
        alpha (float): Opacity of boxes. Defaults to 0.8.
        text_color (tuple): Colour of box labels. Defaults to light gray.
    """

    def __init__(
        self,
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
        text_color: Tuple[int, int, int] = (240, 240, 240)
    ) -> None:
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
        self.topk = topk
        self.mask_alpha = mask_alpha
        self.cls_panel_ratio = cls_panel_ratio
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
        return max(height_px, 4.0) * 72.0 / self.dpi

    def _draw_title(self, text: str, height: int, width: int) -> None:
        px = max(7.0, min(height, width) * 0.035)
        self.draw_texts(
            text,
            np.array([2.0, 2.0]),
            colors=(255, 255, 255),
            font_sizes=self._font_size(px),
            bboxes=dict(
                facecolor='black', alpha=0.6, pad=0.5, edgecolor='none'))

    @staticmethod
    def cls_panel_layout(height: int, panel_left: int, panel_width: int,
                         num_rows: int) -> dict:
        """Geometry of a classification panel (pixels).

        Returns:
            dict: ``title_h``, ``font_px``, ``x0`` (left end of the bars),
            ``bar_len`` (length of a bar of score 1) and ``rows``: per row
            ``(text_y, bar_y0, bar_y1)``.
        """
        title_h = max(10.0, height * 0.08)
        row_h = min((height - title_h) / max(num_rows, 1), height * 0.2)
        pad = max(2.0, panel_width * 0.04)
        rows = []
        for i in range(num_rows):
            top = title_h + i * row_h
            rows.append(
                (top + 0.05 * row_h, top + 0.5 * row_h, top + 0.9 * row_h))
        return dict(
            title_h=title_h,
            font_px=max(6.0, min(row_h * 0.38, height * 0.05)),
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
        panel_width = max(1, int(round(width * self.cls_panel_ratio)))
        canvas = np.concatenate(
            [image, np.full((height, panel_width, 3), 24, np.uint8)], axis=1)
        self.set_image(canvas)
        layout = self.cls_panel_layout(height, width, panel_width, len(order))
        colors = palette_colors(len(scores))
        font = self._font_size(layout['font_px'])
        x0, bar_len = layout['x0'], layout['bar_len']
        self.draw_texts(
            title,
            np.array([x0, 2.0]),
            colors=(255, 255, 255),
            font_sizes=self._font_size(
                min(layout['font_px'] * 1.1, layout['title_h'] * 0.6)))
        tracks, bars, bar_colors = [], [], []
        for (text_y, y0, y1), k in zip(layout['rows'], order):
            is_known = known is None or bool(known[k])
            score = float(np.clip(scores[k], 0.0, 1.0))
            tracks.append([x0, y0, x0 + bar_len, y1])
            if is_known and score > 0:
                bars.append([x0, y0, x0 + score * bar_len, y1])
                bar_colors.append(colors[k])
            value = f'{score:.2f}' if is_known else '?'
            self.draw_texts([names[k], value],
                            np.array([[x0, text_y], [x0 + bar_len, text_y]]),
                            colors=(235, 235, 235),
                            font_sizes=font,
                            horizontal_alignments=['left', 'right'])
        if tracks:
            self.draw_bboxes(
                np.array(tracks),
                edge_colors=(70, 70, 70),
                face_colors=(70, 70, 70),
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

    def _draw_loc_view(self, image: np.ndarray, instances: InstanceData,
                       names: List[str], title: str) -> np.ndarray:
        """Boxes (and scores) of ``instances`` on ``image``."""
        instances = instances.clone()
        if 'bboxes' in instances:
            instances.bboxes = boxes_to_tensor(instances.bboxes)
        if 'labels' in instances:
            instances.labels = torch.as_tensor(instances.labels).long()
        palette = palette_colors(len(names))
        drawn = self._draw_instances(image, instances, names, palette)
        self.set_image(drawn)
        self._draw_title(title, *image.shape[:2])
        return self.get_image()

    def _draw_seg_view(self, image: np.ndarray, masks: np.ndarray,
                       names: List[str], title: str) -> np.ndarray:
        """Translucent masks + contours of the (C, H, W) channels."""
        height, width = image.shape[:2]
        if masks.shape[1:] != (height, width):
            raise ValueError(
                f'FXVisualizer: masks of size {masks.shape[1:]} (H, W) do '
                f'not match the image {(height, width)}; draw on the image '
                'the masks belong to (see fx_mm.visualization.'
                'gt_to_original)')
        self.set_image(image)
        colors = palette_colors(len(masks))
        present = [c for c in range(len(masks)) if masks[c].any()]
        if present:
            self.draw_binary_masks(
                masks[present],
                colors=[colors[c] for c in present],
                alphas=self.mask_alpha)
            for c in present:
                contours, _ = bitmap_to_polygon(masks[c])
                contours = [p for p in contours if len(p) >= 3]
                if contours:
                    self.draw_polygons(
                        contours,
                        edge_colors=colors[c],
                        line_widths=1,
                        alpha=1.0)
        # legend: title, then one coloured label per channel
        px = max(7.0, min(height, width) * 0.035)
        line_h = px * 1.6
        texts = [title] + list(names[:len(masks)])
        positions = np.array([[2.0, 2.0 + i * line_h]
                              for i in range(len(texts))])
        boxes = [
            dict(facecolor='black', alpha=0.6, pad=0.5, edgecolor='none')
        ] + [
            dict(
                facecolor=_matplotlib_rgb(colors[c]),
                alpha=0.85,
                pad=0.5,
                edgecolor='none') for c in range(len(masks))
        ]
        self.draw_texts(
            texts,
            positions,
            colors=(255, 255, 255),
            font_sizes=self._font_size(px),
            bboxes=boxes)
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
            if which == 'pred' and 'scores' in instances:
                instances = instances[instances.scores > pred_score_thr]
            labels = instances.get('labels', torch.zeros(0))
            num = int(labels.max()) + 1 if len(labels) else 1
            names = self.get_class_names(dataset, task, num)
            return self._draw_loc_view(image, instances, names, title)
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
                  max_height: int = 512,
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
