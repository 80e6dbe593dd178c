# Copyright (c) fx_mm contributors. All rights reserved.
"""Reading chest radiographs and binary masks from the formats users bring.

Every reader returns a 2-D ``uint8`` grayscale array (H, W) with the usual
radiograph polarity (bones bright). Errors name the file and the problem.
"""
import os.path as osp
from typing import Tuple

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

DICOM_SUFFIXES = ('.dcm', '.dicom')
ITK_SUFFIXES = ('.mha', '.mhd', '.nii', '.nii.gz')


class CXRReadError(RuntimeError):
    """An image or mask file cannot be read; the message names the file."""


def _check_exists(path: str) -> None:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')


def to_uint8(array: np.ndarray, path: str = '') -> np.ndarray:
    """Scale an integer or float image linearly to the full uint8 range.

    8-bit input is returned unchanged; deeper images are min-max scaled so
    that 12/16-bit radiographs keep their contrast.
    """
    if array.dtype == np.uint8:
        return array
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise CXRReadError(f'{path}: image contains NaN or infinite values')
    low, high = float(array.min()), float(array.max())
    if high <= low:
        return np.zeros(array.shape, dtype=np.uint8)
    return np.round((array - low) * (255.0 / (high - low))).astype(np.uint8)


def _read_raster(path: str) -> np.ndarray:
    """PNG (8/16 bit), JPEG, GIF, BMP, TIFF through Pillow."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
                array = np.asarray(img)
            elif img.mode in ('L', 'P', '1'):
                array = np.asarray(img.convert('L'))
            else:
                array = np.asarray(img.convert('L'))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CXRReadError(
            f'{path}: cannot decode image (corrupt or truncated file?): '
            f'{err}') from err
    if array.ndim != 2:
        raise CXRReadError(f'{path}: expected a 2-D image, got shape '
                           f'{array.shape}')
    return to_uint8(array, path)


def _read_dicom(path: str) -> np.ndarray:
    """DICOM through pydicom: modality/VOI LUT, MONOCHROME1 inverted."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
    try:
        ds = pydicom.dcmread(path)
    except Exception as err:  # pydicom raises many types for bad files
        raise CXRReadError(f'{path}: not a readable DICOM file: {err}') \
            from err
    if 'PixelData' not in ds:
        raise CXRReadError(f'{path}: DICOM file has no pixel data')
    try:
        pixels = ds.pixel_array
    except Exception as err:
        syntax = getattr(ds.file_meta, 'TransferSyntaxUID', None)
        name = getattr(syntax, 'name', '') or 'unknown'
        hint = ''
        if syntax is None or getattr(syntax, 'is_compressed', False):
            hint = ('; a compressed syntax may need the pylibjpeg / gdcm '
                    'plugins from requirements/runtime.txt')
        bits = (f'BitsAllocated={ds.get("BitsAllocated")}, '
                f'BitsStored={ds.get("BitsStored")}')
        raise CXRReadError(
            f'{path}: cannot decode DICOM pixel data (transfer syntax '
            f'{syntax} "{name}", {bits}){hint}: {err}') from err
    if pixels.ndim != 2:
        raise CXRReadError(f'{path}: expected a single-frame grayscale '
                           f'DICOM, got pixel array of shape {pixels.shape}')
    pixels = apply_modality_lut(pixels, ds)
    pixels = apply_voi_lut(pixels, ds)
    image = to_uint8(np.asarray(pixels), path)
    if getattr(ds, 'PhotometricInterpretation', '') == 'MONOCHROME1':
        image = 255 - image
    return image


def _read_itk(path: str) -> np.ndarray:
    """MetaImage / NIfTI through SimpleITK (NODE21 ships .mha)."""
    import SimpleITK as sitk
    try:
        array = sitk.GetArrayFromImage(sitk.ReadImage(path))
    except RuntimeError as err:
        raise CXRReadError(f'{path}: SimpleITK cannot read it: {err}') \
            from err
    array = np.squeeze(array)
    if array.ndim != 2:
        raise CXRReadError(f'{path}: expected a 2-D image, got shape '
                           f'{array.shape}')
    return to_uint8(array, path)


def read_cxr_image(path: str) -> np.ndarray:
    """Read a radiograph as a uint8 grayscale array of shape (H, W).

    Args:
        path (str): PNG / JPEG / GIF / TIFF, DICOM (``.dcm``) or MetaImage /
            NIfTI (``.mha``, ``.nii``) file.

    Returns:
        np.ndarray: (H, W) uint8.
    """
    _check_exists(path)
    lower = path.lower()
    if lower.endswith(DICOM_SUFFIXES):
        return _read_dicom(path)
    if lower.endswith(ITK_SUFFIXES):
        return _read_itk(path)
    return _read_raster(path)


def read_binary_mask(path: str, expected_shape: Tuple[int, int] = None
                     ) -> np.ndarray:
    """Read a binary mask file (nonzero = foreground) as uint8 {0, 1}.

    Args:
        path (str): PNG / GIF / ... mask file.
        expected_shape (tuple, optional): (H, W) the mask must have.

    Returns:
        np.ndarray: (H, W) uint8 with values 0 and 1.
    """
    _check_exists(path)
    mask = (_read_raster(path) > 0).astype(np.uint8)
    if expected_shape is not None and mask.shape != tuple(expected_shape):
        raise CXRReadError(
            f'{path}: mask has size {mask.shape[1]}x{mask.shape[0]} (WxH) '
            f'but its image is {expected_shape[1]}x{expected_shape[0]}')
    return mask


def gray_to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 3) by replicating the gray channel."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
