# Copyright (c) fx_mm contributors. All rights reserved.
"""Pneumothorax sets with RLE masks: SIIM-ACR and CANDID-PTX.

- SIIM-ACR: ``train-rle.csv`` with header ``ImageId, EncodedPixels``; one
  row per mask region (several rows per image, their union is the mask),
  ``-1`` for an image without pneumothorax; relative, column-major RLE on
  the 1024 x 1024 grid (see :mod:`.rle`). DICOMs are nested as
  ``dicom-images-train/<study>/<series>/<ImageId>.dcm``.
- CANDID-PTX: ``Pneumothorax_reports.csv`` with ``SOPInstanceUID`` and
  ``EncodedPixels`` (``-1`` when negative), SIIM's RLE convention by
  default (``rle_convention``), images named ``<SOPInstanceUID>.<ext>``
  anywhere under the image folder.

Per image: cls ``pneumothorax`` = any mask; loc = one box per CSV row (the
bounding box of that row's runs, computed from the runs without decoding);
seg = the union of the rows (a compact COCO RLE built from the runs).
"""
from collections import OrderedDict
from typing import List, Sequence, Tuple

from mmengine.logging import print_log
from pycocotools import mask as mask_utils

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import iter_csv
from .file_index import FileIndex
from .public_dataset import PublicCXRDataset
from .rle import is_empty_rle, parse_rle, runs_bbox, runs_to_coco

PTX = ('pneumothorax', )


class _RLEPneumothorax(PublicCXRDataset):
    """Shared loader; subclasses name the CSV columns.

    Args:
        mask_size (tuple): (H, W) of the RLE grid. Defaults to (1024, 1024).
        rle_convention (str): ``'relative'`` (SIIM) or ``'absolute'``
            (1-indexed starts); both column-major.
        img_suffixes (Sequence[str]): Image file suffixes to look for.
    """

    METAINFO = dict(classes=PTX, box_classes=PTX, seg_classes=PTX)
    ID_COLUMN = 'ImageId'
    RLE_COLUMN = 'EncodedPixels'

    def __init__(self,
                 mask_size: Tuple[int, int] = (1024, 1024),
                 rle_convention: str = 'relative',
                 img_suffixes: Sequence[str] = ('.dcm', ),
                 **kwargs) -> None:
        self.mask_size = tuple(mask_size)
        self.rle_convention = rle_convention
        self.img_suffixes = tuple(img_suffixes)
        super().__init__(**kwargs)

    def load_records(self) -> List[dict]:
        rows = OrderedDict()
        for where, row in iter_csv(self.ann_file,
                                   (self.ID_COLUMN, self.RLE_COLUMN)):
            rows.setdefault(row[self.ID_COLUMN], []).append(
                (where, row[self.RLE_COLUMN]))
        index = FileIndex(
            self.img_dir, ('.', ),
            suffixes=self.img_suffixes,
            recursive=True,
            key='stem')
        records, duplicates = [], 0
        for image_id, entries in rows.items():
            with self.record_guard():
                record = self._image_record(image_id, entries, index)
                duplicates += record.pop('duplicates')
                records.append(record)
        if duplicates:
            print_log(
                f'{type(self).__name__}: {duplicates} repeated identical mask '
                f'rows in {self.ann_file} counted once',
                logger='current')
        return records

    def _image_record(self, image_id: str, entries: list,
                      index: FileIndex) -> dict:
        """One image's record from its CSV rows ``[(where, rle), ...]``."""
        height, width = self.mask_size
        duplicates = 0
        empty = [is_empty_rle(text) for _, text in entries]
        if any(empty) and not all(empty):
            raise CXRDatasetError(
                f'{entries[empty.index(True)][0]}: image {image_id} has '
                'both -1 (no pneumothorax) and mask rows')
        runs, seen = [], set()
        for where, text in entries:
            if empty[0] or text in seen:
                duplicates += text in seen
                continue
            seen.add(text)
            runs.append(
                parse_rle(text, height, width, self.rle_convention,
                          f'{where} ({self.RLE_COLUMN})'))
        record = dict(
            img_path=index.find(image_id, self.check_files), img_id=image_id)
        if self.task == 'cls':
            record['gt_score'] = [float(bool(runs))]
        elif self.task == 'loc':
            record['img_size'] = (width, height)
            record['instances'] = [
                dict(bbox=runs_bbox(s, n, height, width, 'F'), bbox_label=0)
                for s, n in runs
            ]
        else:
            rles = [runs_to_coco(s, n, height, width) for s, n in runs]
            record['seg_rles'] = [
                None if not rles else
                rles[0] if len(rles) == 1 else mask_utils.merge(rles)
            ]
        record['duplicates'] = duplicates
        return record


@DATASETS.register_module()
class SIIMACRDataset(_RLEPneumothorax):
    """SIIM-ACR Pneumothorax Segmentation (``train-rle.csv`` + DICOMs)."""

    METAINFO = dict(
        dataset_name='siim_acr', classes=PTX, box_classes=PTX, seg_classes=PTX)
    DEFAULT_ANN_FILE = dict(
        cls='train-rle.csv', loc='train-rle.csv', seg='train-rle.csv')
    DEFAULT_IMG_DIR = 'dicom-images-train'


@DATASETS.register_module()
class CANDIDPTXDataset(_RLEPneumothorax):
    """CANDID-PTX (``Pneumothorax_reports.csv`` + images).

    The images are searched recursively under ``data_prefix['img_path']``
    (default ``data_root``) by SOPInstanceUID; ``img_suffixes`` defaults to
    ``('.dcm', '.dicom', '.jpg', '.png')``.
    """

    METAINFO = dict(
        dataset_name='candid_ptx',
        classes=PTX,
        box_classes=PTX,
        seg_classes=PTX)
    DEFAULT_ANN_FILE = dict(
        cls='Pneumothorax_reports.csv',
        loc='Pneumothorax_reports.csv',
        seg='Pneumothorax_reports.csv')
    ID_COLUMN = 'SOPInstanceUID'

    def __init__(self,
                 img_suffixes: Sequence[str] = ('.dcm', '.dicom', '.jpg',
                                                '.png'),
                 **kwargs) -> None:
        super().__init__(img_suffixes=img_suffixes, **kwargs)
