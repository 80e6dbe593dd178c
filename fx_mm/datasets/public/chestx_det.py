# Copyright (c) fx_mm contributors. All rights reserved.
"""ChestX-Det (Deepwise): 3,578 NIH images, 13 classes, boxes + polygons.

``ChestX_Det_train.json`` / ``ChestX_Det_test.json`` hold a list of
``{"file_name": "36199.png", "syms": [...], "boxes": [[x1, y1, x2, y2],
...], "polygons": [[[x, y], ...], ...]}``; the k-th sym, box and polygon
describe the same finding. Images: ``train/<file_name>`` and
``test/<file_name>``.

seg: one channel per class, the union of that class's polygons. The data
list keeps the polygons; they are rasterised by pycocotools
(``frPyObjects`` + ``merge``) into a compact COCO RLE only when a sample is
fetched, at the image size (``img_size`` or the PNG header).
"""
import os.path as osp
from collections import defaultdict
from typing import List, Optional, Tuple

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import load_json
from .polygons import flatten_polygon
from .public_dataset import PublicCXRDataset
from .record_values import class_index, make_box, multi_hot

CHESTX_DET_CLASSES = ('Atelectasis', 'Calcification', 'Cardiomegaly',
                      'Consolidation', 'Diffuse Nodule', 'Effusion',
                      'Emphysema', 'Fibrosis', 'Fracture', 'Mass', 'Nodule',
                      'Pleural Thickening', 'Pneumothorax')


@DATASETS.register_module()
class ChestXDetDataset(PublicCXRDataset):
    """ChestX-Det: 13 classes for cls, loc and seg.

    Args:
        img_size (tuple, optional): (W, H) of every image, to rasterise
            polygons without opening the PNG header; None reads the header.
    """

    METAINFO = dict(
        dataset_name='chestx_det',
        classes=CHESTX_DET_CLASSES,
        box_classes=CHESTX_DET_CLASSES,
        seg_classes=CHESTX_DET_CLASSES)
    DEFAULT_ANN_FILE = dict(
        cls='ChestX_Det_train.json',
        loc='ChestX_Det_train.json',
        seg='ChestX_Det_train.json')
    DEFAULT_IMG_DIR = 'train'

    def __init__(self,
                 img_size: Optional[Tuple[int, int]] = None,
                 **kwargs) -> None:
        self.img_size = tuple(img_size) if img_size else None
        super().__init__(**kwargs)

    def load_records(self) -> List[dict]:
        entries = load_json(self.ann_file)
        if not isinstance(entries, list):
            raise CXRDatasetError(
                f'{self.ann_file}: expected a JSON list of images')
        classes = self.task_classes
        records = []
        for i, entry in enumerate(entries):
            where = f'{self.ann_file} entry {i}'
            try:
                name = entry['file_name']
                syms = list(entry['syms'])
                boxes = list(entry['boxes'])
                polygons = list(entry.get('polygons', []))
            except (KeyError, TypeError) as err:
                raise CXRDatasetError(
                    f'{where}: expected file_name, syms, boxes (and '
                    f'polygons): {err!r}') from None
            where = f'{where} ({name})'
            if len(boxes) != len(syms) or (self.task == 'seg'
                                           and len(polygons) != len(syms)):
                raise CXRDatasetError(
                    f'{where}: {len(syms)} syms, {len(boxes)} boxes and '
                    f'{len(polygons)} polygons; expected one of each per '
                    'finding')
            record = dict(
                img_path=osp.join(self.img_dir, name),
                img_id=osp.splitext(name)[0])
            if self.img_size:
                record['img_size'] = self.img_size
            if self.task == 'cls':
                record['gt_score'] = multi_hot(syms, classes, where)
            elif self.task == 'loc':
                record['instances'] = [
                    dict(
                        bbox=make_box(*_four(box, f'{where} box {k}'),
                                      f'{where} box {k}'),
                        bbox_label=class_index(sym, classes, where))
                    for k, (sym, box) in enumerate(zip(syms, boxes))
                ]
            else:
                per_class = defaultdict(list)
                for k, (sym, points) in enumerate(zip(syms, polygons)):
                    label = class_index(sym, classes, where)
                    per_class[label].append(
                        flatten_polygon(points, f'{where} polygon {k}'))
                size = (self.img_size[1], self.img_size[0]) \
                    if self.img_size else None
                record['seg_sources'] = [
                    dict(type='polygons', polygons=per_class[c], size=size)
                    if per_class[c] else None for c in range(len(classes))
                ]
            records.append(record)
        return records


def _four(box, where: str) -> List[float]:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise CXRDatasetError(f'{where}: {box!r} is not [x1, y1, x2, y2]')
    try:
        return [float(v) for v in box]
    except (TypeError, ValueError):
        raise CXRDatasetError(
            f'{where}: {box!r} is not [x1, y1, x2, y2]') from None
