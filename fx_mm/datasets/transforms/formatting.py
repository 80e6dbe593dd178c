# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms import to_tensor
from mmdet.datasets.transforms import PackDetInputs
from mmengine.structures import PixelData
from mmpretrain.structures import DataSample
from mmseg.structures import SegDataSample

from fx_mm.registry import TRANSFORMS
from .loading import seg_map_to_chw

DEFAULT_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                     'scale_factor', 'flip', 'flip_direction', 'dataset',
                     'task')


def _image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) uint8 -> (C, H, W) tensor."""
    if img.ndim < 3:
        img = img[..., None]
    return to_tensor(np.ascontiguousarray(img.transpose(2, 0, 1)))


def _check_binary(seg: np.ndarray, img_path: str) -> None:
    """Masks must stay 0/1 through the pipeline (fx_mm's channels are
    binary; the data preprocessor pads them with 0)."""
    if seg.size and seg.max() > 1:
        values = np.unique(seg)[:10].tolist()
        raise ValueError(
            f'{img_path}: gt_seg_map has values {values}; fx_mm masks are '
            'binary channels (0/1). 255 is the seg padding value of mmcv/'
            'mmdet Pad (pad_val=dict(img=0, seg=255) by default): use '
            'FXPad, which pads masks with 0 for any number of channels.')


@TRANSFORMS.register_module()
class PackFXInputs(BaseTransform):
    """Pack a sample into the data sample of its task's library.

    - cls: mmpretrain ``DataSample`` with ``gt_score`` (C,) and
      ``gt_label_mask`` (C,) bool;
    - loc: mmdet ``DetDataSample`` through mmdet's ``PackDetInputs``;
    - seg: mmseg ``SegDataSample`` with ``gt_sem_seg.data`` (C, H, W) uint8,
      one independent binary channel per seg class.

    Every sample carries ``dataset`` and ``task`` in its metainfo; the model
    routes a batch by them. The ground-truth fields are packed only when the
    results hold them, so that :class:`~fx_mm.apis.FXInferencer` packs
    unannotated images with this same transform (one definition of what a
    sample carries for training, testing and inference).

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo when
            present.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)
        self._pack_det = PackDetInputs(meta_keys=self.meta_keys)

    def transform(self, results: dict) -> dict:
        task = results['task']
        if task == 'loc':
            return self._pack_det(results)
        metainfo = {k: results[k] for k in self.meta_keys if k in results}
        if task == 'cls':
            data_sample = DataSample(metainfo=metainfo)
            if 'gt_score' in results:  # absent at inference
                data_sample.set_gt_score(torch.as_tensor(results['gt_score']))
                data_sample.set_field(
                    torch.as_tensor(
                        results['gt_label_mask'], dtype=torch.bool),
                    'gt_label_mask')
        elif task == 'seg':
            data_sample = SegDataSample(metainfo=metainfo)
            if 'gt_seg_map' in results:
                seg = seg_map_to_chw(results['gt_seg_map'])
                _check_binary(seg, results.get('img_path'))
                data_sample.gt_sem_seg = PixelData(data=to_tensor(seg))
        else:
            raise ValueError(f'{results.get("img_path")}: unknown task '
                             f'{task!r}')
        return dict(
            inputs=_image_to_tensor(results['img']), data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
