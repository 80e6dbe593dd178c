# Copyright (c) fx_mm contributors. All rights reserved.
"""The base of the loaders that parse a public dataset's native layout."""
import logging
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from pycocotools import mask as mask_utils

from ..base_cxr import BaseCXRDataset, CXRDatasetError
from ..io import read_binary_mask, read_image_size
from .polygons import polygons_to_rle


def mask_files_to_rle(paths: Sequence[str], height: int,
                      width: int) -> Optional[dict]:
    """Union of binary mask files -> compact RLE (None when empty)."""
    union = np.zeros((height, width), dtype=np.uint8)
    for path in paths:
        union |= read_binary_mask(path, (height, width))
    if not union.any():
        return None
    return mask_utils.encode(np.asfortranarray(union))


class PublicCXRDataset(BaseCXRDataset):
    """Base of the loaders that parse a public dataset's native layout.

    Adds to :class:`BaseCXRDataset`:

    - per-dataset defaults for ``ann_file`` and ``data_prefix['img_path']``
      (relative to ``data_root``, as the publisher lays the files out);
    - lazily materialised masks: a seg record may carry ``seg_sources``
      (one entry per seg class: None, ``dict(type='polygons',
      polygons=[[x0, y0, ...], ...], size=(H, W) or None)``,
      ``dict(type='mask_files', paths=[...])`` or ``dict(type='rle_c',
      counts=str, size=(H, W))`` (row-major RLE)) instead of ``seg_rles``;
      :meth:`get_data_info` turns them into compact COCO RLEs
      (``seg_rles``) when a sample is fetched, so the data list stays small
      and loading stays fast.
    """

    DEFAULT_ANN_FILE: Dict[str, str] = {}  # task -> file
    DEFAULT_IMG_DIR: str = ''

    def __init__(self, task: str = 'cls', **kwargs) -> None:
        if not kwargs.get('ann_file'):
            kwargs['ann_file'] = self.DEFAULT_ANN_FILE.get(task, '')
        if 'data_prefix' not in kwargs:
            kwargs['data_prefix'] = dict(img_path=self.DEFAULT_IMG_DIR)
        super().__init__(task=task, **kwargs)

    @property
    def img_dir(self) -> str:
        return self.data_prefix.get('img_path', '') or self.data_root

    def root_path(self, path: str) -> str:
        """``path`` relative to ``data_root`` (absolute paths unchanged)."""
        if not path or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def leave_out_images(self, rows: dict, bad: set) -> None:
        """Remove from ``rows`` (image -> parsed rows) the images of which a
        row was skipped (``on_bad_record='skip'``): an image with one of its
        boxes / readers missing would be a wrong sample. Logged."""
        if not bad:
            return
        for name in bad:
            rows.pop(name, None)
        names = sorted(bad)
        print_log(
            f'{self._name()}: left out {len(names)} images with a bad row '
            f'(their other rows are not used either): '
            f'{", ".join(names[:10])}'
            f'{f" (+{len(names) - 10} more)" if len(names) > 10 else ""}',
            logger='current',
            level=logging.WARNING)

    @staticmethod
    def _merge_metainfo(kwargs: dict, **entries) -> None:
        """Set metainfo entries the user did not set explicitly."""
        metainfo = dict(kwargs.get('metainfo') or {})
        for key, value in entries.items():
            metainfo.setdefault(key, value)
        kwargs['metainfo'] = metainfo

    # -- lazy masks ----------------------------------------------------------
    def _validate(self, record: dict) -> None:
        sources = record.get('seg_sources')
        if self.task != 'seg' or sources is None:
            return super()._validate(record)
        path = record['img_path']
        if self.check_files and not osp.isfile(path):
            raise FileNotFoundError(f'{path}: image file not found '
                                    f'({type(self).__name__})')
        if len(sources) != len(self.task_classes):
            raise CXRDatasetError(
                f'{path}: {len(sources)} masks but the dataset has '
                f'{len(self.task_classes)} seg classes')
        for source in sources:
            if source is None or source['type'] != 'mask_files':
                continue
            for mask_path in source['paths']:
                if self.check_files and not osp.isfile(mask_path):
                    raise FileNotFoundError(
                        f'{mask_path}: mask file not found (image {path})')

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        sources = info.pop('seg_sources', None)
        if sources is not None:
            info['seg_rles'] = [
                self._source_to_rle(source, info) for source in sources
            ]
        return info

    @staticmethod
    def _image_size(info: dict) -> Tuple[int, int]:
        """(H, W) of a record's image from ``img_size`` or its header."""
        if info.get('img_size') is not None:
            width, height = info['img_size']
            return int(height), int(width)
        width, height = read_image_size(info['img_path'])
        return height, width

    def _source_to_rle(self, source: Optional[dict],
                       info: dict) -> Optional[dict]:
        if source is None:
            return None
        kind = source['type']
        if kind == 'polygons':
            size = source.get('size') or self._image_size(info)
            return polygons_to_rle(source['polygons'], *size)
        if kind == 'mask_files':
            height, width = self._image_size(info)
            return mask_files_to_rle(source['paths'], height, width)
        if kind == 'rle_c':
            from .rle import row_major_rle_to_coco
            return row_major_rle_to_coco(
                source['counts'], *source['size'], where=info['img_path'])
        raise ValueError(f'unknown seg source type {kind!r}')
