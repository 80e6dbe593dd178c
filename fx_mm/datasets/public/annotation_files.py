# Copyright (c) fx_mm contributors. All rights reserved.
"""Reading the annotation files of the public CXR datasets (CSV, JSON,
COCO, split lists); every error names the file and the record."""
import contextlib
import csv
import gzip
import io
import json
import os.path as osp
from collections import Counter
from typing import Iterator, List, Sequence, Tuple

from ..base_cxr import CXRDatasetError


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
