# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert the public CXR datasets to COCO json, read by the very loaders
that training uses.

For one dataset and one task, the converter builds the registered fx_mm
dataset of every split from the publisher's files, fetches each data info
(``get_data_info``: masks materialised as in training, then stacked by
:class:`LoadCXRAnnotations`) and writes:

- ``<out_dir>/<name>_<task>.json``, a COCO json:

  - ``images``: ``id`` (int, 1..N), ``file_name`` (relative to the data
    root when the image lies below it, else absolute), ``width`` and
    ``height`` (read from the image header, checked against the size the
    annotations state), ``fx_img_id`` (the loader's image id, the key of
    the split lists) and ``fx_split``; cls images also ``fx_labels`` (C
    ints 0/1, after the loader's label policy) and, when some labels are
    unknown, ``fx_label_mask`` (C bools, False = ignored);
  - ``categories``: ``id`` = class index + 1, ``name`` = the task's class;
  - ``annotations``: loc: one per box, ``bbox`` ``[x, y, w, h]`` in
    pixels, ``area`` = w * h, ``iscrowd`` = the loader's ignore flag; seg:
    one per image and non-empty mask channel, ``segmentation`` a compressed
    COCO RLE (counts as text), ``iscrowd`` 1 (COCO's flag for RLE masks),
    ``bbox`` and ``area`` of the mask;
  - ``fx_task`` and ``fx_dataset_name`` (the loader's head key).

- ``<out_dir>/<name>_<task>_<split>.txt``: the ``fx_img_id`` of each image
  of a split, one per line.

:class:`~fx_mm.datasets.CXRCocoDataset` reads the result back. The per-set
command line tools are ``tools/dataset_converters/<name>.py``.
"""
import argparse
import datetime
import json
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import DictAction
from mmengine.logging import print_log
from pycocotools import mask as mask_utils

from fx_mm.registry import DATASETS
from .base_cxr import TASKS, BaseCXRDataset, CXRDatasetError
from .io import read_image_size
from .transforms.loading import LoadCXRAnnotations


@dataclass(frozen=True)
class ConverterSpec:
    """How to read one public dataset for conversion.

    Args:
        name (str): Converter name (file prefix, script name).
        dataset_type (str): Registered fx_mm dataset class.
        tasks (tuple[str]): Tasks the converter writes by default.
        splits (dict): split name -> dataset keyword arguments (relative to
            the data root, as the publisher lays the files out).
        task_splits (dict): task -> splits, for tasks whose annotations do
            not follow the splits above (NIH's boxes).
        layout (str): One line on the expected native layout.
    """

    name: str
    dataset_type: str
    tasks: Tuple[str, ...]
    splits: Dict[str, dict]
    task_splits: Dict[str, Dict[str, dict]] = field(default_factory=dict)
    layout: str = ''

    def splits_for(self, task: str) -> Dict[str, dict]:
        return self.task_splits.get(task, self.splits)


CONVERTERS: Dict[str, ConverterSpec] = OrderedDict()


def _register(spec: ConverterSpec) -> None:
    CONVERTERS[spec.name] = spec


_register(
    ConverterSpec(
        'nih',
        'NIHChestXray14Dataset', ('cls', 'loc'),
        OrderedDict(
            train_val=dict(split_file='train_val_list.txt'),
            test=dict(split_file='test_list.txt')),
        task_splits=dict(loc=OrderedDict(all=dict())),
        layout='Data_Entry_2017*.csv, BBox_List_2017.csv, split lists, '
        'images/ or images_0NN/images/'))
_register(
    ConverterSpec(
        'vindr_cxr',
        'VinDrCXRDataset', ('cls', 'loc'),
        OrderedDict(train=dict()),
        layout='train.csv, image_labels_train.csv, train/<id>.dicom'))
_register(
    ConverterSpec(
        'tbx11k',
        'TBX11KDataset', ('cls', 'loc'),
        OrderedDict(
            train=dict(ann_file='annotations/json/TBX11K_train.json'),
            val=dict(ann_file='annotations/json/TBX11K_val.json')),
        layout='annotations/json/TBX11K_{train,val}.json, imgs/'))
_register(
    ConverterSpec(
        'node21',
        'NODE21Dataset', ('cls', 'loc'),
        OrderedDict(train=dict()),
        layout='metadata.csv, images/<name>.mha'))
_register(
    ConverterSpec(
        'rsna',
        'RSNAPneumoniaDataset', ('cls', 'loc'),
        OrderedDict(train=dict()),
        layout='stage_2_train_labels.csv, stage_2_detailed_class_info.csv, '
        'stage_2_train_images/<patientId>.dcm'))
_register(
    ConverterSpec(
        'chestx_det',
        'ChestXDetDataset', ('cls', 'loc', 'seg'),
        OrderedDict(
            train=dict(
                ann_file='ChestX_Det_train.json',
                data_prefix=dict(img_path='train')),
            test=dict(
                ann_file='ChestX_Det_test.json',
                data_prefix=dict(img_path='test'))),
        layout='ChestX_Det_{train,test}.json, {train,test}/<name>.png'))
_register(
    ConverterSpec(
        'siim_acr',
        'SIIMACRDataset', ('cls', 'loc', 'seg'),
        OrderedDict(train=dict()),
        layout='train-rle.csv, dicom-images-train/<study>/<series>/'
        '<ImageId>.dcm'))
_register(
    ConverterSpec(
        'candid_ptx',
        'CANDIDPTXDataset', ('cls', 'loc', 'seg'),
        OrderedDict(all=dict()),
        layout='Pneumothorax_reports.csv, <SOPInstanceUID>.<ext> anywhere '
        'below the root'))
_register(
    ConverterSpec(
        'chexmask',
        'CheXmaskDataset', ('loc', 'seg'),
        OrderedDict(all=dict()),
        layout='VinDr-CXR.csv(.gz), {train,test}/<image_id>.dicom'))
_register(
    ConverterSpec(
        'vindr_ribcxr',
        'VinDrRibCXRDataset', ('seg', ),
        OrderedDict(
            train=dict(ann_file='Vindr_RibCXR_train_mask.json'),
            val=dict(ann_file='Vindr_RibCXR_val_mask.json')),
        layout='Vindr_RibCXR_{train,val}_mask.json, data/<split>/img/'))
_register(
    ConverterSpec(
        'montgomery',
        'MontgomeryDataset', ('cls', 'seg'),
        OrderedDict(all=dict()),
        layout='CXR_png/MCUCXR_nnnn_<0|1>.png, ManualMask/{left,right}Mask/'))
_register(
    ConverterSpec(
        'jsrt',
        'JSRTDataset', ('cls', 'loc', 'seg'),
        OrderedDict((s, dict(split=s)) for s in ('train', 'val', 'test')),
        layout='images/, scr_masks/<organ>/, CLNDAT_EN.txt, CNNDAT_EN.TXT, '
        'splits/'))
_register(
    ConverterSpec(
        'shenzhen',
        'ShenzhenDataset', ('cls', ),
        OrderedDict(all=dict()),
        layout='CXR_png/CHNCXR_nnnn_<0|1>.png'))
_register(
    ConverterSpec(
        'chexpert',
        'CheXpertDataset', ('cls', ),
        OrderedDict(
            train=dict(ann_file='train.csv'),
            valid=dict(ann_file='valid.csv')),
        layout='CheXpert-v1.0*/{train,valid}.csv and the image folders'))
_register(
    ConverterSpec(
        'mimic_cxr',
        'MIMICCXRDataset', ('cls', ),
        OrderedDict((s, dict(split=s)) for s in ('train', 'validate', 'test')),
        layout='mimic-cxr-2.0.0-{chexpert,metadata,split}.csv.gz, files/'))


# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
def build_native_dataset(
        spec: ConverterSpec,
        data_root: str,
        task: str,
        split: str,
        max_images: Optional[int] = None,
        dataset_options: Optional[dict] = None) -> BaseCXRDataset:
    """Build ``spec``'s fx_mm dataset of one task and split."""
    splits = spec.splits_for(task)
    if split not in splits:
        raise ValueError(f'{spec.name}: unknown split {split!r} for task '
                         f'{task!r}; expected one of {list(splits)}')
    kwargs = dict(splits[split])
    kwargs.update(dataset_options or {})
    kwargs.update(data_root=data_root, task=task, serialize_data=False)
    if max_images is not None:
        kwargs['indices'] = int(max_images)  # the first N images
    dataset_cls = DATASETS.get(spec.dataset_type)
    try:
        return dataset_cls(**kwargs)
    except (FileNotFoundError, CXRDatasetError) as err:
        hint = _missing_file_hint(spec, task, split, err)
        raise type(err)(f'{err} [{spec.name}, task {task!r}, split '
                        f'{split!r}{hint}]') from err


def _task_ann_file(spec: ConverterSpec, task: str,
                   split: str) -> Optional[str]:
    kwargs = spec.splits_for(task).get(split, {})
    defaults = getattr(DATASETS.get(spec.dataset_type), 'DEFAULT_ANN_FILE', {})
    return kwargs.get('ann_file') or defaults.get(task)


def _missing_file_hint(spec: ConverterSpec, task: str, split: str,
                       err: Exception) -> str:
    """What to pass when a file is missing: the other tasks (--tasks) when
    it is this task's own annotation file, the splits (--splits) when the
    task has several."""
    if not isinstance(err, FileNotFoundError):
        return ''
    hints = []
    missing = osp.basename(str(err).split(': ', 1)[0])
    own = _task_ann_file(spec, task, split)
    others = [
        t for t in spec.tasks
        if t != task and _task_ann_file(spec, t, split) != own
    ]
    if own and missing == osp.basename(own) and others:
        hints.append(f'without the {task} annotations ({own}), convert the '
                     f'other tasks only: --tasks {" ".join(others)}')
    splits = list(spec.splits_for(task))
    if len(splits) > 1:
        hints.append(f'choose the splits you have with --splits ({splits})')
    return ': ' + '; '.join(hints) if hints else ''


def convert(name: str,
            data_root: str,
            out_dir: str,
            tasks: Optional[Sequence[str]] = None,
            splits: Optional[Sequence[str]] = None,
            max_images: Optional[int] = None,
            dataset_options: Optional[dict] = None,
            progress: bool = False) -> Dict[str, Dict[str, str]]:
    """Convert one public dataset to COCO json (module doc).

    Args:
        name (str): A key of :data:`CONVERTERS`.
        data_root (str): The dataset in its native layout.
        out_dir (str): Output folder.
        tasks (Sequence[str], optional): Defaults to the converter's tasks.
        splits (Sequence[str], optional): Splits to convert (of each task;
            a split a task does not define is an error). Defaults to all
            splits of each task.
        max_images (int, optional): Convert only the first N images of each
            split (a quick look at a large set).
        dataset_options (dict, optional): Extra arguments of the fx_mm
            dataset (``mask_size``, ``merge_lungs``, ``uncertainty``...).
        progress (bool): Show a progress bar.

    Returns:
        dict: task -> written paths (see :meth:`CocoTaskWriter.write`).
    """
    if name not in CONVERTERS:
        raise ValueError(f'unknown converter {name!r}; expected one of '
                         f'{list(CONVERTERS)}')
    spec = CONVERTERS[name]
    written = OrderedDict()
    for task in tasks or spec.tasks:
        if task not in spec.tasks:
            raise ValueError(f'{name}: task {task!r} not supported; expected '
                             f'one of {spec.tasks}')
        writer = CocoTaskWriter(task, name)
        for split in splits or list(spec.splits_for(task)):
            dataset = build_native_dataset(spec, data_root, task, split,
                                           max_images, dataset_options)
            print_log(
                f'{name} {task} {split}: converting {len(dataset)} images',
                logger='current')
            writer.add_dataset(dataset, split, progress)
        written[task] = writer.write(out_dir, name)
        print_log(
            f'{name} {task}: {len(writer.images)} images, '
            f'{len(writer.annotations)} annotations -> '
            f'{written[task]["json"]}',
            logger='current')
    return written


# ---------------------------------------------------------------------------
# command line
def add_arguments(parser: argparse.ArgumentParser,
                  spec: Optional[ConverterSpec] = None) -> None:
    parser.add_argument(
        'data_root', help='the dataset folder in the publisher\'s layout')
    parser.add_argument(
        '--out-dir',
        default=None,
        help='output folder (default: <data_root>/coco)')
    parser.add_argument(
        '--tasks',
        nargs='+',
        choices=spec.tasks if spec else TASKS,
        help='tasks to convert (default: all the converter supports)')
    split_names = sorted({s
                          for t in spec.tasks
                          for s in spec.splits_for(t)}) if spec else None
    parser.add_argument(
        '--splits',
        nargs='+',
        choices=split_names,
        help='splits to convert (default: all splits of each task)')
    parser.add_argument(
        '--max-images',
        type=int,
        default=None,
        help='convert only the first N images of each split')
    parser.add_argument(
        '--dataset-options',
        nargs='+',
        action=DictAction,
        default={},
        help='extra arguments of the fx_mm dataset, key=value '
        '(e.g. mask_size="(1024,1024)" merge_lungs=False)')


def main(name: Optional[str] = None,
         argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Command line entry: ``main('nih')`` for a per-set script, or
    ``main()`` whose first argument is the converter name."""
    from fx_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    if name is None:
        parser = argparse.ArgumentParser(
            description='Convert a public CXR dataset to COCO json.')
        parser.add_argument('name', choices=list(CONVERTERS))
        add_arguments(parser)
    else:
        spec = CONVERTERS[name]
        parser = argparse.ArgumentParser(
            description=f'Convert {name} ({spec.dataset_type}; expected: '
            f'{spec.layout}) to COCO json.')
        add_arguments(parser, spec)
    args = parser.parse_args(argv)
    name = name or args.name
    out_dir = args.out_dir or osp.join(args.data_root, 'coco')
    written = convert(
        name,
        args.data_root,
        out_dir,
        tasks=args.tasks,
        splits=args.splits,
        max_images=args.max_images,
        dataset_options=args.dataset_options,
        progress=True)
    for task, paths in written.items():
        for key, path in paths.items():
            print(f'{task} {key}: {path}')
    return written
