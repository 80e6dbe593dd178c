# Copyright (c) fx_mm contributors. All rights reserved.
"""``FXVisualizer``: draws fx_mm's three kinds of predictions and ground
truth, one data sample per call.

The class reads a data sample's task and head and dispatches to the view
of its task; the views live in their own modules:

- :mod:`.cls_view`: the image with a panel of score bars;
- :mod:`.loc_view`: boxes (predictions thinned by NMS and top-k);
- :mod:`.seg_view`: striped mask overlays with a legend panel;
- :mod:`.drawing`: text and line sizes shared by the views;
- :mod:`.compose`: tiling several views into one picture.
"""
from functools import partial
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmdet.visualization import DetLocalVisualizer
from mmengine.dist import master_only
from mmengine.structures import InstanceData

from fx_mm.datasets.config_slots import ClassNames
from fx_mm.registry import VISUALIZERS
from fx_mm.structures import TASKS, task_of_sample_type
from .cls_view import cls_panel_layout, cls_panel_width, draw_cls_view
from .compose import compose_views
from .drawing import TILE_HEIGHT, format_score, size_scale, to_rgb_uint8
from .loc_view import draw_loc_view, select_boxes
from .seg_view import draw_seg_view, overlay_masks

# the helpers this module held before the views got their own modules stay
# importable from here
__all__ = [
    'FXVisualizer', 'TILE_HEIGHT', 'compose_views', 'format_score',
    'overlay_masks', 'size_scale', 'to_rgb_uint8'
]


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
    def cls_panel_width(self, image_width: int, height: int,
                        names: Sequence[str], title: str) -> int:
        """Width of a classification panel: ``cls_panel_ratio`` of the
        image, widened to hold the longest ``name  0.00`` row and the
        title (see :func:`.cls_view.cls_panel_width`)."""
        return cls_panel_width(self, image_width, height, names, title,
                               self.font_px, self.cls_panel_ratio)

    @staticmethod
    def cls_panel_layout(height: int,
                         panel_left: int,
                         panel_width: int,
                         num_rows: int,
                         font_px: float = 14.) -> dict:
        """Geometry of a classification panel (pixels); see
        :func:`.cls_view.cls_panel_layout`."""
        return cls_panel_layout(height, panel_left, panel_width, num_rows,
                                font_px)

    def boxes_to_draw(self, instances: InstanceData,
                      score_thr: float) -> InstanceData:
        """Predicted boxes worth drawing: score above ``score_thr``, then
        class-wise NMS (``box_nms_iou``, mmcv's ``batched_nms``) and the
        ``max_boxes`` best, highest score first (see
        :func:`.loc_view.select_boxes`)."""
        return select_boxes(instances, score_thr, self.box_nms_iou,
                            self.max_boxes)

    # ------------------------------------------------------------------
    def draw_view(self,
                  image: np.ndarray,
                  data_sample,
                  which: str = 'pred',
                  pred_score_thr: float = 0.3,
                  title: Optional[str] = None) -> Optional[np.ndarray]:
        """Draw the ground truth (``which='gt'``) or the prediction
        (``'pred'``) of one data sample; None when the sample has none.

        Args:
            image (np.ndarray): (H, W) gray or (H, W, 3) RGB, in the
                coordinates of the data sample.
            data_sample: A cls / loc / seg data sample (see
                :meth:`add_datasample`).
            which (str): ``'gt'`` or ``'pred'``. Defaults to ``'pred'``.
            pred_score_thr (float): Boxes with a score above it are drawn.
                Defaults to 0.3.
            title (str, optional): Defaults to ``'<dataset>/<task> GT'`` /
                ``'... pred'``.

        Returns:
            np.ndarray, optional: The (H, W', 3) RGB view.
        """
        image = to_rgb_uint8(image)
        task = _task_of(data_sample)
        dataset = data_sample.metainfo.get('dataset')
        head = f'{dataset}/{task}' if dataset else task
        title = title or f'{head} {"GT" if which == "gt" else "pred"}'
        # the views ask for names once they know the number of classes
        class_names = partial(self.get_class_names, dataset, task)
        if task == 'cls':
            return draw_cls_view(self, image, data_sample, which, title,
                                 class_names, self.topk, self.font_px,
                                 self.cls_panel_ratio)
        if task == 'loc':
            return draw_loc_view(self, image, data_sample, which, title,
                                 class_names, pred_score_thr, self.box_nms_iou,
                                 self.max_boxes, self.font_px, self.line_width,
                                 self.alpha, self.text_color)
        return draw_seg_view(self, image, data_sample, which, title,
                             class_names, self.font_px, self.line_width,
                             self.mask_alpha)

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
