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

from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .common import (FileIndex, PublicCXRDataset, check_columns, class_index,
                     iter_csv, iter_csv_raw, multi_hot, parse_float,
                     read_list_file, xywh_box)

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
