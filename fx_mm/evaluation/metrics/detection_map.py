# Copyright (c) fx_mm contributors. All rights reserved.
import contextlib
import io
import logging
from typing import Dict, List, Optional, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from fx_mm.registry import METRICS
from .base_task_metric import BaseTaskMetric

# IoU thresholds whose AP gets its own ``mAP<NN>`` key when evaluated.
REPORTED_IOUS = (0.40, 0.50, 0.75)


def _iou_name(thr: float) -> str:
    """0.4 -> '40', 0.425 -> '42.5'."""
    return f'{thr * 100:g}'


@METRICS.register_module()
class DetectionMAP(BaseTaskMetric):
    """COCO-style box AP of one localization slot, in percent.

    The slot's ground truth becomes an in-memory pycocotools ``COCO`` object
    (every sample is an image, with or without boxes, so false positives on
    images without boxes count), its detections are loaded with
    ``COCO.loadRes`` and ``COCOeval`` (iouType ``'bbox'``, one area range
    'all', COCO's ``maxDets``) does the matching and the 101-point
    interpolated precision. Zero detections give AP 0 (without
    calling ``loadRes``, which fails on an empty list).

    Sample keys read (a data sample after ``to_dict()``), boxes in pixels of
    the ORIGINAL image, xyxy:

    - ``dataset``, ``task`` (``'loc'``), ``img_path``, ``ori_shape`` (H, W);
    - ``pred_instances``: ``bboxes`` (N, 4), ``scores`` (N, ),
      ``labels`` (N, ) class indices in [0, C);
    - ``gt_instances``: ``bboxes`` (M, 4) (a tensor or mmdet
      ``HorizontalBoxes``), ``labels`` (M, );
    - ``ignored_instances`` (optional): boxes that mmdet marked
      ``ignore_flag=1``; they enter COCO as ``iscrowd=1`` regions, so a
      detection on them is neither a true nor a false positive.

    Result keys (with the ``'{dataset_name}/loc/'`` prefix):

    - ``mAP40``, ``mAP50``, ``mAP75``: mean over classes of the AP at IoU
      0.40 (the number the Foundation X paper reports), 0.50 and 0.75, each
      when that threshold is in ``iou_thrs``;
    - ``mAP``: AP averaged over the thresholds of ``iou_thrs`` from 0.50 up
      (COCO's mAP@[.50:.95] with the default thresholds);
    - ``AP<NN>_<class>``: per-class AP at the lowest threshold
      (``AP40_<class>`` by default).

    A class without ground-truth boxes has no AP (NaN, logged) and is left
    out of the means, as COCO does.

    Args:
        dataset_name (str): ``dataset`` metainfo value of the slot.
        class_names (Sequence[str]): The C box class names in label order.
        iou_thrs (Sequence[float], optional): IoU thresholds to evaluate.
            Defaults to 0.40, 0.45, ..., 0.95.
        max_dets (int): COCO's ``maxDets``: the highest-scoring detections
            kept per image and class. Defaults to 100.
        **kwargs: ``collect_device``, ``prefix``, ``collect_dir`` of
            :class:`BaseTaskMetric`.
    """

    task = 'loc'

    def __init__(self,
                 dataset_name: str,
                 class_names: Sequence[str],
                 iou_thrs: Optional[Sequence[float]] = None,
                 max_dets: int = 100,
                 **kwargs) -> None:
        super().__init__(dataset_name, class_names, **kwargs)
        name = f'{self.__class__.__name__}[{self.prefix}]'
        if iou_thrs is None:
            iou_thrs = np.round(np.linspace(0.40, 0.95, 12), 2)
        iou_thrs = np.asarray(iou_thrs, dtype=np.float64).reshape(-1)
        if (iou_thrs.size == 0 or (iou_thrs <= 0).any()
                or (iou_thrs > 1).any() or (np.diff(iou_thrs) <= 0).any()):
            raise ValueError(f'{name}: iou_thrs must be increasing values in '
                             f'(0, 1], got {iou_thrs.tolist()}')
        if int(max_dets) != max_dets or max_dets < 1:
            raise ValueError(f'{name}: max_dets must be a positive integer, '
                             f'got {max_dets!r}')
        self.iou_thrs = iou_thrs
        self.max_dets = int(max_dets)

    # ------------------------------------------------------------------
    def _boxes(self, sample: dict, field: str, with_scores: bool) -> dict:
        inst = self.get_field(sample, field)
        if not isinstance(inst, dict):
            self.fail(
                sample, f'{field} must be a dict of arrays (an '
                f'InstanceData after to_dict()), got {type(inst)}')
        keys = ('bboxes', 'labels') + (('scores', ) if with_scores else ())
        out = {}
        for key in keys:
            if key not in inst:
                self.fail(sample, f'{field} has no {key!r} (keys: '
                          f'{sorted(inst)})', KeyError)
            out[key] = self.to_numpy(sample, inst[key], f'{field}.{key}')
        bboxes = out['bboxes'].astype(np.float64)
        if bboxes.size == 0:  # an empty tensor may come as (0, )
            bboxes = bboxes.reshape(0, 4)
        self.check_shape(sample, bboxes, f'{field}.bboxes', (None, 4),
                         '(N, 4) xyxy')
        n = len(bboxes)
        labels = out['labels'].reshape(-1)
        self.check_shape(sample, labels, f'{field}.labels', (n, ), f'({n}, )')
        if n and (not np.issubdtype(labels.dtype, np.integer)
                  or labels.min() < 0 or labels.max() >= self.num_classes):
            self.fail(
                sample, f'{field}.labels must be class indices in [0, '
                f'{self.num_classes}), got {np.unique(labels).tolist()}')
        if not np.isfinite(bboxes).all():
            self.fail(sample, f'{field}.bboxes has non-finite values')
        result = dict(
            bboxes=bboxes.astype(np.float32), labels=labels.astype(np.int64))
        if with_scores:
            scores = out['scores'].astype(np.float64).reshape(-1)
            self.check_shape(sample, scores, f'{field}.scores', (n, ),
                             f'({n}, )')
            if not np.isfinite(scores).all():
                self.fail(sample, f'{field}.scores has non-finite values')
            result['scores'] = scores.astype(np.float32)
        else:
            bad = (bboxes[:, 2] < bboxes[:, 0]) | (bboxes[:, 3] < bboxes[:, 1])
            if bad.any():
                self.fail(
                    sample, f'{field}.bboxes {bboxes[bad].tolist()} have '
                    'x2 < x1 or y2 < y1 (boxes must be xyxy)')
        return result

    def process_sample(self, sample: dict) -> dict:
        shape = tuple(self.get_field(sample, 'ori_shape'))
        if len(shape) < 2:
            self.fail(sample, f'ori_shape {shape} is not (H, W)')
        record = dict(
            img_path=str(sample.get('img_path', '')),
            height=int(shape[0]),
            width=int(shape[1]),
            pred=self._boxes(sample, 'pred_instances', True),
            gt=self._boxes(sample, 'gt_instances', False))
        if 'ignored_instances' in sample:
            ignored = sample['ignored_instances']
            if isinstance(ignored, dict) and 'bboxes' in ignored:
                record['ignored'] = self._boxes(sample, 'ignored_instances',
                                                False)
        return record

    # ------------------------------------------------------------------
    @staticmethod
    def _xywh(bboxes: np.ndarray) -> List[List[float]]:
        """(N, 4) xyxy -> COCO [x, y, w, h] lists of python floats."""
        xywh = bboxes.astype(np.float64).copy()
        xywh[:, 2:] -= xywh[:, :2]
        return xywh.tolist()

    def _build_coco(self, results: List[dict]):
        """The slot's ground truth and detections as pycocotools objects."""
        images, gt_anns, dets = [], [], []
        categories = [
            dict(id=c + 1, name=name)
            for c, name in enumerate(self.class_names)
        ]
        for img_id, r in enumerate(results, start=1):
            images.append(
                dict(
                    id=img_id,
                    file_name=r['img_path'],
                    height=r['height'],
                    width=r['width']))
            groups = [(r['gt'], 0)]
            if 'ignored' in r:
                groups.append((r['ignored'], 1))
            for inst, iscrowd in groups:
                for box, label in zip(
                        self._xywh(inst['bboxes']), inst['labels']):
                    gt_anns.append(
                        dict(
                            id=len(gt_anns) + 1,
                            image_id=img_id,
                            category_id=int(label) + 1,
                            bbox=box,
                            area=box[2] * box[3],
                            iscrowd=iscrowd))
            pred = r['pred']
            for box, label, score in zip(
                    self._xywh(pred['bboxes']), pred['labels'],
                    pred['scores']):
                dets.append(
                    dict(
                        image_id=img_id,
                        category_id=int(label) + 1,
                        bbox=box,
                        score=float(score)))

        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO()
            coco_gt.dataset = dict(
                images=images, categories=categories, annotations=gt_anns)
            coco_gt.createIndex()
            if dets:
                coco_dt = coco_gt.loadRes(dets)
            else:  # loadRes indexes the first result: build an empty one
                coco_dt = COCO()
                coco_dt.dataset = dict(
                    images=list(images), categories=categories, annotations=[])
                coco_dt.createIndex()
        return coco_gt, coco_dt

    def compute_slot_metrics(self, results: List[dict]) -> Dict[str, float]:
        coco_gt, coco_dt = self._build_coco(results)
        coco_eval = COCOeval(coco_gt, coco_dt, iouType='bbox')
        params = coco_eval.params
        params.imgIds = sorted(coco_gt.getImgIds())
        params.catIds = sorted(coco_gt.getCatIds())
        params.iouThrs = self.iou_thrs
        params.maxDets = [self.max_dets]
        params.areaRng = [[0, 1e5**2]]
        params.areaRngLbl = ['all']
        with contextlib.redirect_stdout(io.StringIO()):
            coco_eval.evaluate()
            coco_eval.accumulate()

        # (T, R, K, A=1, M=1); -1 where a class has no (non-crowd) gt box
        precision = coco_eval.eval['precision'][:, :, :, 0, 0]
        valid = precision > -1
        ap = np.full((len(self.iou_thrs), self.num_classes), np.nan)
        has_gt = valid.all(axis=1)  # (T, K)
        ap[has_gt] = 100.0 * precision.transpose(0, 2, 1)[has_gt].mean(-1)

        no_gt = [
            name for k, name in enumerate(self.class_names)
            if not has_gt[:, k].any()
        ]
        if no_gt:
            self.log(
                f'no ground-truth box for {no_gt}: their AP is NaN and '
                'left out of the means', logging.WARNING)

        def mean_ap(rows: np.ndarray) -> float:
            values = ap[rows]  # (T', K), NaN for classes without gt
            if np.isnan(values).all():
                return float('nan')
            return float(np.nanmean(values))

        metrics = {}
        for thr in REPORTED_IOUS:
            hit = np.isclose(self.iou_thrs, thr)
            if hit.any():
                metrics[f'mAP{_iou_name(thr)}'] = mean_ap(hit)
        coco_range = self.iou_thrs >= 0.5 - 1e-9
        if coco_range.any():
            metrics['mAP'] = mean_ap(coco_range)
        first = _iou_name(self.iou_thrs[0])
        for k, key in enumerate(self.class_keys):
            metrics[f'AP{first}_{key}'] = float(ap[0, k])
        return metrics
