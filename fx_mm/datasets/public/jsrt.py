# Copyright (c) fx_mm contributors. All rights reserved.
"""The JSRT database with the SCR organ masks, read as distributed.

Expected layout of ``data_root``::

    images/JPCLN001.png ... JPCNN093.png      247 PA radiographs (8-bit)
    scr_masks/<organ>/<name>.gif              SCR masks (0/255), organ in
                                              heart, left_lung, right_lung,
                                              left_clavicle, right_clavicle
    CLNDAT_EN.txt                             clinical data, 154 nodules
    CNNDAT_EN.TXT                             the 93 non-nodule cases
    splits/{train,val,test}.txt               one image name per line

``CLNDAT_EN.txt`` is Latin-1 text whose records are separated by a bare
carriage return; a record starts at ``JPCLNnnn.IMG`` and holds tab separated
fields: file, subtlety (1-5), nodule size (mm), age (``?`` when unknown),
sex, x, y (nodule centre in pixels of the original 2048 x 2048 image),
malignant/benign, then location and diagnosis, which the distributed file
wraps at fixed column widths with further tabs (``r.middl<TAB>e lobe``).
``CNNDAT_EN.TXT`` has space separated file, age, sex, diagnosis.

Tasks: cls = one label ``nodule`` (1 for JPCLN, 0 for JPCNN); loc with
``loc_target='nodules'`` (default) = one box per JPCLN image, the square of
the nodule diameter (``size_mm / pixel_spacing`` px) centred on the nodule
centre scaled from the original grid to the image, clipped to the image;
loc with ``loc_target='organs'`` = one box per selected SCR organ on every
image, the bounding box of its mask (xyxy pixel edges, original pixels:
``x2 = last foreground column + 1``), classes = the organ names; seg = the
selected SCR masks, one channel each.
"""
import codecs
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from fx_mm.registry import DATASETS
from ..base_cxr import BaseCXRDataset, CXRDatasetError
from ..io import read_binary_mask, read_image_size

JSRT_SEG_CLASSES = ('heart', 'left_lung', 'right_lung', 'left_clavicle',
                    'right_clavicle')
_NAME = re.compile(r'^JPC(LN|NN)\d{3}$')
_RECORD_START = re.compile(r'[\r\n]+(?=JPC)')


def _read_text(path: str) -> str:
    """Latin-1 text without a leading UTF-8 byte order mark (editors on
    Windows add one when a list or the clinical file is re-saved)."""
    with open(path, 'rb') as f:
        data = f.read()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    return data.decode('latin-1')


def _split_records(path: str) -> List[str]:
    """Latin-1 text -> records (separated by CR, LF or CRLF)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: JSRT clinical data file not found')
    text = _read_text(path)
    text = text.strip('\r\n\x1a')  # trailing newlines, DOS end-of-file
    if not text.strip():
        raise CXRDatasetError(f'{path}: empty clinical data file')
    return _RECORD_START.split(text)


def _image_name(field: str, path: str, num: int, kind: str) -> str:
    name = field.strip()
    if name.upper().endswith('.IMG'):
        name = name[:-4]
    if not _NAME.match(name) or name[3:5] != kind:
        raise CXRDatasetError(
            f'{path}: record {num}: {field.strip()!r} is not a '
            f'JPC{kind}nnn.IMG file name')
    return name


def _number(text: str,
            path: str,
            num: int,
            name: str,
            field: str,
            kind: type = float) -> float:
    try:
        return kind(text.strip())
    except ValueError:
        raise CXRDatasetError(
            f'{path}: record {num} ({name}): field {field!r} is '
            f'{text.strip()!r}, not a number') from None


def _age(text: str, path: str, num: int, name: str) -> Optional[int]:
    text = text.strip()
    return None if text in ('?', '') else int(
        _number(text, path, num, name, 'age', int))


def parse_jsrt_nodules(path: str) -> Dict[str, dict]:
    """Parse ``CLNDAT_EN.txt`` (the nodule cases).

    Args:
        path (str): The clinical data file.

    Returns:
        dict: image name (``'JPCLN001'``) -> dict with ``subtlety`` (int),
        ``size_mm`` (float), ``age`` (int or None), ``sex``, ``x``, ``y``
        (float, original 2048 grid), ``malignancy``, ``location`` and
        ``diagnosis`` (text with each run of tabs / spaces turned into one
        space; the distributed file breaks words at fixed column widths,
        which is kept as is) and ``record`` (1-based record number).
    """
    records = {}
    for num, text in enumerate(_split_records(path), 1):
        fields = text.split('\t')
        if len(fields) < 7:
            raise CXRDatasetError(
                f'{path}: record {num} {text[:40]!r}: {len(fields)} '
                'tab-separated fields, expected at least 7 (file, '
                'subtlety, size, age, sex, x, y)')
        name = _image_name(fields[0], path, num, 'LN')
        if name in records:
            raise CXRDatasetError(
                f'{path}: record {num}: {name} also in record '
                f'{records[name]["record"]}')
        subtlety = int(_number(fields[1], path, num, name, 'subtlety', int))
        size_mm = _number(fields[2], path, num, name, 'size')
        if not 1 <= subtlety <= 5:
            raise CXRDatasetError(f'{path}: record {num} ({name}): '
                                  f'subtlety {subtlety} is not in 1..5')
        if not size_mm > 0:
            raise CXRDatasetError(f'{path}: record {num} ({name}): nodule '
                                  f'size {size_mm} mm is not positive')
        rest = [' '.join(f.split()) for f in fields[8:]]
        records[name] = dict(
            record=num,
            subtlety=subtlety,
            size_mm=size_mm,
            age=_age(fields[3], path, num, name),
            sex=fields[4].strip(),
            x=_number(fields[5], path, num, name, 'x'),
            y=_number(fields[6], path, num, name, 'y'),
            malignancy=fields[7].strip() if len(fields) > 7 else '',
            location=' '.join(f for f in rest[:2] if f),
            diagnosis=' '.join(f for f in rest[2:] if f))
    return records


def parse_jsrt_non_nodules(path: str) -> Dict[str, dict]:
    """Parse ``CNNDAT_EN.TXT`` (the non-nodule cases).

    Returns:
        dict: image name (``'JPCNN001'``) -> dict with ``age`` (int or
        None), ``sex``, ``diagnosis`` and ``record`` (1-based).
    """
    records = {}
    for num, text in enumerate(_split_records(path), 1):
        fields = text.split()
        if len(fields) < 3:
            raise CXRDatasetError(
                f'{path}: record {num} {text[:40]!r}: expected file, age, '
                'sex[, diagnosis]')
        name = _image_name(fields[0], path, num, 'NN')
        if name in records:
            raise CXRDatasetError(
                f'{path}: record {num}: {name} also in record '
                f'{records[name]["record"]}')
        records[name] = dict(
            record=num,
            age=_age(fields[1], path, num, name),
            sex=fields[2],
            diagnosis=' '.join(fields[3:]))
    return records


@DATASETS.register_module()
class JSRTDataset(BaseCXRDataset):
    """JSRT chest radiographs with nodule labels / boxes and SCR masks.

    Args:
        data_root (str): The JSRT folder (layout in the module doc).
        split (str): ``'train'``, ``'val'``, ``'test'`` (names listed in
            ``splits/<split>.txt``) or ``'all'`` (every image in
            ``images/``). Defaults to ``'all'``.
        task (str): ``'cls'``, ``'loc'`` or ``'seg'``.
        seg_classes (Sequence[str]): Mask channels for the seg task (and
            the box classes of ``loc_target='organs'``), a subset of
            :data:`JSRT_SEG_CLASSES` in any order. Defaults to all five.
        loc_target (str): What the loc task boxes: ``'nodules'`` (the
            JPCLN nodules, class ``nodule``) or ``'organs'`` (one box per
            ``seg_classes`` organ, from its SCR mask). Defaults to
            ``'nodules'``.
        pixel_spacing (float): mm per pixel of the images in ``images/``.
            Defaults to 0.35 (the 1024 x 1024 version).
        original_grid (int): Side of the grid of the clinical file's nodule
            coordinates. Defaults to 2048.
        clinical_file (str): Nodule clinical data, relative to data_root.
        non_nodule_file (str, optional): Non-nodule case list, relative to
            data_root; checked against the JPCNN images. None skips it.
        split_dir (str): Folder of the split lists, relative to data_root.
        **kwargs: Passed to :class:`BaseCXRDataset`.
    """

    METAINFO = dict(
        dataset_name='jsrt',
        classes=('nodule', ),
        box_classes=('nodule', ),
        seg_classes=JSRT_SEG_CLASSES)

    def __init__(self,
                 data_root: str,
                 split: str = 'all',
                 task: str = 'cls',
                 seg_classes: Sequence[str] = JSRT_SEG_CLASSES,
                 loc_target: str = 'nodules',
                 pixel_spacing: float = 0.35,
                 original_grid: int = 2048,
                 clinical_file: str = 'CLNDAT_EN.txt',
                 non_nodule_file: Optional[str] = 'CNNDAT_EN.TXT',
                 split_dir: str = 'splits',
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        seg_classes = tuple(seg_classes)
        unknown = [c for c in seg_classes if c not in JSRT_SEG_CLASSES]
        if not seg_classes or unknown or len(
                set(seg_classes)) != len(seg_classes):
            raise CXRDatasetError(
                f'JSRTDataset: seg_classes must be distinct names from '
                f'{JSRT_SEG_CLASSES}, got {seg_classes}')
        if split not in ('train', 'val', 'test', 'all'):
            raise CXRDatasetError(
                f'JSRTDataset: unknown split {split!r}; expected train, '
                'val, test or all')
        if loc_target not in ('nodules', 'organs'):
            raise CXRDatasetError(
                f'JSRTDataset: unknown loc_target {loc_target!r}; expected '
                'nodules or organs')
        if pixel_spacing <= 0 or original_grid <= 0:
            raise CXRDatasetError('JSRTDataset: pixel_spacing and '
                                  'original_grid must be positive')
        self.split = split
        self.pixel_spacing = float(pixel_spacing)
        self.original_grid = original_grid
        self.clinical_file = clinical_file
        self.non_nodule_file = non_nodule_file
        self.split_dir = split_dir
        self.loc_target = loc_target
        meta = dict(seg_classes=seg_classes)
        if loc_target == 'organs':
            meta.update(box_classes=seg_classes)
        meta.update(metainfo or {})
        super().__init__(
            task=task, data_root=data_root, metainfo=meta, **kwargs)

    # ------------------------------------------------------------------
    def _image_names(self) -> List[str]:
        image_dir = osp.join(self.data_root, 'images')
        if not osp.isdir(image_dir):
            raise FileNotFoundError(f'{image_dir}: JSRT image folder not '
                                    'found')
        names = []
        for file in sorted(os.listdir(image_dir)):
            stem, ext = osp.splitext(file)
            if ext.lower() != '.png':
                continue
            if not _NAME.match(stem):
                raise CXRDatasetError(
                    f'{osp.join(image_dir, file)}: not a JSRT image name '
                    '(JPCLNnnn.png or JPCNNnnn.png)')
            names.append(stem)
        return names

    def _check_records(self, names: List[str], records: Dict[str, dict],
                       kind: str, path: str) -> None:
        """Every JPC<kind> image has a record and every record an image."""
        images = {n for n in names if n[3:5] == kind}
        no_record = sorted(images - set(records))
        if no_record:
            raise CXRDatasetError(
                f'{osp.join(self.data_root, "images", no_record[0])}.png: '
                f'no record for {no_record[0]} in {path} ({len(no_record)} '
                f'JPC{kind} images without a record: {no_record[:5]})')
        no_image = sorted(set(records) - images)
        if no_image:
            name = no_image[0]
            raise CXRDatasetError(
                f'{path}: record {records[name]["record"]} ({name}.IMG) has '
                f'no image {osp.join(self.data_root, "images", name)}.png '
                f'({len(no_image)} records without an image: '
                f'{no_image[:5]})')

    def _split_names(self, names: List[str]) -> List[str]:
        if self.split == 'all':
            return names
        path = osp.join(self.data_root, self.split_dir, f'{self.split}.txt')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: split list not found')
        known, selected = set(names), []
        for line_no, line in enumerate(_read_text(path).splitlines(), 1):
            name = line.strip()
            if not name:
                continue
            name = osp.splitext(osp.basename(name))[0]
            if name not in known:
                raise CXRDatasetError(
                    f'{path}: line {line_no}: {name!r} is not an image '
                    f'in {osp.join(self.data_root, "images")}')
            if name in selected:
                raise CXRDatasetError(
                    f'{path}: line {line_no}: {name} listed twice')
            selected.append(name)
        return selected

    def _nodule_box(self, nodule: dict, width: int, height: int,
                    clinical_path: str, name: str) -> List[float]:
        grid = self.original_grid
        if not (0 <= nodule['x'] < grid and 0 <= nodule['y'] < grid):
            raise CXRDatasetError(
                f'{clinical_path}: record {nodule["record"]} ({name}.IMG): '
                f'nodule centre x={nodule["x"]:g}, y={nodule["y"]:g} lies '
                f'outside the {grid}x{grid} grid of the clinical data '
                f'(original_grid={grid})')
        cx = nodule['x'] * width / self.original_grid
        cy = nodule['y'] * height / self.original_grid
        half = nodule['size_mm'] / self.pixel_spacing / 2.0
        return [
            float(np.clip(cx - half, 0, width)),
            float(np.clip(cy - half, 0, height)),
            float(np.clip(cx + half, 0, width)),
            float(np.clip(cy + half, 0, height))
        ]

    def _organ_box(self, name: str, organ: str,
                   shape: Tuple[int, int]) -> List[float]:
        """xyxy box (pixel edges) of the SCR mask of ``organ``."""
        path = osp.join(self.data_root, 'scr_masks', organ, f'{name}.gif')
        mask = read_binary_mask(path, expected_shape=shape)
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            raise CXRDatasetError(
                f'{path}: the {organ} mask is empty, so it has no box '
                '(loc_target=\'organs\')')
        return [
            float(cols[0]),
            float(rows[0]),
            float(cols[-1] + 1),
            float(rows[-1] + 1)
        ]

    def load_records(self) -> List[dict]:
        names = self._image_names()
        clinical_path = osp.join(self.data_root, self.clinical_file)
        nodules = parse_jsrt_nodules(clinical_path)
        self._check_records(names, nodules, 'LN', clinical_path)
        if self.non_nodule_file is not None:
            path = osp.join(self.data_root, self.non_nodule_file)
            self._check_records(names, parse_jsrt_non_nodules(path), 'NN',
                                path)

        records = []
        for name in self._split_names(names):
            with self.record_guard():
                records.append(
                    self._record(name, nodules.get(name), clinical_path))
        return records

    def _record(self, name: str, nodule: Optional[dict],
                clinical_path: str) -> dict:
        img_path = osp.join(self.data_root, 'images', f'{name}.png')
        width, height = read_image_size(img_path)  # the header only
        info = dict(img_path=img_path, img_id=name, img_size=(width, height))
        if self.task == 'cls':
            info['gt_score'] = np.array([float(nodule is not None)],
                                        dtype=np.float32)
        elif self.task == 'loc' and self.loc_target == 'organs':
            info['instances'] = [
                dict(
                    bbox=self._organ_box(name, organ, (height, width)),
                    bbox_label=label,
                    ignore_flag=0)
                for label, organ in enumerate(self.task_classes)
            ]
        elif self.task == 'loc':
            info['instances'] = [] if nodule is None else [
                dict(
                    bbox=self._nodule_box(nodule, width, height, clinical_path,
                                          name),
                    bbox_label=0,
                    ignore_flag=0)
            ]
        else:
            info['seg_map_paths'] = [
                osp.join(self.data_root, 'scr_masks', organ, f'{name}.gif')
                for organ in self.task_classes
            ]
        if nodule is not None:
            info['nodule'] = dict(nodule)
        return info
