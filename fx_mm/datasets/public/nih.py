# Copyright (c) fx_mm contributors. All rights reserved.
"""NIH ChestX-ray14 as distributed by the NIH Clinical Center.

- ``Data_Entry_2017*.csv``: ``Image Index``, ``Finding Labels``
  (``'Cardiomegaly|Effusion'`` or ``'No Finding'``), ... ;
- ``train_val_list.txt`` / ``test_list.txt``: the official split (one image
  name per line);
- ``BBox_List_2017.csv``: header ``Image Index,Finding Label,Bbox [x,y,w,h]
  ,,,`` (the 4 box numbers fill the columns ``Bbox [x``, ``y``, ``w``,
  ``h]``; the trailing columns are empty): 984 boxes on 880 images, 8
  classes, in pixels of the 1024 x 1024 PNGs;
- images in ``images/`` (the extracted ``images_0NN.tar.gz``) or
  ``images_0NN/images/`` (Kaggle's copy).
"""
import glob
import os.path as osp
from collections import OrderedDict
from typing import List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import (check_columns, iter_csv, iter_csv_raw,
                               read_list_file)
from .file_index import FileIndex
from .public_dataset import PublicCXRDataset
from .record_values import class_index, multi_hot, parse_float, xywh_box

NIH_CLASSES = ('Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltration',
               'Mass', 'Nodule', 'Pneumonia', 'Pneumothorax', 'Consolidation',
               'Edema', 'Emphysema', 'Fibrosis', 'Pleural_Thickening',
               'Hernia')
# the names as written in BBox_List_2017.csv ("Infiltrate")
NIH_BOX_CLASSES = ('Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltrate',
                   'Mass', 'Nodule', 'Pneumonia', 'Pneumothorax')
NO_FINDING = 'No Finding'


@DATASETS.register_module()
class NIHChestXray14Dataset(PublicCXRDataset):
    """NIH ChestX-ray14: 14-label cls, 8-class boxes.

    Args:
        ann_file (str): cls: ``Data_Entry_2017*.csv`` (default: the one
            found in ``data_root``; the newest name when several);
            loc: ``BBox_List_2017.csv``.
        split_file (str, optional): Official split list
            (``'train_val_list.txt'`` or ``'test_list.txt'``), relative to
            ``data_root``; None keeps every image of ``ann_file``.
        img_dirs (Sequence[str]): Folder patterns (relative to
            ``data_prefix['img_path']``, default ``data_root``) searched for
            the PNGs.
    """

    METAINFO = dict(
        dataset_name='nih_chestxray14',
        classes=NIH_CLASSES,
        box_classes=NIH_BOX_CLASSES)
    DEFAULT_ANN_FILE = dict(loc='BBox_List_2017.csv')

    def __init__(self,
                 split_file: Optional[str] = None,
                 img_dirs: Sequence[str] = ('images', 'images_*/images',
                                            'images_*'),
                 **kwargs) -> None:
        self.split_file = split_file
        self.img_dirs = tuple(img_dirs)
        super().__init__(**kwargs)

    def _find_data_entry(self) -> str:
        if self.ann_file:
            return self.ann_file
        found = sorted(
            glob.glob(osp.join(self.data_root or '.', 'Data_Entry_2017*.csv')))
        if not found:
            raise FileNotFoundError(
                f'{self.data_root}: no Data_Entry_2017*.csv; set ann_file')
        if len(found) > 1:
            print_log(
                f'NIHChestXray14Dataset: several label files {found}; using '
                f'{found[-1]} (set ann_file to choose)',
                logger='current')
        return found[-1]

    def load_records(self) -> List[dict]:
        index = FileIndex(self.img_dir, self.img_dirs, suffixes=('.png', ))
        keep = None
        if self.split_file:
            keep = set(read_list_file(self.root_path(self.split_file)))
        if self.task == 'cls':
            rows = self._load_labels(self._find_data_entry())
        else:
            rows = self._load_boxes(self.ann_file)
        if keep is not None:
            unknown = keep - set(rows) if self.task == 'cls' else set()
            if unknown:
                raise CXRDatasetError(
                    f'{self.split_file}: {len(unknown)} images not in the '
                    f'label file, e.g. {sorted(unknown)[:3]}')
            rows = OrderedDict((k, v) for k, v in rows.items() if k in keep)
        records = []
        for name, fields in rows.items():
            with self.record_guard():  # a missing image is a bad record
                record = dict(
                    img_path=index.find(name, self.check_files), img_id=name)
                record.update(fields)
                records.append(record)
        return records

    def _load_labels(self, path: str) -> OrderedDict:
        rows = OrderedDict()
        for where, row in iter_csv(path, ('Image Index', 'Finding Labels')):
            with self.record_guard():
                rows.update(self._parse_label_row(where, row, rows))
        return rows

    def _parse_label_row(self, where: str, row: dict, rows: dict) -> dict:
        name, text = row['Image Index'], row['Finding Labels']
        if name in rows:
            raise CXRDatasetError(f'{where}: {name} listed twice')
        findings = [f.strip() for f in text.split('|') if f.strip()]
        if not findings:
            raise CXRDatasetError(f'{where}: empty Finding Labels')
        if NO_FINDING in findings:
            if len(findings) > 1:
                raise CXRDatasetError(
                    f'{where}: {text!r} mixes No Finding with findings')
            findings = []
        return {
            name: dict(gt_score=multi_hot(findings, self.task_classes, where))
        }

    def _load_boxes(self, path: str) -> OrderedDict:
        rows, bad = OrderedDict(), set()
        for where, header, values in iter_csv_raw(path):
            check_columns(path, header, ('Image Index', 'Finding Label'))
            first = header.index('Finding Label') + 1
            if len(header) < first + 4:
                raise CXRDatasetError(
                    f'{path}: expected 4 box columns (x, y, w, h) after '
                    f'"Finding Label", the header is {header}')
            name = values[header.index('Image Index')]
            with self.record_guard() as guard:
                label = class_index(values[header.index('Finding Label')],
                                    self.task_classes, where)
                x, y, w, h = (parse_float(values[first + k], where, col)
                              for k, col in enumerate('xywh'))
                box = dict(bbox=xywh_box(x, y, w, h, where), bbox_label=label)
                rows.setdefault(name,
                                dict(instances=[]))['instances'].append(box)
            if guard.failed:
                bad.add(name)
        self.leave_out_images(rows, bad)
        return rows


#: The 4 findings of the 2019 expert relabels of NIH ChestX-ray14
#: (Majkowska et al., Radiology 2019), as their CSV columns name them.
NIH_FOUR_FINDINGS = ('Fracture', 'Pneumothorax', 'Airspace opacity',
                     'Nodule or mass')
_YES_NO = {'yes': 1.0, 'no': 0.0, '1': 1.0, '0': 0.0, '1.0': 1.0, '0.0': 0.0}


@DATASETS.register_module()
class NIHFourFindingsDataset(NIHChestXray14Dataset):
    """The 2019 expert relabels of NIH ChestX-ray14: 4 findings (cls).

    ``ann_file`` is a CSV with the columns

    - ``Image Index``: the NIH image name (``00000003_000.png``), looked up
      in the NIH image folders as :class:`NIHChestXray14Dataset` does;
    - ``Fracture``, ``Pneumothorax``, ``Airspace opacity``,
      ``Nodule or mass``: ``YES`` / ``NO`` (any case) or ``1`` / ``0``;
    - ``Set Id`` (needed with ``set_ids``): the subset a row belongs to
      (e.g. ``validation`` / ``test``), kept in each data info as
      ``set_id``.

    Other columns (patient id, age, view ...) are ignored. An image listed
    twice, a blank or other value is an error naming the CSV line (or, with
    ``on_bad_record='skip'``, a logged skip).

    Args:
        ann_file (str): The relabel CSV (relative to ``data_root``).
        set_ids (Sequence[str], optional): Keep the rows whose ``Set Id``
            is listed; None keeps every row.
        split_file, img_dirs: See :class:`NIHChestXray14Dataset`.
    """

    METAINFO = dict(
        dataset_name='nih_four_findings', classes=NIH_FOUR_FINDINGS)
    DEFAULT_ANN_FILE: dict = {}

    def __init__(self,
                 set_ids: Optional[Sequence[str]] = None,
                 **kwargs) -> None:
        self.set_ids = None if set_ids is None else {str(s) for s in set_ids}
        super().__init__(**kwargs)

    def _find_data_entry(self) -> str:
        if not self.ann_file:
            raise FileNotFoundError(
                f'{type(self).__name__}: set ann_file to the relabel CSV '
                f'(columns Image Index, {", ".join(NIH_FOUR_FINDINGS)}, '
                'Set Id)')
        return self.ann_file

    def _load_labels(self, path: str) -> OrderedDict:
        required = ('Image Index', ) + tuple(self.task_classes)
        if self.set_ids is not None:
            required += ('Set Id', )
        rows, left_out = OrderedDict(), 0
        for where, row in iter_csv(path, required):
            set_id = row.get('Set Id')
            if self.set_ids is not None and set_id not in self.set_ids:
                left_out += 1
                continue
            with self.record_guard():
                name = row['Image Index']
                if name in rows:
                    raise CXRDatasetError(f'{where}: {name} listed twice')
                score = []
                for column in self.task_classes:
                    value = _YES_NO.get(row[column].lower())
                    if value is None:
                        raise CXRDatasetError(
                            f'{where}: column {column!r} is {row[column]!r}; '
                            'expected YES, NO, 1 or 0')
                    score.append(value)
                rows[name] = dict(gt_score=np.array(score, dtype=np.float32))
                if set_id is not None:
                    rows[name]['set_id'] = set_id
        if left_out:
            print_log(
                f'{type(self).__name__}: left out {left_out} rows of other '
                f'sets (set_ids={sorted(self.set_ids)})',
                logger='current')
        return rows
