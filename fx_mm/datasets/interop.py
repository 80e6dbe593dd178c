# Copyright (c) fx_mm contributors. All rights reserved.
"""Images in the convention of other chest X-ray libraries.

torchxrayvision's models take one channel scaled from [0, 255] to
[-1024, 1024] (its ``datasets.normalize``), cropped to the central square
(its ``XRayCenterCrop``: side ``min(H, W)``, the aspect ratio kept) and then
resized to the model's square. fx_mm's images are uint8 (H, W) gray
(:func:`~fx_mm.datasets.read_cxr_image`) or that gray replicated to RGB
(what :class:`~fx_mm.datasets.transforms.LoadCXRImage` gives the pipeline).
:func:`to_xrv` and :func:`from_xrv` convert between the two without
importing torchxrayvision; the resize to the model's input size is left to
the caller (as in torchxrayvision, where ``XRayResizer`` is a separate
step).
"""
from typing import Tuple

import numpy as np

#: torchxrayvision's pixel range: [0, 255] maps to [-XRV_RANGE, XRV_RANGE].
XRV_RANGE = 1024.0
_MAX_GRAY = 255.0


def xrv_center_crop_box(height: int, width: int) -> Tuple[int, int, int]:
    """``(x0, y0, side)`` of the square torchxrayvision's ``XRayCenterCrop``
    keeps from an (H, W) image: ``image[y0:y0 + side, x0:x0 + side]``.
    Add ``(x0, y0)`` to coordinates in the crop to get the image's."""
    side = min(height, width)
    return width // 2 - side // 2, height // 2 - side // 2, side


def _gray(image: np.ndarray) -> np.ndarray:
    """(H, W) gray of an fx_mm image; the mean of the channels of an
    (H, W, C) one (torchxrayvision's way; exact for replicated gray)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = getattr(image, 'dtype', type(image).__name__)
        raise ValueError(
            f'to_xrv: expected a uint8 numpy image (values 0-255, as '
            f'read_cxr_image returns), got {kind}')
    if image.ndim == 3 and image.shape[2] in (1, 3):
        return image.astype(np.float32).mean(axis=2)
    if image.ndim != 2:
        raise ValueError(f'to_xrv: expected an (H, W) or (H, W, 1 | 3) '
                         f'image, got shape {image.shape}')
    return image.astype(np.float32)


def to_xrv(image: np.ndarray, center_crop: bool = True) -> np.ndarray:
    """An fx_mm image in torchxrayvision's convention.

    Args:
        image (np.ndarray): (H, W) or (H, W, 1 | 3) uint8, values 0-255.
        center_crop (bool): Crop to the central ``min(H, W)`` square as
            ``XRayCenterCrop`` does (:func:`xrv_center_crop_box`). Defaults
            to True.

    Returns:
        np.ndarray: (1, S, S) float32 in [-1024, 1024] with ``S = min(H,
        W)`` ((1, H, W) without the crop); ``torch.from_numpy`` of it (a
        batch axis added) is a torchxrayvision model input once resized to
        the model's size.
    """
    gray = _gray(image)
    if center_crop:
        x0, y0, side = xrv_center_crop_box(*gray.shape)
        gray = gray[y0:y0 + side, x0:x0 + side]
    scaled = (2.0 * gray / _MAX_GRAY - 1.0) * XRV_RANGE
    return np.ascontiguousarray(scaled[None], dtype=np.float32)


def from_xrv(array: np.ndarray, tolerance: float = 1.0) -> np.ndarray:
    """A torchxrayvision image back to an fx_mm (H, W) uint8 image.

    Args:
        array (np.ndarray): (1, H, W) or (H, W), values in [-1024, 1024]
            (a CPU tensor works through ``np.asarray``).
        tolerance (float): How far (in torchxrayvision units; one gray
            level is 8) values may lie outside the range, e.g. after a
            resize, before they are an error; they are clipped.

    Returns:
        np.ndarray: (H, W) uint8; ``from_xrv(to_xrv(img))`` is the center
        crop of a gray ``img``, exactly.
    """
    values = np.asarray(array, dtype=np.float32)
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2:
        raise ValueError(f'from_xrv: expected a (1, H, W) or (H, W) array, '
                         f'got shape {values.shape}')
    low, high = float(values.min()), float(values.max())
    if low < -XRV_RANGE - tolerance or high > XRV_RANGE + tolerance:
        raise ValueError(
            f'from_xrv: values span [{low:g}, {high:g}], outside '
            f'torchxrayvision\'s [-{XRV_RANGE:g}, {XRV_RANGE:g}] (not '
            'an image of its convention?)')
    gray = (values / XRV_RANGE + 1.0) * (_MAX_GRAY / 2.0)
    return np.clip(np.rint(gray), 0, _MAX_GRAY).astype(np.uint8)
