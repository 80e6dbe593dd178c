# Copyright (c) fx_mm contributors. All rights reserved.
"""VinDr-RibCXR: 20 individual ribs as polygons (245 images).

The masks JSON (``Vindr_RibCXR_train_mask.json`` / ``..._val_mask.json``) is
a table stored column-wise (as pandas writes ``DataFrame.to_json()``)::

    {"img": {"0": "data/train/img/VinDr_RibCXR_train_000.png", ...},
     "R1":  {"0": [{"x": 501.2, "y": 230.0}, ...], ...},
     ...,
     "L10": {"0": [...], ...}}

Each rib entry is one polygon (a list of ``{"x", "y"}`` points) or the
string ``"None"`` when that rib is not visible. Image paths in ``img`` are
resolved against ``data_root``; when that file does not exist the file name
is looked up in ``data_prefix['img_path']``. Channel order: R1..R10,
L1..L10 (the publisher's training code order).
"""
import os.path as osp
from typing import List

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import load_json
from .polygons import flatten_polygon
from .public_dataset import PublicCXRDataset

RIB_CLASSES = tuple(f'R{i}'
                    for i in range(1, 11)) + tuple(f'L{i}'
                                                   for i in range(1, 11))
MISSING = (None, 'None', [])


@DATASETS.register_module()
class VinDrRibCXRDataset(PublicCXRDataset):
    """VinDr-RibCXR: seg with 20 rib channels (polygons rasterised lazily).
    """

    METAINFO = dict(dataset_name='vindr_ribcxr', seg_classes=RIB_CLASSES)
    DEFAULT_ANN_FILE = dict(seg='Vindr_RibCXR_train_mask.json')
    DEFAULT_IMG_DIR = 'img'

    def load_records(self) -> List[dict]:
        table = load_json(self.ann_file)
        if not isinstance(table, dict):
            raise CXRDatasetError(
                f'{self.ann_file}: expected a JSON object with keys "img", '
                '"R1".."R10", "L1".."L10"')
        missing = [k for k in ('img', ) + RIB_CLASSES if k not in table]
        if missing:
            raise CXRDatasetError(
                f'{self.ann_file}: missing key(s) {missing}; found '
                f'{sorted(table)}')
        for column in ('img', ) + RIB_CLASSES:
            if not isinstance(table[column], dict):
                raise CXRDatasetError(
                    f'{self.ann_file}: "{column}" must map row index -> '
                    'value')
        images = table['img']
        records = []
        for key in sorted(images, key=_row_order):
            rel = images[key]
            where = f'{self.ann_file} row {key} ({rel})'
            path = self.root_path(rel)
            if not osp.isfile(path):
                path = osp.join(self.img_dir, osp.basename(rel))
            sources = []
            for rib in RIB_CLASSES:
                points = table[rib].get(key)
                if points in MISSING:
                    sources.append(None)
                    continue
                polygon = flatten_polygon(points, f'{where} {rib}')
                sources.append(
                    dict(type='polygons', polygons=[polygon], size=None))
            records.append(
                dict(
                    img_path=path,
                    img_id=osp.splitext(osp.basename(rel))[0],
                    seg_sources=sources))
        return records


def _row_order(key: str):
    return (0, int(key)) if key.isdigit() else (1, key)
