# Copyright (c) fx_mm contributors. All rights reserved.
"""A chest X-ray dataset stored as COCO json (read with pycocotools).

Reads what ``tools/dataset_converters`` write (:mod:`fx_mm.datasets.
converters`) and plain COCO files (TBX11K's, a user's own):

- categories, ordered by id, are the task's classes (or, when ``metainfo``
  names the classes, matched to them by name);
- loc: one instance per annotation, ``bbox`` ``[x, y, w, h]`` -> xyxy,
  ``ignore_flag`` = ``iscrowd``;
- seg: one channel per category, the union of its annotations'
  ``segmentation`` (RLE or polygons, via ``COCO.annToRLE``); a channel
  without annotation is empty;
- cls: ``fx_labels`` / ``fx_label_mask`` of the image entries when present,
  otherwise 1 for every category with an annotation on the image.

The image id (the key of split lists) is ``fx_img_id`` when present, else
``file_name`` without its suffix.
"""
import math
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log
from pycocotools import mask as mask_utils

from fx_mm.registry import DATASETS
from fx_mm.structures import CLASS_METAINFO_KEYS
from .base_cxr import BaseCXRDataset, CXRDatasetError
from .public.annotation_files import iter_coco_images, load_coco_file
from .public.polygons import check_coco_polygons
from .public.rle import check_coco_rle


@DATASETS.register_module()
class CXRCocoDataset(BaseCXRDataset):
    """COCO json of one task (module doc), e.g. a converted public set.

    Args:
        ann_file (str): The COCO json (relative to ``data_root`` unless
            absolute).
        task (str): ``'cls'``, ``'loc'`` or ``'seg'``. A json written by the
            converters serves the task it was converted for only.
        split_file (str, optional): Image ids to keep, one per line (the
            converters' ``<name>_<task>_<split>.txt`` or an official list
            such as NIH's ``test_list.txt``); relative to ``data_root``
            unless absolute. Listed ids absent from the json are counted and
            logged; a list that matches no image is an error.
        data_prefix (dict): ``img_path``: the folder ``file_name`` is
            relative to. Defaults to ``data_root``.
        dataset_name (str, optional): Head key; defaults to the json's
            ``fx_dataset_name``, else the json's file name.
        **kwargs: See :class:`BaseCXRDataset`.
    """

    METAINFO = dict(
        dataset_name='', classes=(), box_classes=(), seg_classes=())

    def __init__(self,
                 ann_file: str,
                 task: str = 'loc',
                 split_file: Optional[str] = None,
                 **kwargs) -> None:
        self.split_file = split_file
        self._coco = None
        super().__init__(task=task, ann_file=ann_file, **kwargs)

    # ------------------------------------------------------------------
    def _load_coco(self):
        return load_coco_file(self.ann_file)

    def _category_labels(self, coco) -> dict:
        """Fill the task's classes from the categories; id -> label."""
        key = CLASS_METAINFO_KEYS[self.task]
        cats = sorted(
            coco.dataset.get('categories', []), key=lambda c: c['id'])
        names = [c['name'] for c in cats]
        if not cats:
            raise CXRDatasetError(f'{self.ann_file}: no categories')
        if len(set(names)) != len(names):
            raise CXRDatasetError(
                f'{self.ann_file}: duplicate category names {names}')
        classes = tuple(self._metainfo.get(key) or names)
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise CXRDatasetError(
                f'{self.ann_file}: categories {unknown} are not in the '
                f'classes {list(classes)} given in metainfo')
        self._metainfo[key] = classes
        return {c['id']: classes.index(c['name']) for c in cats}

    def _read_split(self) -> Optional[List[str]]:
        if not self.split_file:
            return None
        path = self.split_file
        if not osp.isabs(path) and self.data_root:
            path = osp.join(self.data_root, path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: split file not found')
        with open(path, encoding='utf-8') as f:
            return [line.strip() for line in f if line.strip()]

    def load_data_list(self) -> List[dict]:
        coco = self._load_coco()
        fx_task = coco.dataset.get('fx_task')
        if fx_task is not None and fx_task != self.task:
            raise CXRDatasetError(
                f'{self.ann_file}: converted for task {fx_task!r}, so it '
                f'cannot serve task {self.task!r}; convert the '
                f'{self.task} annotations (tools/dataset_converters, '
                f'--tasks {self.task})')
        if not self._metainfo.get('dataset_name'):
            self._metainfo['dataset_name'] = coco.dataset.get(
                'fx_dataset_name') or osp.splitext(
                    osp.basename(self.ann_file))[0]
        self._labels = self._category_labels(coco)
        self._coco = coco
        try:
            return super().load_data_list()
        finally:
            self._coco = None  # not kept: workers get the data list only

    # ------------------------------------------------------------------
    def load_records(self) -> List[dict]:
        coco = self._coco
        keep = self._read_split()
        wanted = None if keep is None else set(keep)
        records, found = [], set()
        img_dir = self.data_prefix.get('img_path', '') or self.data_root
        for img, anns in iter_coco_images(coco, self.ann_file,
                                          self.record_guard):
            where = f'{self.ann_file} image id {img.get("id")}'
            file_name = img.get('file_name')
            img_id = None if file_name is None else str(
                img.get('fx_img_id') or osp.splitext(file_name)[0])
            if wanted is not None:
                if img_id not in wanted:
                    continue
                found.add(img_id)
            with self.record_guard():
                if file_name is None:
                    raise CXRDatasetError(f'{where}: no file_name')
                records.append(self._record(img, anns, img_dir, img_id, where))
        if wanted is not None:
            missing = len(wanted - found)
            if not found:
                raise CXRDatasetError(
                    f'{self.split_file}: none of its {len(wanted)} image ids '
                    f'is in {self.ann_file}')
            if missing:
                print_log(
                    f'CXRCocoDataset: {missing} ids of {self.split_file} '
                    f'are not in {self.ann_file} (task {self.task})',
                    logger='current')
        return records

    def _record(self, img: dict, anns: Sequence[dict], img_dir: str,
                img_id: str, where: str) -> dict:
        """The data info of one image entry and its annotations."""
        record = dict(
            img_path=osp.join(img_dir, img['file_name']), img_id=img_id)
        size = self._size(img, where)
        if size is not None:
            record['img_size'] = size
        if self.task == 'cls':
            self._cls_targets(record, img, anns, where)
        elif self.task == 'loc':
            record['instances'] = [self._instance(a) for a in anns]
        else:
            record['seg_rles'] = self._masks(self._coco, img, anns, where)
        return record

    @staticmethod
    def _size(img: dict, where: str) -> Optional[tuple]:
        if 'width' not in img or 'height' not in img:
            return None
        width, height = img['width'], img['height']
        if not all(isinstance(v, int) and v > 0 for v in (width, height)):
            raise CXRDatasetError(f'{where}: bad width/height {width!r} x '
                                  f'{height!r}')
        return width, height

    def _label(self, ann: dict) -> int:
        if ann.get('category_id') not in self._labels:
            raise CXRDatasetError(
                f'{self.ann_file} annotation id {ann.get("id")}: '
                f'category_id {ann.get("category_id")!r} is not in '
                '"categories"')
        return self._labels[ann['category_id']]

    def _cls_targets(self, record: dict, img: dict, anns: Sequence[dict],
                     where: str) -> None:
        num = len(self.task_classes)
        score = np.zeros(num, dtype=np.float32)
        known = np.ones(num, dtype=bool)
        if 'fx_labels' in img:
            values = img['fx_labels']
            mask = img.get('fx_label_mask', [True] * len(values))
            if len(values) != len(self._labels) or len(mask) != len(values):
                raise CXRDatasetError(
                    f'{where}: {len(values)} fx_labels and {len(mask)} '
                    f'fx_label_mask values for {len(self._labels)} '
                    'categories')
            # fx_labels follow the categories sorted by id
            for k, cat_id in enumerate(sorted(self._labels)):
                score[self._labels[cat_id]] = values[k]
                known[self._labels[cat_id]] = bool(mask[k])
        else:
            for ann in anns:
                score[self._label(ann)] = 1.0
        record['gt_score'], record['gt_label_mask'] = score, known

    def _instance(self, ann: dict) -> dict:
        bbox = ann.get('bbox')
        where = f'{self.ann_file} annotation id {ann.get("id")}'
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(
                isinstance(v, (int, float)) and math.isfinite(v)
                for v in bbox):
            raise CXRDatasetError(
                f'{where}: bbox {bbox!r} is not [x, y, w, h]')
        x, y, w, h = (float(v) for v in bbox)
        if w <= 0 or h <= 0:
            raise CXRDatasetError(
                f'{where}: bbox {bbox!r} has a non-positive width or height')
        return dict(
            bbox=[x, y, x + w, y + h],
            bbox_label=self._label(ann),
            ignore_flag=int(ann.get('iscrowd', 0)))

    def _masks(self, coco, img: dict, anns: Sequence[dict],
               where: str) -> List[Optional[dict]]:
        if 'width' not in img or 'height' not in img:
            raise CXRDatasetError(
                f'{where}: width and height are needed to read masks')
        per_class: List[list] = [[] for _ in self.task_classes]
        for ann in anns:
            ann_where = f'{self.ann_file} annotation id {ann.get("id")}'
            segmentation = ann.get('segmentation')
            if not segmentation:
                raise CXRDatasetError(
                    f'{ann_where}: no segmentation (seg task)')
            if isinstance(segmentation, dict):
                check_coco_rle(segmentation, ann_where)
            elif isinstance(segmentation, list):
                check_coco_polygons(segmentation, ann_where)
            else:
                raise CXRDatasetError(
                    f'{ann_where}: segmentation is a '
                    f'{type(segmentation).__name__}; expected an RLE dict '
                    'or a list of polygons')
            try:
                rle = coco.annToRLE(ann)
            except (TypeError, ValueError, KeyError) as err:
                raise CXRDatasetError(
                    f'{self.ann_file} annotation id {ann.get("id")}: bad '
                    f'segmentation: {err!r}') from err
            if list(rle['size']) != [img['height'], img['width']]:
                raise CXRDatasetError(
                    f'{self.ann_file} annotation id {ann.get("id")}: mask '
                    f'size {list(rle["size"])} (H, W) but the image is '
                    f'{img["height"]}x{img["width"]}')
            per_class[self._label(ann)].append(rle)
        return [
            None if not rles else
            rles[0] if len(rles) == 1 else mask_utils.merge(rles)
            for rles in per_class
        ]
