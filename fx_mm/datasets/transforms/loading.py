# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets.transforms import LoadAnnotations as MMDetLoadAnnotations
from pycocotools import mask as mask_utils

from fx_mm.registry import TRANSFORMS
from ..io import CXRReadError, gray_to_rgb, read_binary_mask, read_cxr_image
from ..public.rle import check_coco_rle


@TRANSFORMS.register_module()
class LoadCXRImage(BaseTransform):
    """Load a radiograph (PNG/JPEG/GIF, DICOM, MetaImage) as uint8.

    Required Keys:

    - img_path

    Added Keys:

    - img (np.uint8, (H, W, 3) or (H, W))
    - img_shape, ori_shape ((H, W))

    Args:
        to_rgb (bool): Replicate the gray channel to 3 channels (for
            backbones pretrained on 3-channel input). Defaults to True.
    """

    def __init__(self, to_rgb: bool = True) -> None:
        self.to_rgb = to_rgb

    def transform(self, results: dict) -> dict:
        image = read_cxr_image(results['img_path'])
        if self.to_rgb:
            image = gray_to_rgb(image)
        results['img'] = image
        results['img_shape'] = image.shape[:2]
        results['ori_shape'] = image.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(to_rgb={self.to_rgb})'


@TRANSFORMS.register_module()
class LoadCXRAnnotations(MMDetLoadAnnotations):
    """Load the annotations of a data info's task.

    Boxes and labels go through mmdet's ``LoadAnnotations`` (``gt_bboxes`` as
    ``HorizontalBoxes``, ``gt_bboxes_labels``, ``gt_ignore_flags``). Masks
    are stacked into ``gt_seg_map`` of shape (H, W, C), uint8 {0, 1}, one
    independent channel per seg class, so that mmcv/mmdet geometric
    transforms keep them aligned with the image. Masks of the wrong size
    raise an error naming the file.

    Place it AFTER ``Resize`` in test pipelines to keep ground truth in
    original image coordinates (as mmdet's VOC and mmseg's test pipelines
    do): predictions are rescaled to the original image.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('with_bbox', True)
        kwargs.setdefault('with_label', True)
        super().__init__(**kwargs)

    def transform(self, results: dict) -> dict:
        task = results.get('task')
        if task == 'loc':
            self._load_bboxes(results)
            self._load_labels(results)
            self._check_boxes_inside(results)
        elif task == 'seg':
            self._load_seg_masks(results)
        return results

    @staticmethod
    def _check_boxes_inside(results: dict, tolerance: float = 1.0) -> None:
        """Boxes (original pixels) must lie in the original image, give or
        take ``tolerance`` pixels (inclusive vs. edge conventions); a box
        past the border usually means boxes of another resolution."""
        if 'ori_shape' not in results or not len(results['gt_bboxes']):
            return
        height, width = results['ori_shape'][:2]
        boxes = results['gt_bboxes'].tensor
        limit = boxes.new_tensor([width, height, width, height]) + tolerance
        bad = ((boxes > limit) | (boxes < -tolerance)).any(dim=1)
        if bad.any():
            k = int(bad.nonzero()[0])
            raise CXRReadError(
                f'{results["img_path"]}: box {k} '
                f'{[round(v, 2) for v in boxes[k].tolist()]} lies outside '
                f'the {width}x{height} (WxH) image; are the boxes for '
                'another image size?')

    @staticmethod
    def _load_seg_masks(results: dict) -> None:
        height, width = results['ori_shape']
        channels = []
        for path in results.get('seg_map_paths') or ():
            channels.append(read_binary_mask(path, (height, width)))
        for k, rle in enumerate(results.get('seg_rles') or ()):
            if rle is None:  # no foreground in this channel
                channels.append(np.zeros((height, width), dtype=np.uint8))
                continue
            check_coco_rle(rle, f'{results["img_path"]}: RLE mask {k}')
            size = tuple(rle['size'])
            if size != (height, width):
                raise CXRReadError(
                    f'{results["img_path"]}: RLE mask {k} has size '
                    f'{size} (H, W) but the image is {(height, width)}')
            channels.append(mask_utils.decode(rle).astype(np.uint8))
        if not channels:
            raise CXRReadError(f'{results["img_path"]}: seg sample without '
                               'masks (seg_map_paths / seg_rles)')
        results['gt_seg_map'] = np.ascontiguousarray(
            np.stack(channels, axis=-1))
        results['seg_fields'] = ['gt_seg_map']

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'


def seg_map_to_chw(seg_map: Optional[np.ndarray]) -> np.ndarray:
    """(H, W, C) or (H, W) mask stack -> (C, H, W)."""
    if seg_map.ndim == 2:
        seg_map = seg_map[..., None]
    return np.ascontiguousarray(seg_map.transpose(2, 0, 1))
