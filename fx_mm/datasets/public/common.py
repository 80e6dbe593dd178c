# Copyright (c) fx_mm contributors. All rights reserved.
"""Parsing helpers shared by the loaders of the public CXR datasets.

Every error names the annotation file and the record (CSV line, JSON index)
so that a user can fix the file; nothing is dropped silently.
"""
import contextlib
import csv
import glob
import gzip
import io
import json
import logging
import math
import os
import os.path as osp
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from pycocotools import mask as mask_utils

from ..base_cxr import BaseCXRDataset, CXRDatasetError
from ..io import read_binary_mask, read_image_size

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.dcm', '.dicom', '.mha')


# ---------------------------------------------------------------------------
# files
def open_text(path: str) -> io.TextIOBase:
    """Open a (possibly gzip-compressed) text annotation file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: annotation file not found')
    if path.endswith('.gz'):
        return io.TextIOWrapper(
            gzip.open(path, 'rb'), encoding='utf-8-sig', newline='')
    return open(path, encoding='utf-8-sig', newline='')


def iter_csv_raw(path: str) -> Iterator[Tuple[str, List[str], List[str]]]:
    """Yield ``(where, header, values)`` for each data row of a CSV file.

    Names and values are stripped of surrounding spaces (SIIM's header is
    ``ImageId, EncodedPixels``); short rows are padded with ``''``; blank
    lines are skipped. ``where`` is ``'<path> line N'``.
    """
    # RLE columns (CheXmask) exceed the csv module's default 128 KiB field
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    with open_text(path) as f:
        reader = csv.reader(f)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise CXRDatasetError(f'{path}: empty CSV file') from None
        for values in reader:
            if not values or not any(v.strip() for v in values):
                continue  # blank line
            where = f'{path} line {reader.line_num}'
            if len(values) > len(header):
                raise CXRDatasetError(
                    f'{where}: {len(values)} values but the header has '
                    f'{len(header)} columns')
            values = [v.strip() for v in values]
            yield where, header, values + [''] * (len(header) - len(values))


def check_columns(path: str, header: Sequence[str],
                  required: Sequence[str]) -> None:
    missing = [name for name in required if name not in header]
    if missing:
        raise CXRDatasetError(
            f'{path}: missing column(s) {missing}; the header has '
            f'{list(header)}')


def csv_header(path: str) -> List[str]:
    with open_text(path) as f:
        try:
            return [name.strip() for name in next(csv.reader(f))]
        except StopIteration:
            raise CXRDatasetError(f'{path}: empty CSV file') from None


Row = Tuple[str, dict]  # (where, {column: value})


def iter_csv(path: str, required: Sequence[str] = ()) -> Iterator[Row]:
    """Yield ``(where, row)`` with ``row`` a dict column -> stripped value.

    Raises:
        CXRDatasetError: A column of ``required`` is missing (checked before
            the first row, so also for a file without rows).
    """
    check_columns(path, csv_header(path), required)
    for where, header, values in iter_csv_raw(path):
        yield where, dict(zip(header, values))


def load_json(path: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: annotation file not found')
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise CXRDatasetError(f'{path}: invalid JSON: {err}') from err


def read_list_file(path: str) -> List[str]:
    """Non-empty stripped lines of a split list (``test_list.txt``)."""
    with open_text(path) as f:
        return [line.strip() for line in f if line.strip()]


class FileIndex:
    """File name -> path over folders given as glob patterns.

    Args:
        root (str): Folder the patterns are relative to.
        patterns (Sequence[str]): Folder patterns, e.g. ``('images',
            'images_*/images')``.
        suffixes (Sequence[str]): File suffixes to index (lower case).
        recursive (bool): Walk sub-folders too (SIIM's nested DICOMs).
        key (str): ``'name'`` (file name) or ``'stem'`` (name without
            suffix).
    """

    def __init__(self,
                 root: str,
                 patterns: Sequence[str],
                 suffixes: Sequence[str] = IMAGE_SUFFIXES,
                 recursive: bool = False,
                 key: str = 'name') -> None:
        self.root = root
        self.patterns = tuple(patterns)
        self.folders = sorted({
            osp.normpath(d)
            for p in self.patterns
            for d in glob.glob(osp.join(root, p)) if osp.isdir(d)
        })
        self.paths: Dict[str, str] = {}
        for folder in self.folders:
            for path in self._scan(folder, recursive):
                name = osp.basename(path)
                if not name.lower().endswith(tuple(suffixes)):
                    continue
                if key == 'stem':
                    name = strip_suffix(name)
                if name in self.paths and self.paths[name] != path:
                    raise CXRDatasetError(
                        f'{name}: found twice, {self.paths[name]} and '
                        f'{path}; remove one copy')
                self.paths[name] = path

    @staticmethod
    def _scan(folder: str, recursive: bool) -> Iterator[str]:
        if not recursive:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_file():
                        yield entry.path
            return
        for dirpath, _, names in os.walk(folder):
            for name in names:
                yield osp.join(dirpath, name)

    def find(self, name: str, check: bool = True) -> str:
        """Path of ``name``; raise (``check``) or guess when not indexed."""
        path = self.paths.get(name)
        if path is not None:
            return path
        if check:
            raise FileNotFoundError(
                f'{name}: image not found in {self.root} under '
                f'{list(self.patterns)} (searched {len(self.folders)} '
                'folders)')
        first = self.patterns[0] if self.patterns else ''
        return osp.normpath(osp.join(self.root, first, name))


def strip_suffix(name: str) -> str:
    """``'a/b.nii.gz'`` -> ``'a/b'``; ``'x.dcm'`` -> ``'x'``."""
    for suffix in ('.nii.gz', ):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return osp.splitext(name)[0]


def load_coco_file(path: str):
    """A COCO json through pycocotools' ``COCO`` (its prints silenced).

    Raises:
        FileNotFoundError: No such file.
        CXRDatasetError: Not JSON / not COCO; names the file.
    """
    from pycocotools.coco import COCO
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: annotation file not found')
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return COCO(path)
        except json.JSONDecodeError as err:
            raise CXRDatasetError(f'{path}: invalid JSON: {err}') from err
        except (KeyError, TypeError, ValueError, AssertionError) as err:
            raise CXRDatasetError(
                f'{path}: not a COCO annotation file: {err!r}') from err


def iter_coco_images(coco, path: str,
                     guard) -> Iterator[Tuple[dict, List[dict]]]:
    """Yield ``(image entry, its annotations)`` of a COCO file, in file
    order, after checking the links between them.

    pycocotools indexes by id without checking: two images with the same
    ``id`` share (and duplicate) each other's annotations, and an
    annotation whose ``image_id`` is not in ``images`` is never seen. Both
    are errors here, raised inside ``guard`` (a dataset's
    :meth:`~fx_mm.datasets.BaseCXRDataset.record_guard`), so that
    ``on_bad_record='skip'`` leaves out (and reports) the images that share
    an id and the orphan annotations.
    """
    images = coco.dataset.get('images') or []
    counts = Counter(img.get('id') for img in images)
    for ann in coco.dataset.get('annotations') or []:
        if ann.get('image_id') not in counts:
            with guard():
                raise CXRDatasetError(
                    f'{path} annotation id {ann.get("id")}: image_id '
                    f'{ann.get("image_id")!r} is not in "images"')
    for img in images:
        if counts[img.get('id')] > 1:
            with guard():
                names = [
                    i.get('file_name') for i in images
                    if i.get('id') == img.get('id')
                ]
                raise CXRDatasetError(
                    f'{path} image id {img.get("id")}: {len(names)} images '
                    f'have this id ({", ".join(map(str, names))}); image '
                    'ids must be unique, otherwise their annotations get '
                    'mixed up')
            continue
        yield img, coco.imgToAnns.get(img.get('id'), [])


# ---------------------------------------------------------------------------
# values
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


# ---------------------------------------------------------------------------
# polygons
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


def mask_files_to_rle(paths: Sequence[str], height: int,
                      width: int) -> Optional[dict]:
    """Union of binary mask files -> compact RLE (None when empty)."""
    union = np.zeros((height, width), dtype=np.uint8)
    for path in paths:
        union |= read_binary_mask(path, (height, width))
    if not union.any():
        return None
    return mask_utils.encode(np.asfortranarray(union))


# ---------------------------------------------------------------------------
class PublicCXRDataset(BaseCXRDataset):
    """Base of the loaders that parse a public dataset's native layout.

    Adds to :class:`BaseCXRDataset`:

    - per-dataset defaults for ``ann_file`` and ``data_prefix['img_path']``
      (relative to ``data_root``, as the publisher lays the files out);
    - lazily materialised masks: a seg record may carry ``seg_sources``
      (one entry per seg class: None, ``dict(type='polygons',
      polygons=[[x0, y0, ...], ...], size=(H, W) or None)``,
      ``dict(type='mask_files', paths=[...])`` or ``dict(type='rle_c',
      counts=str, size=(H, W))`` (row-major RLE)) instead of ``seg_rles``;
      :meth:`get_data_info` turns them into compact COCO RLEs
      (``seg_rles``) when a sample is fetched, so the data list stays small
      and loading stays fast.
    """

    DEFAULT_ANN_FILE: Dict[str, str] = {}  # task -> file
    DEFAULT_IMG_DIR: str = ''

    def __init__(self, task: str = 'cls', **kwargs) -> None:
        if not kwargs.get('ann_file'):
            kwargs['ann_file'] = self.DEFAULT_ANN_FILE.get(task, '')
        if 'data_prefix' not in kwargs:
            kwargs['data_prefix'] = dict(img_path=self.DEFAULT_IMG_DIR)
        super().__init__(task=task, **kwargs)

    @property
    def img_dir(self) -> str:
        return self.data_prefix.get('img_path', '') or self.data_root

    def root_path(self, path: str) -> str:
        """``path`` relative to ``data_root`` (absolute paths unchanged)."""
        if not path or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def leave_out_images(self, rows: dict, bad: set) -> None:
        """Remove from ``rows`` (image -> parsed rows) the images of which a
        row was skipped (``on_bad_record='skip'``): an image with one of its
        boxes / readers missing would be a wrong sample. Logged."""
        if not bad:
            return
        for name in bad:
            rows.pop(name, None)
        names = sorted(bad)
        print_log(
            f'{self._name()}: left out {len(names)} images with a bad row '
            f'(their other rows are not used either): '
            f'{", ".join(names[:10])}'
            f'{f" (+{len(names) - 10} more)" if len(names) > 10 else ""}',
            logger='current',
            level=logging.WARNING)

    @staticmethod
    def _merge_metainfo(kwargs: dict, **entries) -> None:
        """Set metainfo entries the user did not set explicitly."""
        metainfo = dict(kwargs.get('metainfo') or {})
        for key, value in entries.items():
            metainfo.setdefault(key, value)
        kwargs['metainfo'] = metainfo

    # -- lazy masks ----------------------------------------------------------
    def _validate(self, record: dict) -> None:
        sources = record.get('seg_sources')
        if self.task != 'seg' or sources is None:
            return super()._validate(record)
        path = record['img_path']
        if self.check_files and not osp.isfile(path):
            raise FileNotFoundError(f'{path}: image file not found '
                                    f'({type(self).__name__})')
        if len(sources) != len(self.task_classes):
            raise CXRDatasetError(
                f'{path}: {len(sources)} masks but the dataset has '
                f'{len(self.task_classes)} seg classes')
        for source in sources:
            if source is None or source['type'] != 'mask_files':
                continue
            for mask_path in source['paths']:
                if self.check_files and not osp.isfile(mask_path):
                    raise FileNotFoundError(
                        f'{mask_path}: mask file not found (image {path})')

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        sources = info.pop('seg_sources', None)
        if sources is not None:
            info['seg_rles'] = [
                self._source_to_rle(source, info) for source in sources
            ]
        return info

    @staticmethod
    def _image_size(info: dict) -> Tuple[int, int]:
        """(H, W) of a record's image from ``img_size`` or its header."""
        if info.get('img_size') is not None:
            width, height = info['img_size']
            return int(height), int(width)
        width, height = read_image_size(info['img_path'])
        return height, width

    def _source_to_rle(self, source: Optional[dict],
                       info: dict) -> Optional[dict]:
        if source is None:
            return None
        kind = source['type']
        if kind == 'polygons':
            size = source.get('size') or self._image_size(info)
            return polygons_to_rle(source['polygons'], *size)
        if kind == 'mask_files':
            height, width = self._image_size(info)
            return mask_files_to_rle(source['paths'], height, width)
        if kind == 'rle_c':
            from .rle import row_major_rle_to_coco
            return row_major_rle_to_coco(
                source['counts'], *source['size'], where=info['img_path'])
        raise ValueError(f'unknown seg source type {kind!r}')
