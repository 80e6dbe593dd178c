# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Dict, List, Sequence

import numpy as np
import torch

from fx_mm.registry import METRICS
from .base_task_metric import BaseTaskMetric


@METRICS.register_module()
class DiceMetric(BaseTaskMetric):
    """Per-image Dice and IoU of one segmentation slot, in percent.

    Every channel is an independent binary mask (masks may overlap). For
    image i and channel c with prediction P and truth G:

    - ``Dice = 2 |P & G| / (|P| + |G|)``;
    - ``IoU = |P & G| / |P | G|``;
    - an empty prediction on an empty truth scores 1 for both (nothing to
      find, nothing found); an empty prediction on a non-empty truth, or the
      reverse, scores 0.

    Scores are averaged over images per channel (``Dice_<class>``,
    ``IoU_<class>``) and then over channels (``Dice``, ``IoU``), as the
    Foundation X paper does (threshold 0.5, per image, then averaged).

    ``process`` keeps only three counts per channel and image
    (``|P & G|``, ``|P|``, ``|G|``), never the masks.

    Sample keys read (a data sample after ``to_dict()``), masks at the
    ORIGINAL image size:

    - ``dataset``, ``task`` (``'seg'``), ``img_path``, ``ori_shape`` (H, W);
    - ``gt_sem_seg``: ``{'data': Tensor (C, H, W)}`` of 0/1;
    - ``pred_sem_seg``: ``{'data': Tensor (C, H, W)}`` of 0/1 (uint8 or
      bool); when it is missing, ``seg_logits``: ``{'data': Tensor
      (C, H, W)}`` logits, predicted as ``sigmoid(logits) > threshold``.

    Args:
        dataset_name (str): ``dataset`` metainfo value of the slot.
        class_names (Sequence[str]): The C channel names in order.
        threshold (float): Probability threshold applied to ``seg_logits``
            when a sample has no ``pred_sem_seg``. Defaults to 0.5.
        **kwargs: ``collect_device``, ``prefix``, ``collect_dir`` of
            :class:`BaseTaskMetric`.
    """

    task = 'seg'

    def __init__(self,
                 dataset_name: str,
                 class_names: Sequence[str],
                 threshold: float = 0.5,
                 **kwargs) -> None:
        super().__init__(dataset_name, class_names, **kwargs)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f'{self.__class__.__name__}[{self.prefix}]: '
                             f'threshold must be in (0, 1), got {threshold}')
        self.threshold = float(threshold)

    def _mask(self, sample: dict, field: str) -> torch.Tensor:
        data = self.get_field(sample, field)
        if isinstance(data, dict):
            if 'data' not in data:
                self.fail(sample, f'{field} has no "data" (keys: '
                          f'{sorted(data)})', KeyError)
            data = data['data']
        if not isinstance(data, torch.Tensor):
            data = torch.as_tensor(np.asarray(data))
        num = self.num_classes
        if data.dim() != 3 or data.shape[0] != num:
            self.fail(
                sample, f'{field} has shape {tuple(data.shape)}, '
                f'expected ({num}, H, W): one binary channel per class')
        return data

    def _binary(self, sample: dict, field: str,
                data: torch.Tensor) -> torch.Tensor:
        if data.dtype == torch.bool:
            return data
        if ((data != 0) & (data != 1)).any():
            values = torch.unique(data)[:10].tolist()
            self.fail(
                sample, f'{field} must be binary (0/1), found values '
                f'{values}')
        return data.bool()

    def process_sample(self, sample: dict) -> dict:
        gt = self._binary(sample, 'gt_sem_seg',
                          self._mask(sample, 'gt_sem_seg'))
        if 'pred_sem_seg' in sample:
            pred = self._binary(sample, 'pred_sem_seg',
                                self._mask(sample, 'pred_sem_seg'))
        elif 'seg_logits' in sample:
            logits = self._mask(sample, 'seg_logits')
            pred = logits.float().sigmoid() > self.threshold
        else:
            self.get_field(sample, 'pred_sem_seg')  # raises, naming the keys
        if pred.shape != gt.shape:
            self.fail(
                sample, f'prediction {tuple(pred.shape)} and '
                f'gt_sem_seg {tuple(gt.shape)} differ in size')
        if 'ori_shape' in sample:
            ori = tuple(int(s) for s in sample['ori_shape'][:2])
            if tuple(gt.shape[1:]) != ori:
                self.fail(
                    sample, f'masks are {tuple(gt.shape[1:])}, but '
                    f'ori_shape is {ori}: Dice must be computed at the '
                    'original image size')
        gt = gt.to(pred.device)
        counts = torch.stack([
            (pred & gt).flatten(1).sum(1),
            pred.flatten(1).sum(1),
            gt.flatten(1).sum(1),
        ])  # (3, C): |P & G|, |P|, |G|
        return dict(counts=counts.cpu().numpy().astype(np.int64))

    def compute_slot_metrics(self, results: List[dict]) -> Dict[str, float]:
        counts = np.stack([r['counts'] for r in results]).astype(np.float64)
        inter, pred, gt = counts[:, 0], counts[:, 1], counts[:, 2]  # (N, C)
        total = pred + gt
        union = total - inter
        with np.errstate(divide='ignore', invalid='ignore'):
            dice = np.where(total > 0, 2 * inter / total, 1.0)
            iou = np.where(union > 0, inter / union, 1.0)
        dice_c = 100.0 * dice.mean(0)  # (C, )
        iou_c = 100.0 * iou.mean(0)
        metrics = {'Dice': float(dice_c.mean()), 'IoU': float(iou_c.mean())}
        for key, d in zip(self.class_keys, dice_c):
            metrics[f'Dice_{key}'] = float(d)
        for key, i in zip(self.class_keys, iou_c):
            metrics[f'IoU_{key}'] = float(i)
        return metrics
