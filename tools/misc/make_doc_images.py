# Copyright (c) fx_mm contributors. All rights reserved.
"""Draw the pictures of docs/imgs: one ``FXVisualizer`` tile per task.

For one radiograph, the ground truth of each task (cls labels, loc boxes,
seg masks) is loaded by fx_mm's dataset and pipeline, copied into the
prediction fields (cls scores and box scores 1.00) and drawn as a
prediction tile, the way ``FXInferencer`` draws its overlay
(:func:`fx_mm.visualization.compose_views`), then stored as a 256-colour
PNG. No model runs: the pictures show how the tools draw, not what a
model predicts.

The image is a JSRT radiograph when ``--jsrt-root`` holds the JSRT + SCR
data (``../shared/data/jsrt``), else a synthetic phantom of fx_mm.

Example::

    python tools/misc/make_doc_images.py --out-dir docs/imgs
"""
import argparse
import os
import os.path as osp
import tempfile
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.structures import InstanceData
from PIL import Image

from fx_mm.registry import DATASETS
from fx_mm.utils import register_all_modules
from fx_mm.visualization import (TILE_HEIGHT, FXVisualizer, compose_views,
                                 dataset_class_names, load_rgb_image)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_JSRT = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data', 'jsrt')
TASKS = ('cls', 'loc', 'seg')
PIPELINE = [
    dict(type='LoadCXRImage'),
    dict(type='LoadCXRAnnotations'),
    dict(type='PackFXInputs')
]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw one FXVisualizer picture per task (ground truth '
        'drawn as predictions) for the docs')
    parser.add_argument(
        '--out-dir', default='docs/imgs', help='where the PNGs go')
    parser.add_argument(
        '--jsrt-root',
        default=DEFAULT_JSRT,
        help='JSRT + SCR folder; a synthetic phantom is drawn when it is '
        'missing')
    parser.add_argument(
        '--image',
        default='JPCLN001',
        help='JSRT image name (a JPCLN image has a nodule box)')
    parser.add_argument(
        '--tile-height',
        type=int,
        default=TILE_HEIGHT,
        help='height of the written pictures; FXVisualizer sizes its text '
        f'for {TILE_HEIGHT} px')
    return parser.parse_args(argv)


def build_datasets(args: argparse.Namespace, work_dir: str) -> Dict:
    """``{task: dataset}`` of JSRT, else of the synthetic phantoms."""
    if osp.isdir(osp.join(args.jsrt_root, 'images')):
        common = dict(type='JSRTDataset', data_root=args.jsrt_root)
    else:
        print(f'{args.jsrt_root}: no JSRT images; drawing a synthetic '
              'phantom')
        common = dict(
            type='SyntheticCXRDataset',
            data_root=work_dir,
            num_images=4,
            split='all')
    return {
        task: DATASETS.build(dict(common, task=task, pipeline=PIPELINE))
        for task in TASKS
    }


def find_index(dataset, image: str) -> int:
    """Index of the sample whose image file is named ``image`` (first
    sample of the dataset when none is; a phantom has other names)."""
    for index in range(len(dataset)):
        path = dataset.get_data_info(index)['img_path']
        if osp.splitext(osp.basename(path))[0] == image:
            return index
    if dataset.dataset_name == 'jsrt':
        raise FileNotFoundError(f'{image}: no such image in {dataset}')
    return 0


def ground_truth_as_prediction(sample):
    """A copy of a packed sample whose prediction fields hold its ground
    truth (scores 1.00)."""
    sample = sample.clone()
    task = sample.metainfo['task']
    if task == 'cls':
        sample.set_pred_score(sample.gt_score.float())
    elif task == 'loc':
        gt = sample.gt_instances
        sample.pred_instances = InstanceData(
            bboxes=gt.bboxes.tensor.clone(),
            labels=gt.labels.clone(),
            scores=torch.ones(len(gt.labels)))
    else:
        sample.pred_sem_seg = sample.gt_sem_seg.clone()
    return sample


def save_small_png(image: np.ndarray, path: str) -> None:
    """Write an RGB picture as a 256-colour PNG (docs live in git).

    The palette comes from maximum coverage, which keeps small saturated
    areas (a red clavicle) their colour where the default median cut maps
    them to a neighbour; Floyd-Steinberg dithering against it keeps the
    radiograph's gray ramp free of bands.
    """
    picture = Image.fromarray(np.ascontiguousarray(image))
    palette = picture.quantize(256, method=Image.Quantize.MAXCOVERAGE)
    picture.quantize(
        palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(
            path, optimize=True)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, str]:
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    os.makedirs(args.out_dir, exist_ok=True)
    written = {}
    with tempfile.TemporaryDirectory() as work_dir:
        datasets = build_datasets(args, work_dir)
        visualizer = FXVisualizer(
            name='make_doc_images',
            class_names=dataset_class_names(datasets.values()))
        for task, dataset in datasets.items():
            packed = dataset[find_index(dataset, args.image)]
            sample = ground_truth_as_prediction(packed['data_samples'])
            image = load_rgb_image(sample.metainfo['img_path'])
            name = osp.splitext(osp.basename(sample.metainfo['img_path']))[0]
            view = visualizer.draw_view(
                image,
                sample,
                'pred',
                title=f'{dataset.dataset_name}/{task} {name} (GT as pred)')
            tile = compose_views({f'{task}/{dataset.dataset_name}': view},
                                 max_height=args.tile_height)
            # compose_views leaves a white margin for the next tile
            tile = tile[:-4, :-4]
            out = osp.join(args.out_dir, f'pictures_{task}.png')
            save_small_png(tile, out)
            written[task] = out
            print(f'{out}: {tile.shape[1]}x{tile.shape[0]} px, '
                  f'{osp.getsize(out) // 1024} KB')
    return written


if __name__ == '__main__':
    main()
