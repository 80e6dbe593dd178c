# Copyright (c) fx_mm contributors. All rights reserved.
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np

from fx_mm.registry import DATASETS
from ..base_cxr import BaseCXRDataset, CXRDatasetError
from .generate import ANNOTATIONS, generate_synthetic_cxr, read_json
from .variants import variant_metainfo

SPLITS = ('train', 'val', 'test')


@DATASETS.register_module()
class SyntheticCXRDataset(BaseCXRDataset):
    """Synthetic chest X-ray phantoms, generated on first use.

    Args:
        data_root (str): Where the variants are generated
            (``<data_root>/<variant>``). Defaults to
            ``'work_dirs/synthetic_cxr'``.
        variant (str): ``'phantom_a'`` or ``'phantom_b'`` (see the module
            doc); each variant is a separate dataset with its own classes.
        split (str): ``'train'``, ``'val'``, ``'test'`` or ``'all'``.
        num_images (int): Images generated over all splits. Defaults to
            200.
        image_size (int): Side of the square images. Defaults to 256.
        seed (int): Generation seed. Defaults to 0.
        split_ratios (Sequence[float]): train / val / test proportions.
        task (str): ``'cls'``, ``'loc'`` or ``'seg'``.
        **kwargs: Passed to :class:`BaseCXRDataset` (``pipeline``,
            ``dataset_name``, ``test_mode``, ``indices`` ...).
    """

    METAINFO = variant_metainfo('phantom_a')

    def __init__(self,
                 data_root: str = 'work_dirs/synthetic_cxr',
                 variant: str = 'phantom_a',
                 split: str = 'train',
                 num_images: int = 200,
                 image_size: int = 256,
                 seed: int = 0,
                 split_ratios: Sequence[float] = (0.7, 0.15, 0.15),
                 task: str = 'cls',
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if split not in SPLITS + ('all', ):
            raise CXRDatasetError(
                f'SyntheticCXRDataset: unknown split {split!r}; expected one '
                f'of {SPLITS + ("all", )}')
        meta = variant_metainfo(variant)
        meta.update(metainfo or {})
        self.variant = variant
        self.split = split
        self.num_images = num_images
        self.image_size = image_size
        self.seed = seed
        self.split_ratios = tuple(split_ratios)
        super().__init__(
            task=task, data_root=data_root, metainfo=meta, **kwargs)

    def load_records(self) -> List[dict]:
        root = generate_synthetic_cxr(
            self.data_root,
            self.num_images,
            image_size=self.image_size,
            seed=self.seed,
            variant=self.variant,
            split_ratios=self.split_ratios)
        ann_path = osp.join(root, ANNOTATIONS)
        annotations = read_json(ann_path)
        if annotations is None or 'images' not in annotations:
            raise CXRDatasetError(f'{ann_path}: unreadable annotation file; '
                                  'delete the directory to regenerate it')
        box_ids = {
            name: i
            for i, name in enumerate(self._metainfo['box_classes'])
        }
        records = []
        for k, image in enumerate(annotations['images']):
            if self.split != 'all' and image['split'] != self.split:
                continue
            where = f'{ann_path}: image {k} ({image["id"]})'
            info = dict(
                img_path=osp.join(root, image['file']),
                img_id=image['id'],
                img_size=(image['width'], image['height']))
            if self.task == 'cls':
                missing = [
                    c for c in self.task_classes if c not in image['labels']
                ]
                if missing:
                    raise CXRDatasetError(f'{where}: no label for {missing}')
                info['gt_score'] = np.array(
                    [image['labels'][c] for c in self.task_classes],
                    dtype=np.float32)
            elif self.task == 'loc':
                instances = []
                for box in image['boxes']:
                    if box['label'] not in box_ids:
                        raise CXRDatasetError(
                            f'{where}: box class {box["label"]!r} is not '
                            f'one of {tuple(box_ids)}')
                    instances.append(
                        dict(
                            bbox=list(box['bbox']),
                            bbox_label=box_ids[box['label']],
                            ignore_flag=0))
                info['instances'] = instances
            else:
                info['seg_map_paths'] = [
                    osp.join(root, image['masks'][c])
                    for c in self.task_classes
                ]
            records.append(info)
        return records
