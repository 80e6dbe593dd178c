# Copyright (c) fx_mm contributors. All rights reserved.
"""Checked values of an annotation record (numbers, flags, boxes, class
names); errors name the record."""
import math
from typing import List, Sequence

import numpy as np

from ..base_cxr import CXRDatasetError


def parse_float(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CXRDatasetError(
            f'{where}: column {column!r} is {text!r}, not a number') from None
    if not math.isfinite(value):
        raise CXRDatasetError(f'{where}: column {column!r} is {text!r}')
    return value


def parse_binary(text: str, where: str, column: str) -> int:
    """``'0'/'1'`` (also ``'0.0'/'1.0'``) -> 0/1, anything else is an error.
    """
    if text in ('0', '1', '0.0', '1.0'):
        return int(float(text))
    raise CXRDatasetError(
        f'{where}: column {column!r} is {text!r}; expected 0 or 1')


def make_box(x1: float, y1: float, x2: float, y2: float,
             where: str) -> List[float]:
    """Check a box in xyxy pixels; errors name the record."""
    box = [float(x1), float(y1), float(x2), float(y2)]
    if not all(map(math.isfinite, box)):
        raise CXRDatasetError(f'{where}: box {box} is not finite')
    if box[2] <= box[0] or box[3] <= box[1]:
        raise CXRDatasetError(
            f'{where}: box {box} has x_max <= x_min or y_max <= y_min')
    if box[0] < 0 or box[1] < 0:
        raise CXRDatasetError(f'{where}: box {box} has negative coordinates')
    return box


def xywh_box(x: float, y: float, w: float, h: float,
             where: str) -> List[float]:
    """``[x, y, w, h]`` (top-left corner + size) -> checked xyxy box."""
    if w <= 0 or h <= 0:
        raise CXRDatasetError(
            f'{where}: box [x={x}, y={y}, w={w}, h={h}] has a non-positive '
            'width or height')
    return make_box(x, y, x + w, y + h, where)


def multi_hot(names: Sequence[str], classes: Sequence[str],
              where: str) -> np.ndarray:
    """Class names -> (C,) float32 multi-hot; unknown names are errors."""
    score = np.zeros(len(classes), dtype=np.float32)
    for name in names:
        if name not in classes:
            raise CXRDatasetError(
                f'{where}: unknown class name {name!r}; expected one of '
                f'{list(classes)}')
        score[classes.index(name)] = 1.0
    return score


def class_index(name: str, classes: Sequence[str], where: str) -> int:
    if name not in classes:
        raise CXRDatasetError(
            f'{where}: unknown class name {name!r}; expected one of '
            f'{list(classes)}')
    return list(classes).index(name)
