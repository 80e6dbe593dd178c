# Copyright (c) fx_mm contributors. All rights reserved.
"""CheXmask anatomical masks (heart, lungs), e.g. for VinDr-CXR.

One CSV per source dataset (``OriginalResolution/VinDr-CXR.csv(.gz)``):
an image id column (``image_id`` for VinDr-CXR, ``dicom_id`` for MIMIC,
``Image Index`` for ChestX-ray8, ``Path`` for CheXpert...), ``Dice RCA
(Mean)``, ``Dice RCA (Max)``, ``Landmarks``, ``Left Lung``, ``Right Lung``,
``Heart`` (RLE strings) and ``Height``, ``Width`` (the mask grid = the
original image size). The RLE is absolute, 1-indexed ``start length``
pairs over the ROW-major flattened H x W grid (CheXmask's
``get_mask_from_RLE``).

loc: one box per organ, computed from the runs at load time (no decoding);
seg: 3 channels decoded lazily (row-major runs need a dense transpose to
become a COCO RLE) when a sample is fetched.
"""
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import csv_header, iter_csv
from .file_index import FileIndex
from .public_dataset import PublicCXRDataset
from .record_values import parse_float
from .rle import is_empty_rle, parse_rle, runs_bbox

ORGANS = ('Left Lung', 'Right Lung', 'Heart')
ID_COLUMNS = ('image_id', 'dicom_id', 'Image Index', 'Image ID', 'ImageID',
              'Path')


def _positive_int(text: str, where: str, column: str) -> int:
    value = parse_float(text, where, column)
    if value != int(value) or value < 1:
        raise CXRDatasetError(
            f'{where}: column {column!r} is {text!r}, not a positive integer')
    return int(value)


@DATASETS.register_module()
class CheXmaskDataset(PublicCXRDataset):
    """CheXmask organs: loc (organ boxes) and seg (organ masks).

    Args:
        id_column (str, optional): Image id column; None picks the first of
            ``image_id, dicom_id, Image Index, Image ID, ImageID, Path``.
        img_dirs (Sequence[str]): Folders (patterns, relative to
            ``data_prefix['img_path']``, default ``data_root``) searched for
            ``<id><img_suffix>``; ids containing ``/`` are relative paths.
            Defaults to VinDr-CXR's ``('train', 'test')``.
        img_suffix (str): Defaults to ``'.dicom'`` (VinDr-CXR).
        min_dice_rca (float, optional): Keep rows with ``Dice RCA (Mean)``
            at least this (the publisher recommends 0.7); None keeps all.
    """

    METAINFO = dict(
        dataset_name='chexmask_vindr_cxr',
        box_classes=ORGANS,
        seg_classes=ORGANS)
    DEFAULT_ANN_FILE = dict(loc='VinDr-CXR.csv', seg='VinDr-CXR.csv')

    def __init__(self,
                 id_column: Optional[str] = None,
                 img_dirs: Sequence[str] = ('train', 'test'),
                 img_suffix: str = '.dicom',
                 min_dice_rca: Optional[float] = None,
                 **kwargs) -> None:
        self.id_column = id_column
        self.img_dirs = tuple(img_dirs)
        self.img_suffix = img_suffix
        self.min_dice_rca = min_dice_rca
        super().__init__(**kwargs)

    def load_records(self) -> List[dict]:
        header = csv_header(self.ann_file)
        id_column = self.id_column or next(
            (c for c in ID_COLUMNS if c in header), None)
        if id_column is None:
            raise CXRDatasetError(
                f'{self.ann_file}: no image id column (one of {ID_COLUMNS}); '
                f'set id_column. The header has {header}')
        required = (id_column, 'Height', 'Width') + ORGANS
        if self.min_dice_rca is not None:
            required += ('Dice RCA (Mean)', )
        index = FileIndex(
            self.img_dir, self.img_dirs, suffixes=(self.img_suffix, ))
        records, low_quality = [], 0
        for where, row in iter_csv(self.ann_file, required):
            if self.min_dice_rca is not None and parse_float(
                    row['Dice RCA (Mean)'], where,
                    'Dice RCA (Mean)') < self.min_dice_rca:
                low_quality += 1
                continue
            height = _positive_int(row['Height'], where, 'Height')
            width = _positive_int(row['Width'], where, 'Width')
            image_id = row[id_column]
            if '/' in image_id:
                img_path = osp.join(self.img_dir, image_id)
            else:
                img_path = index.find(image_id + self.img_suffix,
                                      self.check_files)
            record = dict(
                img_path=img_path, img_id=image_id, img_size=(width, height))
            instances, sources = [], []
            for label, organ in enumerate(self.task_classes):
                text = row[organ]
                if is_empty_rle(text):
                    sources.append(None)
                    continue
                starts, lengths = parse_rle(text, height, width, 'absolute',
                                            f'{where} ({organ})')
                instances.append(
                    dict(
                        bbox=runs_bbox(starts, lengths, height, width, 'C'),
                        bbox_label=label))
                sources.append(
                    dict(type='rle_c', counts=text, size=(height, width)))
            if self.task == 'loc':
                record['instances'] = instances
            else:
                record['seg_sources'] = sources
            records.append(record)
        if self.min_dice_rca is not None:
            print_log(
                f'CheXmaskDataset: left out {low_quality} rows with Dice RCA '
                f'(Mean) < {self.min_dice_rca}',
                logger='current')
        return records
