# Copyright (c) fx_mm contributors. All rights reserved.
"""RSNA Pneumonia Detection Challenge (stage 2 files as distributed).

- ``stage_2_train_labels.csv``: ``patientId, x, y, width, height, Target``;
  one row per box (``Target`` 1) or one row without box (``Target`` 0);
- ``stage_2_detailed_class_info.csv``: ``patientId, class`` with ``Lung
  Opacity``, ``No Lung Opacity / Not Normal`` or ``Normal`` (repeated for
  each box row of a patient);
- DICOMs ``stage_2_train_images/<patientId>.dcm``.

cls is single-label: a one-hot vector over the 3 classes (softmax at test
time). cls reads both files; loc reads the class file when it is there
(``class_file=None`` or a missing file: the boxes file alone). Read
together, they must agree (``Target`` 1 if and only if ``Lung Opacity``).
"""
import os.path as osp
from collections import OrderedDict
from typing import List, Optional

import numpy as np
from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import iter_csv
from .public_dataset import PublicCXRDataset
from .record_values import class_index, parse_binary, parse_float, xywh_box

RSNA_CLASSES = ('Lung Opacity', 'No Lung Opacity / Not Normal', 'Normal')
BOX_COLUMNS = ('x', 'y', 'width', 'height')


@DATASETS.register_module()
class RSNAPneumoniaDataset(PublicCXRDataset):
    """RSNA Pneumonia: 3-class cls, ``'Lung Opacity'`` boxes.

    Args:
        ann_file (str): The box file. Defaults to
            ``'stage_2_train_labels.csv'``.
        class_file (str, optional): Relative to ``data_root``. Defaults to
            ``'stage_2_detailed_class_info.csv'``. Needed for cls; loc uses
            it to cross-check the boxes when it exists.
    """

    METAINFO = dict(
        dataset_name='rsna_pneumonia',
        classes=RSNA_CLASSES,
        box_classes=('Lung Opacity', ))
    DEFAULT_ANN_FILE = dict(
        cls='stage_2_train_labels.csv', loc='stage_2_train_labels.csv')
    DEFAULT_IMG_DIR = 'stage_2_train_images'

    def __init__(self,
                 class_file: str = 'stage_2_detailed_class_info.csv',
                 **kwargs) -> None:
        self.class_file = class_file
        super().__init__(**kwargs)

    def _read_classes(self) -> Optional[OrderedDict]:
        """patientId -> class index, or None for loc without the file."""
        class_file = self.root_path(self.class_file or '')
        if self.task == 'loc' and not (self.class_file
                                       and osp.isfile(class_file)):
            print_log(
                f'RSNAPneumoniaDataset: loc without the class file '
                f'({class_file or "class_file=None"}); boxes are read from '
                f'{self.ann_file} alone (not cross-checked with the '
                'classes)',
                logger='current')
            return None
        if not self.class_file:
            raise CXRDatasetError(
                'RSNAPneumoniaDataset: the cls task needs class_file '
                '(stage_2_detailed_class_info.csv)')
        classes = OrderedDict()
        for where, row in iter_csv(class_file, ('patientId', 'class')):
            label = class_index(row['class'], RSNA_CLASSES, where)
            if classes.setdefault(row['patientId'], label) != label:
                raise CXRDatasetError(
                    f'{where}: patient {row["patientId"]} has two classes')
        return classes

    def load_records(self) -> List[dict]:
        class_file = self.root_path(self.class_file or '')
        classes = self._read_classes()
        boxes, bad = OrderedDict(), set()
        for where, row in iter_csv(self.ann_file,
                                   ('patientId', 'Target') + BOX_COLUMNS):
            with self.record_guard() as guard:
                self._parse_row(where, row, classes, class_file, boxes)
            if guard.failed:
                bad.add(row['patientId'])
        missing = [
            pid for pid in classes or () if pid not in boxes and pid not in bad
        ]
        if missing:
            raise CXRDatasetError(
                f'{class_file}: {len(missing)} patients are not in '
                f'{self.ann_file}, e.g. {missing[:3]}')
        self.leave_out_images(boxes, bad)
        records = []
        for pid, entry in boxes.items():
            record = dict(
                img_path=osp.join(self.img_dir, pid + '.dcm'), img_id=pid)
            if self.task == 'cls':
                score = np.zeros(len(RSNA_CLASSES), dtype=np.float32)
                score[classes[pid]] = 1.0
                record['gt_score'] = score
            else:
                record['instances'] = [
                    dict(bbox=box, bbox_label=0) for box in entry
                ]
            records.append(record)
        return records

    @staticmethod
    def _parse_row(where: str, row: dict, classes: Optional[dict],
                   class_file: str, boxes: dict) -> None:
        """One row of the boxes file: a box, or a patient without box."""
        pid = row['patientId']
        target = parse_binary(row['Target'], where, 'Target')
        if classes is not None and pid not in classes:
            raise CXRDatasetError(
                f'{where}: patient {pid} is not in {class_file}')
        if classes is not None and target != (classes[pid] == 0):
            raise CXRDatasetError(
                f'{where}: Target {target} disagrees with class '
                f'{RSNA_CLASSES[classes[pid]]!r} in {class_file}')
        entry = boxes.setdefault(pid, [])
        values = [row[k] for k in BOX_COLUMNS]
        if target == 0:
            if any(values):
                raise CXRDatasetError(
                    f'{where}: Target 0 row with a box {values}')
            return
        box = [parse_float(v, where, k) for v, k in zip(values, BOX_COLUMNS)]
        entry.append(xywh_box(*box, where))
