# Copyright (c) fx_mm contributors. All rights reserved.
"""Polygon annotations: checked, bounded and rasterised to COCO RLE."""
import math
from typing import List, Optional, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from ..base_cxr import CXRDatasetError


def flatten_polygon(points, where: str) -> List[float]:
    """``[[x, y], ...]`` or ``[{'x':, 'y':}, ...]`` -> ``[x0, y0, x1, ...]``.

    Raises:
        CXRDatasetError: Fewer than 3 points or malformed points.
    """
    flat: List[float] = []
    try:
        for point in points:
            if isinstance(point, dict):
                x, y = point['x'], point['y']
            else:
                x, y = point
            flat += [float(x), float(y)]
    except (KeyError, TypeError, ValueError) as err:
        raise CXRDatasetError(
            f'{where}: malformed polygon point ({err!r}); expected [x, y] '
            'or {"x": x, "y": y}') from None
    if len(flat) < 6:
        raise CXRDatasetError(
            f'{where}: polygon with {len(flat) // 2} point(s); at least 3 '
            'are needed')
    if not all(map(math.isfinite, flat)):
        raise CXRDatasetError(f'{where}: polygon has non-finite points')
    return flat


def check_coco_polygons(segmentation, where: str) -> None:
    """COCO polygons: a list of flat ``[x0, y0, x1, y1, ...]`` lists, each
    with at least 3 finite points (pycocotools reads a 2-point polygon as a
    box and refuses a 1-point one with a bare error).

    Raises:
        CXRDatasetError: Naming ``where``, the polygon and the problem.
    """
    if not segmentation:
        raise CXRDatasetError(f'{where}: empty polygon list')
    for k, polygon in enumerate(segmentation):
        if not isinstance(polygon, (list, tuple)) or not all(
                isinstance(v, (int, float)) for v in polygon):
            raise CXRDatasetError(
                f'{where}: polygon {k} is not a flat list of numbers '
                '[x0, y0, x1, y1, ...]')
        if len(polygon) % 2:
            raise CXRDatasetError(
                f'{where}: polygon {k} has an odd number of coordinates '
                f'({len(polygon)})')
        flatten_polygon(
            list(zip(polygon[0::2], polygon[1::2])), f'{where}: polygon {k}')


def polygons_bbox(polygons: Sequence[Sequence[float]]) -> List[float]:
    """xyxy bounding box of flat polygons (continuous coordinates)."""
    xs = np.concatenate([np.asarray(p[0::2]) for p in polygons])
    ys = np.concatenate([np.asarray(p[1::2]) for p in polygons])
    return [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]


def polygons_to_rle(polygons: Sequence[Sequence[float]], height: int,
                    width: int) -> Optional[dict]:
    """Union of flat polygons rasterised by pycocotools -> compact RLE.

    Returns None for an empty list (an empty channel).
    """
    if not polygons:
        return None
    rles = mask_utils.frPyObjects([list(p) for p in polygons], height, width)
    return mask_utils.merge(rles) if len(rles) > 1 else rles[0]
