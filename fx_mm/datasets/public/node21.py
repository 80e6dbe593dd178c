# Copyright (c) fx_mm contributors. All rights reserved.
"""NODE21 nodule detection set (``metadata.csv`` + ``.mha`` images).

``metadata.csv`` columns ``img_name, x, y, width, height, label``: one row
per nodule (``label`` 1, box = top-left corner + size in pixels) or one row
for an image without nodules (``label`` 0, box 0 or blank). Images are read
through SimpleITK (``images/<img_name>``).
"""
import os.path as osp
from collections import OrderedDict
from typing import List

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import iter_csv
from .public_dataset import PublicCXRDataset
from .record_values import parse_binary, parse_float, xywh_box

BOX_COLUMNS = ('x', 'y', 'width', 'height')


@DATASETS.register_module()
class NODE21Dataset(PublicCXRDataset):
    """NODE21: 1 class ``'nodule'`` for cls (any nodule) and loc.

    Args:
        img_suffix (str): Added to ``img_name`` values without a suffix.
            Defaults to ``'.mha'``.
    """

    METAINFO = dict(
        dataset_name='node21', classes=('nodule', ), box_classes=('nodule', ))
    DEFAULT_ANN_FILE = dict(cls='metadata.csv', loc='metadata.csv')
    DEFAULT_IMG_DIR = 'images'

    def __init__(self, img_suffix: str = '.mha', **kwargs) -> None:
        self.img_suffix = img_suffix
        super().__init__(**kwargs)

    def load_records(self) -> List[dict]:
        images = OrderedDict()
        bad = set()
        for where, row in iter_csv(self.ann_file,
                                   ('img_name', 'label') + BOX_COLUMNS):
            name = row['img_name']
            if not osp.splitext(name)[1]:
                name += self.img_suffix
            with self.record_guard() as guard:
                self._parse_row(where, row, name, images)
            if guard.failed:
                bad.add(name)
        self.leave_out_images(images, bad)
        records = []
        for name, entry in images.items():
            record = dict(
                img_path=osp.join(self.img_dir, name),
                img_id=osp.splitext(name)[0])
            if self.task == 'cls':
                record['gt_score'] = [float(entry['label'])]
            else:
                record['instances'] = [
                    dict(bbox=box, bbox_label=0) for box in entry['boxes']
                ]
            records.append(record)
        return records

    @staticmethod
    def _parse_row(where: str, row: dict, name: str, images: dict) -> None:
        """Add one ``metadata.csv`` row (a nodule, or an image without)."""
        label = parse_binary(row['label'], where, 'label')
        entry = images.setdefault(name, dict(label=label, boxes=[]))
        if entry['label'] != label:
            raise CXRDatasetError(
                f'{where}: {name} has rows with label 0 and label 1')
        values = [row[k] for k in BOX_COLUMNS]
        if label == 0:
            if any(v not in ('', '0', '0.0') for v in values):
                raise CXRDatasetError(
                    f'{where}: label 0 (no nodule) with a box {values}')
            return
        box = [parse_float(v, where, k) for v, k in zip(values, BOX_COLUMNS)]
        entry['boxes'].append(xywh_box(*box, where))
