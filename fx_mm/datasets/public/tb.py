# Copyright (c) fx_mm contributors. All rights reserved.
"""Tuberculosis sets: Shenzhen, Montgomery (NLM) and TBX11K.

- Shenzhen (``ChinaSet_AllFiles/CXR_png/CHNCXR_0001_0.png``) and Montgomery
  (``MontgomerySet/CXR_png/MCUCXR_0001_0.png``): the label is the file
  name's last digit (``_0`` normal, ``_1`` tuberculosis). Montgomery's lung
  masks are ``ManualMask/leftMask/<name>.png`` and ``ManualMask/rightMask/
  <name>.png`` ("left"/"right" as the publisher's folders name them).
- TBX11K: COCO json (``annotations/json/TBX11K_train.json``) whose
  ``file_name`` is relative to ``imgs/`` (``tb/tb0005.png``,
  ``health/h0001.png``, ``sick/s0001.png``); boxes ``[x, y, w, h]``;
  categories ``ActiveTuberculosis``, ``ObsoletePulmonaryTuberculosis``,
  ``PulmonaryTuberculosis``. An image is TB-positive when it has a TB box
  or lies in the ``tb`` folder; images without annotations are negatives.
"""
import os
import os.path as osp
import re
from typing import List, Optional, Sequence

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import iter_coco_images, load_coco_file, read_list_file
from .public_dataset import PublicCXRDataset
from .record_values import xywh_box

TB_CLASSES = ('tuberculosis', )
TBX11K_BOX_CLASSES = ('ActiveTuberculosis', 'ObsoletePulmonaryTuberculosis',
                      'PulmonaryTuberculosis')
_SUFFIX_LABEL = re.compile(r'^(?P<stem>.+)_(?P<label>[01])\.png$',
                           re.IGNORECASE)


class _SuffixLabelled(PublicCXRDataset):
    """PNG folder whose names end in ``_0`` / ``_1`` (the TB label).

    ``ann_file`` (optional) is a split list: one image name per line.
    """

    DEFAULT_IMG_DIR = 'CXR_png'

    def _scan(self) -> List[dict]:
        folder = self.img_dir
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder}: image folder not found')
        names = sorted(
            n for n in os.listdir(folder) if n.lower().endswith('.png'))
        if self.ann_file:
            wanted = read_list_file(self.ann_file)
            missing = sorted(set(wanted) - set(names))
            if missing and self.check_files:
                raise FileNotFoundError(
                    f'{self.ann_file}: {len(missing)} listed images are not '
                    f'in {folder}, e.g. {missing[:3]}')
            names = wanted
        records = []
        for name in names:
            match = _SUFFIX_LABEL.match(name)
            if match is None:
                raise CXRDatasetError(
                    f'{osp.join(folder, name)}: file name does not end in '
                    '_0.png (normal) or _1.png (tuberculosis)')
            records.append(
                dict(
                    img_path=osp.join(folder, name),
                    img_id=osp.splitext(name)[0],
                    gt_score=[float(match.group('label'))]))
        return records

    def load_records(self) -> List[dict]:
        return self._scan()


@DATASETS.register_module()
class ShenzhenDataset(_SuffixLabelled):
    """Shenzhen TB set: ``CXR_png/CHNCXR_0001_0.png``; 1 class."""

    METAINFO = dict(dataset_name='shenzhen', classes=TB_CLASSES)


@DATASETS.register_module()
class MontgomeryDataset(_SuffixLabelled):
    """Montgomery TB set: TB label (cls) and lung masks (seg).

    Args:
        merge_lungs (bool): One ``'lungs'`` channel (union of both masks,
            built when a sample is fetched) instead of two channels
            ``('left_lung', 'right_lung')``. Defaults to True.
        mask_dir (str): Relative to ``data_root``. Defaults to
            ``'ManualMask'``.
    """

    METAINFO = dict(
        dataset_name='montgomery',
        classes=TB_CLASSES,
        seg_classes=('left_lung', 'right_lung'))

    def __init__(self,
                 merge_lungs: bool = True,
                 mask_dir: str = 'ManualMask',
                 **kwargs) -> None:
        self.merge_lungs = merge_lungs
        self.mask_dir = mask_dir
        if merge_lungs:
            self._merge_metainfo(kwargs, seg_classes=('lungs', ))
        super().__init__(**kwargs)

    def load_records(self) -> List[dict]:
        records = self._scan()
        if self.task != 'seg':
            return records
        mask_root = self.root_path(self.mask_dir)
        for record in records:
            name = osp.basename(record['img_path'])
            del record['gt_score']
            paths = [
                osp.join(mask_root, side, name)
                for side in ('leftMask', 'rightMask')
            ]
            if self.merge_lungs:
                record['seg_sources'] = [dict(type='mask_files', paths=paths)]
            else:
                record['seg_map_paths'] = paths
        return records


@DATASETS.register_module()
class TBX11KDataset(PublicCXRDataset):
    """TBX11K from its COCO json (read with pycocotools' ``COCO``).

    Args:
        merge_box_classes (bool): One box class ``'tuberculosis'`` instead of
            the json's 3 categories. Defaults to False.
        tb_folders (Sequence[str]): Top folders of ``file_name`` whose
            images are TB-positive even without boxes. Defaults to
            ``('tb',)``.
    """

    METAINFO = dict(
        dataset_name='tbx11k',
        classes=TB_CLASSES,
        box_classes=TBX11K_BOX_CLASSES)
    DEFAULT_ANN_FILE = dict(
        cls='annotations/json/TBX11K_train.json',
        loc='annotations/json/TBX11K_train.json')
    DEFAULT_IMG_DIR = 'imgs'

    def __init__(self,
                 merge_box_classes: bool = False,
                 tb_folders: Sequence[str] = ('tb', ),
                 **kwargs) -> None:
        self.merge_box_classes = merge_box_classes
        self.tb_folders = tuple(tb_folders)
        if merge_box_classes:
            self._merge_metainfo(kwargs, box_classes=TB_CLASSES)
        super().__init__(**kwargs)

    def _category_labels(self, coco) -> dict:
        labels = {}
        box_classes = list(self._metainfo['box_classes'])
        for cat in coco.loadCats(coco.getCatIds()):
            if self.merge_box_classes:
                labels[cat['id']] = 0
            elif cat['name'] in box_classes:
                labels[cat['id']] = box_classes.index(cat['name'])
            else:
                raise CXRDatasetError(
                    f'{self.ann_file}: unknown category name '
                    f'{cat["name"]!r} (id {cat["id"]}); expected one of '
                    f'{box_classes}')
        return labels

    def load_records(self) -> List[dict]:
        coco = load_coco_file(self.ann_file)
        labels = self._category_labels(coco)
        records = []
        entries = iter_coco_images(coco, self.ann_file, self.record_guard)
        for img, anns in sorted(entries, key=lambda entry: entry[0]['id']):
            with self.record_guard():
                records.append(self._record(img, anns, labels))
        return records

    def _record(self, img: dict, anns: List[dict], labels: dict) -> dict:
        """One image entry and its annotations; a bad annotation makes the
        whole image bad (a partly read image would teach wrong negatives).
        """
        file_name = img.get('file_name')
        if not file_name:
            raise CXRDatasetError(
                f'{self.ann_file} image id {img.get("id")}: no file_name')
        instances = []
        for ann in anns:
            where = f'{self.ann_file} annotation id {ann.get("id")}'
            if ann.get('category_id') not in labels:
                raise CXRDatasetError(
                    f'{where}: category_id {ann.get("category_id")!r} is not '
                    'in "categories"')
            bbox = ann.get('bbox')
            if not isinstance(bbox, list) or len(bbox) != 4 or not all(
                    isinstance(v, (int, float)) for v in bbox):
                raise CXRDatasetError(
                    f'{where}: bbox {bbox!r} is not [x, y, w, h]')
            instances.append(
                dict(
                    bbox=xywh_box(*map(float, bbox), where),
                    bbox_label=labels[ann['category_id']],
                    ignore_flag=int(ann.get('iscrowd', 0))))
        record = dict(
            img_path=osp.join(self.img_dir, file_name),
            img_id=osp.splitext(file_name)[0])
        if self.task == 'loc':
            record['instances'] = instances
            record['img_size'] = _size(img, self.ann_file)
        else:
            folder = file_name.replace('\\', '/').split('/')[0]
            positive = bool(instances) or folder in self.tb_folders
            record['gt_score'] = [float(positive)]
        return record


def _size(img: dict, ann_file: str) -> Optional[tuple]:
    if 'width' not in img or 'height' not in img:
        return None
    try:
        return int(img['width']), int(img['height'])
    except (TypeError, ValueError):
        raise CXRDatasetError(
            f'{ann_file}: image id {img.get("id")} has a bad width/height '
            f'{img.get("width")!r} x {img.get("height")!r}') from None
