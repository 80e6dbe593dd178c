# Copyright (c) fx_mm contributors. All rights reserved.
import datetime
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import numpy as np
from pycocotools import mask as mask_utils

from ..base_cxr import TASKS, BaseCXRDataset, CXRDatasetError
from ..io import read_image_size
from ..transforms.loading import LoadCXRAnnotations


class CocoTaskWriter:
    """Collect the images of one (dataset, task) over its splits as COCO.

    Args:
        task (str): ``'cls'``, ``'loc'`` or ``'seg'``.
        name (str): Converter name (``info.description``).
    """

    def __init__(self, task: str, name: str = '') -> None:
        if task not in TASKS:
            raise ValueError(f'unknown task {task!r}; expected one of '
                             f'{TASKS}')
        self.task = task
        self.name = name
        self.images: List[dict] = []
        self.annotations: List[dict] = []
        self.classes: Optional[Tuple[str, ...]] = None
        self.dataset_name: Optional[str] = None
        self.splits: Dict[str, List[str]] = OrderedDict()
        self._split_of: Dict[str, str] = {}

    def add_dataset(self,
                    dataset: BaseCXRDataset,
                    split: str,
                    progress: bool = False) -> None:
        """Add every image of ``dataset`` (of this writer's task) to
        ``split``."""
        if dataset.task != self.task:
            raise ValueError(f'dataset task {dataset.task!r} but the writer '
                             f'converts {self.task!r}')
        classes = tuple(dataset.task_classes)
        if self.classes is None:
            self.classes, self.dataset_name = classes, dataset.dataset_name
        elif classes != self.classes:
            raise CXRDatasetError(
                f'split {split!r} has classes {classes} but the previous '
                f'splits have {self.classes}')
        ids = self.splits.setdefault(split, [])
        bar = None
        if progress:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(dataset))
        for idx in range(len(dataset)):
            info = dataset.get_data_info(idx)
            ids.append(self._add_image(info, split, dataset.data_root))
            if bar is not None:
                bar.update()
        if bar is not None:
            print()

    # -- one image ----------------------------------------------------------
    @staticmethod
    def _image_size(info: dict) -> Tuple[int, int]:
        path = info['img_path']
        stated = info.get('img_size')
        if not osp.isfile(path):
            if stated is None:
                raise FileNotFoundError(
                    f'{path}: image file not found; the COCO json needs '
                    'its width and height')
            return int(stated[0]), int(stated[1])
        width, height = read_image_size(path)
        if stated is not None and (int(stated[0]), int(
                stated[1])) != (width, height):
            raise CXRDatasetError(
                f'{path}: the image is {width}x{height} (WxH) but its '
                f'annotations state {stated[0]}x{stated[1]}')
        return width, height

    @staticmethod
    def _file_name(path: str, root: str) -> str:
        if root:
            rel = osp.relpath(path, root)
            if not rel.startswith(os.pardir):
                return rel
        return osp.abspath(path)

    def _add_image(self, info: dict, split: str, root: str) -> str:
        path, img_id = info['img_path'], str(info['img_id'])
        if img_id in self._split_of:
            raise CXRDatasetError(
                f'{path}: image id {img_id!r} is in split '
                f'{self._split_of[img_id]!r} and in split {split!r}')
        self._split_of[img_id] = split
        width, height = self._image_size(info)
        image = dict(
            id=len(self.images) + 1,
            file_name=self._file_name(path, root),
            width=width,
            height=height,
            fx_img_id=img_id,
            fx_split=split)
        if self.task == 'cls':
            score = np.asarray(info['gt_score'])
            image['fx_labels'] = [int(v) for v in score]
            mask = info.get('gt_label_mask')
            if mask is not None and not np.all(mask):
                image['fx_label_mask'] = [bool(v) for v in mask]
        elif self.task == 'loc':
            for k, inst in enumerate(info['instances']):
                self._add_box(image, inst, k, path)
        else:
            self._add_masks(image, info)
        self.images.append(image)
        return img_id

    def _add_box(self, image: dict, inst: dict, k: int, path: str) -> None:
        x1, y1, x2, y2 = (float(v) for v in inst['bbox'])
        if x2 > image['width'] or y2 > image['height']:
            raise CXRDatasetError(
                f'{path}: box {k} {[x1, y1, x2, y2]} lies outside the '
                f'{image["width"]}x{image["height"]} image')
        w, h = x2 - x1, y2 - y1
        self.annotations.append(
            dict(
                id=len(self.annotations) + 1,
                image_id=image['id'],
                category_id=int(inst['bbox_label']) + 1,
                bbox=[x1, y1, w, h],
                area=w * h,
                iscrowd=int(inst.get('ignore_flag', 0))))

    def _add_masks(self, image: dict, info: dict) -> None:
        results = dict(info, ori_shape=(image['height'], image['width']))
        # the stacking of training: sizes checked, files named on errors
        LoadCXRAnnotations._load_seg_masks(results)
        masks = results['gt_seg_map']  # (H, W, C)
        for channel in range(masks.shape[-1]):
            mask = masks[..., channel]
            if not mask.any():
                continue
            rle = mask_utils.encode(np.asfortranarray(mask))
            self.annotations.append(
                dict(
                    id=len(self.annotations) + 1,
                    image_id=image['id'],
                    category_id=channel + 1,
                    segmentation=dict(
                        size=[int(s) for s in rle['size']],
                        counts=rle['counts'].decode('ascii')),
                    bbox=[float(v) for v in mask_utils.toBbox(rle)],
                    area=int(mask_utils.area(rle)),
                    iscrowd=1))

    # -- output -------------------------------------------------------------
    def to_coco(self) -> dict:
        if self.classes is None:
            raise CXRDatasetError(f'{self.name} {self.task}: nothing added')
        return dict(
            info=dict(
                description=f'{self.name} ({self.task}) converted by fx_mm',
                date_created=datetime.datetime.now().isoformat(
                    timespec='seconds')),
            licenses=[],
            images=self.images,
            annotations=self.annotations,
            categories=[
                dict(id=k + 1, name=name)
                for k, name in enumerate(self.classes)
            ],
            fx_task=self.task,
            fx_dataset_name=self.dataset_name)

    def write(self, out_dir: str, prefix: str) -> Dict[str, str]:
        """Write ``<prefix>_<task>.json`` and one split list per split.

        Returns:
            dict: ``'json'`` and ``'split:<name>'`` -> written path.
        """
        os.makedirs(out_dir, exist_ok=True)
        stem = osp.join(out_dir, f'{prefix}_{self.task}')
        paths = {'json': stem + '.json'}
        with open(paths['json'], 'w', encoding='utf-8') as f:
            json.dump(self.to_coco(), f)
        for split, ids in self.splits.items():
            paths[f'split:{split}'] = f'{stem}_{split}.txt'
            with open(paths[f'split:{split}'], 'w', encoding='utf-8') as f:
                f.writelines(img_id + '\n' for img_id in ids)
        return paths
