# Copyright (c) fx_mm contributors. All rights reserved.
"""What :class:`~fx_mm.apis.FXInferencer` accepts as input: paths, folders
and arrays, listed, named and read as RGB images."""
import os
import os.path as osp
import warnings
from typing import Any, List

import numpy as np

from fx_mm.datasets.io import (DICOM_SUFFIXES, ITK_SUFFIXES, gray_to_rgb,
                               is_dicom_file, read_cxr_image, to_uint8)

#: Files a folder input is searched for (case-insensitive).
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff',
                  '.gif') + DICOM_SUFFIXES + ITK_SUFFIXES


def _stem(path: str) -> str:
    """The file name without its image suffix (the name of its outputs)."""
    name = osp.basename(path)
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name  # a DICOM without suffix: its dots are part of the UID


def folder_images(folder: str) -> List[str]:
    """The image files of a folder, sorted: by suffix, or by content for
    DICOM (PACS exports have no suffix).

    Other files are listed in a warning, never skipped in silence.

    Args:
        folder (str): The folder (not searched recursively).

    Returns:
        list[str]: Paths of the image files, sorted by name.
    """
    files, others = [], []
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        if name.startswith('.') or not osp.isfile(path):
            continue
        if name.lower().endswith(IMAGE_SUFFIXES) or is_dicom_file(path):
            files.append(path)
        else:
            others.append(name)
    if not files:
        raise FileNotFoundError(
            f'{folder}: no image files in the folder (looked for '
            f'{", ".join(IMAGE_SUFFIXES)} and DICOM files without a '
            f'suffix; {len(others)} other files)')
    if others:
        warnings.warn(
            f'FXInferencer: {folder}: skipped {len(others)} files that '
            'are neither images (by suffix) nor DICOM (by content): ' +
            ', '.join(others[:10]) +
            (f' (+{len(others) - 10} more)' if len(others) > 10 else ''))
    return files


def inputs_to_list(inputs: Any) -> list:
    """A path, a folder (its image files, sorted), an array, or a list of
    them (folders in the list are expanded in place) -> a flat list of
    paths and arrays.

    Items of a list that are neither are kept as they are, so that
    :func:`load_input` names them (with their index) in its error.
    """
    if isinstance(inputs, os.PathLike):
        inputs = os.fspath(inputs)
    if isinstance(inputs, str) and osp.isdir(inputs):
        return folder_images(inputs)
    if isinstance(inputs, (str, np.ndarray)):
        return [inputs]
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise ValueError('FXInferencer: empty input list')
        items = []
        for item in inputs:
            if isinstance(item, (list, tuple)):
                raise TypeError('FXInferencer: nested input lists are '
                                'not supported')
            items += inputs_to_list(item) if isinstance(
                item, (str, os.PathLike, np.ndarray)) else [item]
        return items
    raise TypeError(f'FXInferencer: inputs must be a path, a folder, a '
                    f'numpy array or a list of them, got '
                    f'{type(inputs).__name__}')


def unique_names(items: list) -> List[str]:
    """One output name per input: the file name without suffix, or
    ``array_<index>``; repeated names get ``_1``, ``_2`` ... so that no
    output file overwrites another."""
    names, used = [], set()
    for index, item in enumerate(items):
        base = _stem(item) if isinstance(item, str) else f'array_{index:04d}'
        name, k = base, 1
        while name in used:
            name, k = f'{base}_{k}', k + 1
        used.add(name)
        names.append(name)
    return names


def load_input(item: Any, index: int = 0) -> dict:
    """Read one input as (H, W, 3) uint8 RGB.

    Paths go through :func:`fx_mm.datasets.io.read_cxr_image` (PNG, JPEG,
    DICOM with MONOCHROME1 inverted and VOI LUT applied, MetaImage ...).
    Arrays may be (H, W) gray, (H, W, 1) or (H, W, 3) RGB; other dtypes
    than uint8 are min-max scaled like deep radiographs, bool masks map to
    0 / 255.

    Args:
        item (str | np.ndarray): A file path or an image array.
        index (int): Position of the item in the inputs (names arrays and
            errors). Defaults to 0.

    Returns:
        dict: ``image`` (H, W, 3) uint8 RGB, ``img_path`` (None for an
        array) and ``name`` (see :func:`unique_names`).
    """
    if isinstance(item, str):
        rgb = gray_to_rgb(read_cxr_image(item))
        return dict(image=rgb, img_path=item, name=_stem(item))
    if not isinstance(item, np.ndarray):
        raise TypeError(f'input {index}: expected a file path or a '
                        f'numpy array, got {type(item).__name__}')
    where = f'input {index} (array of shape {item.shape})'
    array = item[..., 0] if item.ndim == 3 and item.shape[2] == 1 else item
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f'{where}: expected (H, W) grayscale or '
                         '(H, W, 3) RGB')
    if min(array.shape[:2]) < 1:
        raise ValueError(f'{where}: empty image')
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    array = to_uint8(array, where)
    rgb = gray_to_rgb(array) if array.ndim == 2 else \
        np.ascontiguousarray(array)
    return dict(image=rgb, img_path=None, name=f'array_{index:04d}')
