# Copyright (c) fx_mm contributors. All rights reserved.
"""Reading chest radiographs and binary masks from the formats users bring.

Every reader returns a 2-D ``uint8`` grayscale array (H, W) with the usual
radiograph polarity (bones bright). Errors name the file and the problem.
"""
import os.path as osp
import warnings
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


def is_dicom_file(path: str) -> bool:
    """True when the file starts like a DICOM file (``DICM`` after the
    128-byte preamble), whatever its name: PACS exports often have no
    suffix."""
    try:
        with open(path, 'rb') as f:
            return f.read(132)[128:132] == b'DICM'
    except OSError:
        return False


def image_format(path: str) -> str:
    """``'dicom'``, ``'itk'`` or ``'raster'``: the reader for ``path``.

    Chosen by content for DICOM (the ``DICM`` magic), then by suffix
    (DICOM without a preamble, MetaImage / NIfTI); everything else goes to
    Pillow, which identifies PNG / JPEG / GIF / TIFF / BMP by content.
    """
    lower = path.lower()
    if is_dicom_file(path) or lower.endswith(DICOM_SUFFIXES):
        return 'dicom'
    if lower.endswith(ITK_SUFFIXES):
        return 'itk'
    return 'raster'


def _check_alpha(img: Image.Image, path: str) -> None:
    """Refuse an image whose transparency channel carries a picture.

    Reading a radiograph keeps the gray levels only; a constant (opaque)
    alpha channel is dropped, a varying one would be lost in silence (a
    picture stored in the alpha channel becomes a constant image).
    """
    if img.mode == 'P' and 'transparency' in img.info:
        img = img.convert('RGBA')
    if 'A' not in img.getbands():
        return
    low, high = img.getchannel('A').getextrema()
    if low != high:
        raise CXRReadError(
            f'{path}: the image has a transparency (alpha) channel that '
            f'varies ({low}..{high}, mode {img.mode}); fx_mm reads the gray '
            'levels only and would drop it. Save the radiograph as a '
            'grayscale image')


def _read_raster(path: str) -> np.ndarray:
    """PNG (8/16 bit), JPEG, GIF, BMP, TIFF through Pillow."""
    try:
        with Image.open(path) as img:
            img.load()
            _check_alpha(img, path)
            if img.mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
                array = np.asarray(img)
            else:
                array = np.asarray(img.convert('L'))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        hint = ''
        if isinstance(err, UnidentifiedImageError):
            hint = (' (not an image format Pillow knows, and not a DICOM '
                    'file: no DICM marker at byte 128)')
        raise CXRReadError(
            f'{path}: cannot decode image (corrupt or truncated file?): '
            f'{err}{hint}') from err
    if array.ndim != 2:
        raise CXRReadError(f'{path}: expected a 2-D image, got shape '
                           f'{array.shape}')
    return to_uint8(array, path)


def _read_dicom(path: str) -> np.ndarray:
    """DICOM through pydicom: modality/VOI LUT, MONOCHROME1 inverted."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            ds = pydicom.dcmread(path)
    except Exception as err:  # pydicom raises many types for bad files
        raise CXRReadError(f'{path}: not a readable DICOM file: {err}') \
            from err
    if 'PixelData' not in ds:
        raise CXRReadError(f'{path}: {_no_pixel_data_reason(path, caught)}')
    for warning in caught:  # the file is usable: pass pydicom's on
        warnings.warn(warning.message, warning.category)
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


def _no_pixel_data_reason(path: str, caught: list) -> str:
    """Why a DICOM file read without error has no PixelData element.

    pydicom stops at the end of a truncated file with a warning (an
    encapsulated, i.e. compressed, pixel data element without its end
    delimiter) and returns what it read, which may be nothing of the
    dataset at all; the header read again without the pixels tells whether
    the file is an image.
    """
    import pydicom
    eof = [str(w.message) for w in caught if 'End of file' in str(w.message)]
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # no readable header: no size to report
        header = None
    rows = cols = None
    if header is not None:
        rows, cols = header.get('Rows'), header.get('Columns')
    if not eof:
        return 'DICOM file has no pixel data' + (
            f' (its header describes a {cols}x{rows} image)' if rows
            and cols else ' (and no image size: not an image object?)')
    syntax = getattr(
        getattr(header, 'file_meta', None), 'TransferSyntaxUID', None)
    what = f'{cols}x{rows}, ' if rows and cols else ''
    return (f'DICOM file has image attributes ({what}transfer syntax '
            f'{syntax} "{getattr(syntax, "name", "unknown")}") but its '
            f'pixel data is missing or cut off: the file '
            f'({osp.getsize(path)} bytes) is probably truncated (pydicom: '
            f'{eof[0]})')


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
        path (str): PNG / JPEG / GIF / TIFF, DICOM (by content, so also
            without a suffix, or ``.dcm``) or MetaImage / NIfTI (``.mha``,
            ``.nii``) file (see :func:`image_format`).

    Returns:
        np.ndarray: (H, W) uint8.
    """
    _check_exists(path)
    kind = image_format(path)
    if kind == 'dicom':
        return _read_dicom(path)
    if kind == 'itk':
        return _read_itk(path)
    return _read_raster(path)


def read_image_size(path: str) -> Tuple[int, int]:
    """(W, H) of an image from its header, without decoding the pixels.

    PNG / JPEG / GIF / TIFF through Pillow, DICOM through pydicom
    (``stop_before_pixels``), MetaImage / NIfTI through SimpleITK
    (``ReadImageInformation``); the reader is chosen as in
    :func:`read_cxr_image`.

    Raises:
        FileNotFoundError: No such file.
        CXRReadError: Unreadable header; the message names the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: image file not found')
    kind = image_format(path)
    if kind == 'dicom':
        import pydicom
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as err:  # pydicom raises many types for bad files
            raise CXRReadError(
                f'{path}: not a readable DICOM file: {err}') from err
        rows, cols = ds.get('Rows'), ds.get('Columns')
        if not rows or not cols:
            raise CXRReadError(
                f'{path}: DICOM header has no Rows/Columns (no image?)')
        return int(cols), int(rows)
    if kind == 'itk':
        import SimpleITK as sitk
        reader = sitk.ImageFileReader()
        reader.SetFileName(path)
        try:
            reader.ReadImageInformation()
        except RuntimeError as err:
            raise CXRReadError(
                f'{path}: SimpleITK cannot read its header: {err}') from err
        size = reader.GetSize()
        if len(size) < 2 or any(s != 1 for s in size[2:]):
            raise CXRReadError(f'{path}: expected a 2-D image, got size '
                               f'{size} (x, y, ...)')
        return int(size[0]), int(size[1])
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CXRReadError(
            f'{path}: cannot read the image header: {err}') from err


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
