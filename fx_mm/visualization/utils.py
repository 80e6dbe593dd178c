# Copyright (c) fx_mm contributors. All rights reserved.
"""Helpers shared by the visualizer, the visualization hook, the inferencer
and ``tools/analysis_tools/browse_dataset.py``."""
import copy
from typing import Iterable, List, Tuple

import cv2
import numpy as np
import torch
from mmdet.structures.bbox import BaseBoxes
from mmengine.structures import PixelData

# class names of datasets are a dataset fact (fx_mm.datasets.config_slots
# holds them); they stay importable from here, see __all__
from fx_mm.datasets.config_slots import (ClassNames, dataset_class_names,
                                         unwrap_dataset)
from fx_mm.datasets.io import gray_to_rgb, read_cxr_image

__all__ = [
    'FX_PALETTE', 'ClassNames', 'boxes_to_tensor', 'dataset_class_names',
    'gt_in_original_frame', 'gt_to_original', 'is_annotation_loader',
    'is_image_loader', 'is_packer', 'load_rgb_image', 'masks_to_array',
    'palette_colors', 'transform_name', 'unwrap_dataset'
]

#: Distinct RGB colours (matplotlib's ``tab10``), cycled per class / channel.
FX_PALETTE: Tuple[Tuple[int, int, int],
                  ...] = ((31, 119, 180), (255, 127, 14), (44, 160, 44),
                          (214, 39, 40), (148, 103,
                                          189), (140, 86, 75), (227, 119, 194),
                          (188, 189, 34), (23, 190, 207), (127, 127, 127))

_IMAGE_LOADERS = ('LoadCXRImage', 'LoadImageFromFile', 'LoadImageFromNDArray')
_ANNOTATION_LOADERS = ('LoadCXRAnnotations', 'LoadAnnotations')
_PACKERS = ('PackFXInputs', 'PackDetInputs', 'PackSegInputs', 'PackInputs')


def palette_colors(num: int) -> List[Tuple[int, int, int]]:
    """``num`` RGB colours from :data:`FX_PALETTE` (cycled)."""
    return [FX_PALETTE[i % len(FX_PALETTE)] for i in range(num)]


def load_rgb_image(path: str) -> np.ndarray:
    """Any radiograph fx_mm reads (PNG, JPEG, DICOM ...) as (H, W, 3) uint8
    RGB, the way :class:`~fx_mm.datasets.transforms.LoadCXRImage` sees it."""
    return gray_to_rgb(read_cxr_image(path))


def transform_name(transform) -> str:
    """Class name of a transform instance or of a transform config."""
    if isinstance(transform, dict):
        return str(transform.get('type', '')).split('.')[-1]
    return type(transform).__name__


def is_image_loader(transform) -> bool:
    return transform_name(transform) in _IMAGE_LOADERS


def is_annotation_loader(transform) -> bool:
    return transform_name(transform) in _ANNOTATION_LOADERS


def is_packer(transform) -> bool:
    return transform_name(transform) in _PACKERS


def gt_in_original_frame(transforms: Iterable) -> bool:
    """Whether a pipeline leaves ground truth in ORIGINAL image pixels.

    fx_mm's test pipelines load annotations after ``Resize`` (as mmdet's
    VOC and mmseg's test pipelines do): the image is resized, the ground
    truth is not, and it stays in the coordinates of the original image,
    where predictions are rescaled to. Training pipelines load annotations
    first, so geometric transforms move them with the image.

    Rule: ground truth is in the original frame when some transform other
    than an image loader runs before the annotation loader.

    Args:
        transforms (Iterable): Transform instances (``Compose.transforms``)
            or transform configs.
    """
    for transform in transforms:
        if is_annotation_loader(transform):
            return False
        if not is_image_loader(transform):
            return True
    return False


def boxes_to_tensor(bboxes) -> torch.Tensor:
    """``HorizontalBoxes`` / array / tensor -> float tensor (N, 4)."""
    if isinstance(bboxes, BaseBoxes):
        bboxes = bboxes.tensor
    return torch.as_tensor(bboxes, dtype=torch.float32).reshape(-1, 4)


def masks_to_array(masks) -> np.ndarray:
    """A (C, H, W) / (H, W) tensor or array -> (C, H, W) bool array."""
    if isinstance(masks, torch.Tensor):
        masks = masks.detach().cpu().numpy()
    masks = np.asarray(masks)
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3:
        raise ValueError(f'masks must be (C, H, W) or (H, W), got shape '
                         f'{masks.shape}')
    return masks > 0


def gt_to_original(data_sample, in_original_frame: bool):
    """A copy of ``data_sample`` whose ground truth is in original pixels.

    Ground truth that followed the pipeline's resize (training pipelines)
    is mapped back: boxes are divided by ``scale_factor`` (w, h), masks are
    resized (nearest) to ``ori_shape``. Predictions are untouched (fx_mm's
    task branches already return them in original pixels).

    Args:
        data_sample: A packed fx_mm data sample (cls / loc / seg).
        in_original_frame (bool): Whether the ground truth is already in
            original pixels (see :func:`gt_in_original_frame`).
    """
    if in_original_frame:
        return data_sample
    sample = copy.deepcopy(data_sample)
    meta = sample.metainfo
    if 'gt_instances' in sample and 'bboxes' in sample.gt_instances:
        scale_w, scale_h = meta.get('scale_factor', (1.0, 1.0))
        bboxes = boxes_to_tensor(sample.gt_instances.bboxes).clone()
        bboxes[:, 0::2] /= scale_w
        bboxes[:, 1::2] /= scale_h
        sample.gt_instances.bboxes = bboxes
    if 'gt_sem_seg' in sample and 'ori_shape' in meta:
        height, width = meta['ori_shape'][:2]
        masks = masks_to_array(sample.gt_sem_seg.data).astype(np.uint8)
        resized = np.stack([
            cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST)
            for m in masks
        ])
        sample.gt_sem_seg = PixelData(
            data=torch.from_numpy(resized),
            metainfo=sample.gt_sem_seg.metainfo)
    return sample
