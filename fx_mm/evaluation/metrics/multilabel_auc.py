# Copyright (c) fx_mm contributors. All rights reserved.
import logging
from typing import List, Optional, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from fx_mm.registry import METRICS
from .base_task_metric import BaseTaskMetric


@METRICS.register_module()
class MultiLabelAUC(BaseTaskMetric):
    """Per-class AUC-ROC of one classification slot, in percent.

    Each class is scored one-vs-rest with scikit-learn's ``roc_auc_score``
    (tied scores count one half), which also serves single-label (softmax)
    datasets such as RSNA Pneumonia's three classes.

    A label whose ``gt_label_mask`` is False (unknown / uncertain) is left
    out of its own class only. A class whose remaining labels are all one
    value (or that has none) has no AUC: it is reported as NaN, logged, and
    left out of the means.

    Sample keys read (a data sample after ``to_dict()``):

    - ``dataset``, ``task`` (``'cls'``), ``img_path``;
    - ``pred_score`` (Tensor): (C, ) class probabilities;
    - ``gt_score`` (Tensor): (C, ) 0/1 targets; without it ``gt_label``
      (Tensor: (K, ) indices of the positive classes) is one-hot encoded;
    - ``gt_label_mask`` (Tensor, optional): (C, ) bool, False where the
      label is unknown. Defaults to all True.

    Result keys (with the ``'{dataset_name}/cls/'`` prefix):

    - ``AUC``: mean over the defined classes of ``mean_over`` (all classes
      when ``mean_over`` is None);
    - ``AUC_all``: mean over all defined classes (only with ``mean_over``);
    - ``AUC_<class>``: per class, NaN when undefined. Class names enter keys
      through :func:`metric_key` (``'Pleural Effusion'`` ->
      ``'AUC_Pleural_Effusion'``).

    Args:
        dataset_name (str): ``dataset`` metainfo value of the slot.
        class_names (Sequence[str]): The C class names in index order.
        mean_over (Sequence[str], optional): Classes whose mean is ``AUC``,
            e.g. the five CheXpert competition classes (Atelectasis,
            Cardiomegaly, Consolidation, Edema, Pleural Effusion).
            Defaults to None (all classes).
        **kwargs: ``collect_device``, ``prefix``, ``collect_dir`` of
            :class:`BaseTaskMetric`.
    """

    task = 'cls'

    def __init__(self,
                 dataset_name: str,
                 class_names: Sequence[str],
                 mean_over: Optional[Sequence[str]] = None,
                 **kwargs) -> None:
        super().__init__(dataset_name, class_names, **kwargs)
        if mean_over is not None:
            if isinstance(mean_over, str) or not mean_over:
                raise ValueError(f'{self.__class__.__name__}[{self.prefix}]: '
                                 'mean_over must be a non-empty list of '
                                 f'class names, got {mean_over!r}')
            unknown = [c for c in mean_over if c not in self.class_names]
            if unknown:
                raise ValueError(f'{self.__class__.__name__}[{self.prefix}]: '
                                 f'mean_over names {unknown}, which are not '
                                 f'in class_names {self.class_names}')
            mean_over = list(dict.fromkeys(mean_over))
        self.mean_over = mean_over

    def process_sample(self, sample: dict) -> dict:
        num = self.num_classes
        pred = self.to_numpy(sample, self.get_field(sample, 'pred_score'),
                             'pred_score').astype(np.float64)
        self.check_shape(sample, pred, 'pred_score', (num, ), f'({num}, )')
        if not np.isfinite(pred).all():
            self.fail(sample, f'pred_score has non-finite values {pred}')

        if 'gt_score' in sample:
            gt = self.to_numpy(sample, sample['gt_score'], 'gt_score')
            self.check_shape(sample, gt, 'gt_score', (num, ), f'({num}, )')
        elif 'gt_label' in sample:
            idx = self.to_numpy(sample, sample['gt_label'],
                                'gt_label').reshape(-1)
            if idx.size and (not np.issubdtype(idx.dtype, np.integer)
                             or idx.min() < 0 or idx.max() >= num):
                self.fail(
                    sample, f'gt_label {idx.tolist()} is not a list of '
                    f'class indices in [0, {num})')
            gt = np.zeros(num, dtype=np.uint8)
            gt[idx] = 1
        else:
            self.get_field(sample, 'gt_score')  # raises, naming the keys

        if 'gt_label_mask' in sample:
            mask = self.to_numpy(sample, sample['gt_label_mask'],
                                 'gt_label_mask')
            self.check_shape(sample, mask, 'gt_label_mask', (num, ),
                             f'({num}, )')
            if mask.dtype != np.bool_:
                if not np.isin(mask, (0, 1)).all():
                    self.fail(
                        sample, 'gt_label_mask must be boolean, got '
                        f'{mask.tolist()}')
                mask = mask.astype(bool)
        else:
            mask = np.ones(num, dtype=bool)

        known = gt[mask]
        if not np.isin(known, (0, 1)).all():
            self.fail(
                sample, 'gt_score must be 0 or 1 where gt_label_mask is '
                f'True, got {gt.tolist()} (mask {mask.tolist()})')
        return dict(
            pred=pred, gt=np.where(mask, gt, 0).astype(np.uint8), mask=mask)

    def compute_slot_metrics(self, results: List[dict]) -> dict:
        pred = np.stack([r['pred'] for r in results])  # (N, C)
        gt = np.stack([r['gt'] for r in results])  # (N, C)
        mask = np.stack([r['mask'] for r in results])  # (N, C)

        auc = np.full(self.num_classes, np.nan)
        undefined = []
        for c, name in enumerate(self.class_names):
            y = gt[mask[:, c], c]
            if y.size == 0:
                undefined.append(f'{name} (no known label)')
            elif y.min() == y.max():
                undefined.append(f'{name} (all {y.size} known labels are '
                                 f'{int(y[0])})')
            else:
                auc[c] = 100.0 * roc_auc_score(y, pred[mask[:, c], c])
        if undefined:
            self.log(
                f'AUC is undefined (NaN) and left out of the means for: '
                f'{"; ".join(undefined)}', logging.WARNING)

        defined = ~np.isnan(auc)
        if self.mean_over is None:
            metrics = {'AUC': self._mean(auc, defined, 'all classes')}
        else:
            sel = np.zeros_like(defined)
            sel[[self.class_names.index(c) for c in self.mean_over]] = True
            metrics = {
                'AUC': self._mean(auc, defined & sel, f'{self.mean_over}'),
                'AUC_all': self._mean(auc, defined, 'all classes')
            }
        for key, value in zip(self.class_keys, auc):
            metrics[f'AUC_{key}'] = float(value)
        return metrics

    def _mean(self, auc: np.ndarray, sel: np.ndarray, what: str) -> float:
        if not sel.any():
            self.log(f'no defined AUC among {what}: the mean is NaN',
                     logging.WARNING)
            return float('nan')
        return float(auc[sel].mean())
