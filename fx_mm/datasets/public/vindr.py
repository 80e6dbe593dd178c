# Copyright (c) fx_mm contributors. All rights reserved.
"""VinDr-CXR: 3 readers per training image, DICOMs ``train/<id>.dicom``.

- loc: ``train.csv`` (one row per reader finding): ``image_id, class_name,
  class_id, rad_id, x_min, y_min, x_max, y_max``; 14 local classes (ids
  0-13), ``No finding`` (id 14) rows have empty boxes.
- cls: ``image_labels_train.csv``: ``image_id, rad_id, <label columns>``
  (0/1 per reader); the 6 global labels are taken by majority over the
  readers of an image (more than half of them). A file without ``rad_id``
  (the consensus test labels) has one row per image.

Reader fusion of boxes (``box_fusion``), per image and class:

- ``'all'``: every reader's box is a ground-truth box;
- ``'majority'``: boxes of different readers are clustered greedily (a box
  joins the cluster whose mean box it overlaps most with IoU >= ``iou_thr``
  and that has no box of the same reader yet); clusters drawn by at least
  ``min_readers`` readers are kept, as the mean of their boxes;
- ``'wbf'``: weighted box fusion without scores: the same clusters, every
  cluster kept (also single-reader ones), fused as the equally weighted mean
  of its boxes.
"""
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Dict, List, Sequence

import numpy as np
from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import csv_header, iter_csv
from .public_dataset import PublicCXRDataset
from .record_values import class_index, make_box, parse_binary, parse_float

VINDR_GLOBAL_CLASSES = ('COPD', 'Lung tumor', 'Pneumonia', 'Tuberculosis',
                        'Other diseases', 'No finding')
VINDR_LOCAL_CLASSES = ('Aortic enlargement', 'Atelectasis', 'Calcification',
                       'Cardiomegaly', 'Consolidation', 'ILD', 'Infiltration',
                       'Lung Opacity', 'Nodule/Mass', 'Other lesion',
                       'Pleural effusion', 'Pleural thickening',
                       'Pneumothorax', 'Pulmonary fibrosis')
NO_FINDING, NO_FINDING_ID = 'No finding', 14
BOX_FUSIONS = ('all', 'majority', 'wbf')
_ALIASES = {'other diseases': ('other disease', )}


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) with boxes (N, 4) -> (N,)."""
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area = (box[2:] - box[:2]).prod()
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    return inter / (area + areas - inter)


def fuse_reader_boxes(boxes: np.ndarray,
                      readers: Sequence[str],
                      mode: str = 'majority',
                      iou_thr: float = 0.5,
                      min_readers: int = 2) -> np.ndarray:
    """Fuse boxes of ONE class drawn by several readers.

    Args:
        boxes (np.ndarray): (N, 4) xyxy.
        readers (Sequence[str]): (N,) reader id of each box.
        mode (str): ``'all'``, ``'majority'`` or ``'wbf'`` (module doc).
        iou_thr (float): IoU to join a cluster. Defaults to 0.5.
        min_readers (int): Readers a ``'majority'`` cluster needs.

    Returns:
        np.ndarray: (M, 4) fused boxes, in order of cluster creation.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if mode == 'all' or len(boxes) == 0:
        return boxes
    members: List[List[int]] = []
    means = np.zeros((0, 4))
    for i, box in enumerate(boxes):
        best = -1
        if len(means):
            ious = box_iou(box, means)
            for k in np.argsort(-ious, kind='stable'):
                if ious[k] < iou_thr:
                    break
                if readers[i] not in {readers[j] for j in members[k]}:
                    best = int(k)
                    break
        if best < 0:
            members.append([i])
            means = np.vstack([means, box])
        else:
            members[best].append(i)
            means[best] = boxes[members[best]].mean(axis=0)
    keep = [
        k for k, idx in enumerate(members)
        if mode == 'wbf' or len({readers[j]
                                 for j in idx}) >= min_readers
    ]
    return means[keep]


@DATASETS.register_module()
class VinDrCXRDataset(PublicCXRDataset):
    """VinDr-CXR: 6 global labels (cls), 14 local box classes (loc).

    Args:
        box_fusion (str): ``'all'``, ``'majority'`` or ``'wbf'``.
            Defaults to ``'all'``.
        iou_thr (float): IoU for clustering readers' boxes. Defaults to 0.5.
        min_readers (int): Readers a ``'majority'`` box needs. Defaults
            to 2 (2 of 3).
        img_suffix (str): Defaults to ``'.dicom'``.
    """

    METAINFO = dict(
        dataset_name='vindr_cxr',
        classes=VINDR_GLOBAL_CLASSES,
        box_classes=VINDR_LOCAL_CLASSES)
    DEFAULT_ANN_FILE = dict(cls='image_labels_train.csv', loc='train.csv')
    DEFAULT_IMG_DIR = 'train'

    def __init__(self,
                 box_fusion: str = 'all',
                 iou_thr: float = 0.5,
                 min_readers: int = 2,
                 img_suffix: str = '.dicom',
                 **kwargs) -> None:
        if box_fusion not in BOX_FUSIONS:
            raise CXRDatasetError(
                f'box_fusion={box_fusion!r}; expected one of {BOX_FUSIONS}')
        self.box_fusion = box_fusion
        self.iou_thr = iou_thr
        self.min_readers = min_readers
        self.img_suffix = img_suffix
        super().__init__(**kwargs)

    def _img_path(self, image_id: str) -> str:
        return osp.join(self.img_dir, image_id + self.img_suffix)

    def load_records(self) -> List[dict]:
        if self.task == 'cls':
            return self._load_labels()
        return self._load_boxes()

    # -- cls -----------------------------------------------------------------
    def _label_columns(self, header: Sequence[str]) -> Dict[str, str]:
        lower = {name.lower(): name for name in header}
        columns = {}
        for cls in self.task_classes:
            for key in (cls.lower(), ) + _ALIASES.get(cls.lower(), ()):
                if key in lower:
                    columns[cls] = lower[key]
                    break
            else:
                raise CXRDatasetError(
                    f'{self.ann_file}: missing column {cls!r}; the header '
                    f'has {list(header)}')
        return columns

    def _load_labels(self) -> List[dict]:
        header = csv_header(self.ann_file)
        columns = self._label_columns(header)
        rad = {h.lower(): h for h in header}.get('rad_id')
        votes: Dict[str, list] = OrderedDict()
        bad = set()
        for where, row in iter_csv(self.ann_file, ('image_id', )):
            readers = votes.setdefault(row['image_id'], [])
            with self.record_guard() as guard:
                labels = [
                    parse_binary(row[columns[c]], where, columns[c])
                    for c in self.task_classes
                ]
                reader = row[rad] if rad else None
                if rad and reader in [r for r, _ in readers]:
                    raise CXRDatasetError(
                        f'{where}: reader {reader} labels image '
                        f'{row["image_id"]} twice')
                if not rad and readers:
                    raise CXRDatasetError(
                        f'{where}: image {row["image_id"]} listed twice and '
                        'the file has no rad_id column')
                readers.append((reader, labels))
            if guard.failed:
                bad.add(row['image_id'])
        self.leave_out_images(votes, bad)
        records = []
        for image_id, readers in votes.items():
            count = np.sum([labels for _, labels in readers], axis=0)
            score = (2 * count > len(readers)).astype(np.float32)
            records.append(
                dict(
                    img_path=self._img_path(image_id),
                    img_id=image_id,
                    gt_score=score))
        return records

    # -- loc -----------------------------------------------------------------
    def _load_boxes(self) -> List[dict]:
        header = csv_header(self.ann_file)
        required = ('image_id', 'class_name', 'x_min', 'y_min', 'x_max',
                    'y_max')
        has_rad, has_id = 'rad_id' in header, 'class_id' in header
        mode = self.box_fusion
        if not has_rad and mode != 'all':
            print_log(
                f'VinDrCXRDataset: {self.ann_file} has no rad_id column '
                f'(consensus labels); box_fusion={mode!r} -> all boxes kept',
                logger='current')
            mode = 'all'
        images: Dict[str, dict] = OrderedDict()
        bad = set()
        for where, row in iter_csv(self.ann_file, required):
            boxes = images.setdefault(row['image_id'], defaultdict(list))
            with self.record_guard() as guard:
                self._parse_box_row(where, row, boxes, required[2:], has_id,
                                    has_rad)
            if guard.failed:
                bad.add(row['image_id'])
        self.leave_out_images(images, bad)
        records = []
        for image_id, boxes in images.items():
            instances = []
            for label in sorted(boxes):
                coords = np.array([b for b, _ in boxes[label]])
                readers = [r for _, r in boxes[label]]
                for box in fuse_reader_boxes(coords, readers, mode,
                                             self.iou_thr, self.min_readers):
                    instances.append(
                        dict(bbox=[float(v) for v in box], bbox_label=label))
            records.append(
                dict(
                    img_path=self._img_path(image_id),
                    img_id=image_id,
                    instances=instances))
        return records

    def _parse_box_row(self, where: str, row: dict, boxes: dict,
                       coord_columns: Sequence[str], has_id: bool,
                       has_rad: bool) -> None:
        """Add one reader finding of ``train.csv`` to its image's boxes."""
        name = row['class_name']
        coords = [row[k] for k in coord_columns]
        label = NO_FINDING_ID if name == NO_FINDING else class_index(
            name, self.task_classes, where)
        if has_id and row['class_id'] != str(label):
            raise CXRDatasetError(
                f'{where}: class_id {row["class_id"]!r} does not match '
                f'class_name {name!r} (id {label})')
        if label == NO_FINDING_ID:
            if any(coords):
                raise CXRDatasetError(
                    f'{where}: a "No finding" row with a box {coords}')
            return
        if not all(coords):
            raise CXRDatasetError(
                f'{where}: {name!r} row without a complete box {coords}')
        box = make_box(
            *(parse_float(v, where, k) for v, k in zip(coords, coord_columns)),
            where)
        boxes[label].append((box, row['rad_id'] if has_rad else where))
