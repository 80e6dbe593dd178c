# Copyright (c) fx_mm contributors. All rights reserved.
"""Draw the ground truth of every slot of a config, after its pipeline.

For each slot of ``<split>_cfg.slots`` the dataset is built, its pipeline
run, and the packed ground truth drawn by ``FXVisualizer`` into
``<output-dir>/<dataset>_<task>/<img_id>.png``. Ground truth that the
pipeline transformed with the image (training pipelines) is drawn on the
transformed image; ground truth a test pipeline keeps in original pixels is
drawn on the original image.

Examples::

    python tools/analysis_tools/browse_dataset.py configs/<name>.py \
        --output-dir work_dirs/browse --not-show
    python tools/analysis_tools/browse_dataset.py configs/<name>.py \
        --split test --max-images 3
"""
import argparse
import os
import os.path as osp
import sys
import warnings
from typing import List, Optional

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from mmengine.utils import track_iter_progress

from fx_mm.datasets.config_slots import dataset_class_names, unwrap_dataset
from fx_mm.registry import DATASETS
from fx_mm.utils import register_all_modules
from fx_mm.visualization import (FXVisualizer, gt_in_original_frame,
                                 load_rgb_image)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the ground truth of every slot of a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--split',
        choices=['train', 'val', 'test'],
        default='train',
        help='which slots: train_cfg / val_cfg / test_cfg (default train)')
    parser.add_argument(
        '--output-dir',
        help='folder of the pictures (<dataset>_<task>/<img_id>.png)')
    parser.add_argument(
        '--max-images',
        type=int,
        default=10,
        help='pictures per slot (default 10)')
    parser.add_argument(
        '--not-show', action='store_true', help='do not show the pictures')
    parser.add_argument(
        '--show-interval',
        type=float,
        default=2,
        help='seconds each picture is shown (default 2)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    args = parser.parse_args(argv)
    if args.max_images < 1:
        parser.error(f'--max-images must be >= 1, got {args.max_images}')
    if args.not_show and not args.output_dir:
        parser.error('--not-show without --output-dir would draw nothing')
    return args


def browse(cfg: Config,
           split: str = 'train',
           output_dir: Optional[str] = None,
           max_images: int = 10,
           show: bool = False,
           show_interval: float = 2) -> List[str]:
    """Draw ``max_images`` samples of every slot; return the files written.
    """
    stage = f'{split}_cfg'
    slots = (cfg.get(stage) or {}).get('slots')
    if not slots:
        raise ValueError(f'{cfg.filename}: {stage} has no slots; '
                         'browse_dataset needs fx_mm slot loops')
    visualizer = FXVisualizer(name=f'browse_dataset_{id(cfg)}')
    written = []
    for k, slot in enumerate(slots):
        if 'dataset' not in slot:
            raise ValueError(f'{cfg.filename}: {stage}.slots[{k}] has no '
                             '"dataset"')
        dataset = DATASETS.build(slot['dataset'])
        inner = unwrap_dataset(dataset)
        if inner is None:
            raise ValueError(f'{stage}.slots[{k}]: {type(dataset).__name__} '
                             'is not an fx_mm CXR dataset')
        visualizer.set_class_names(dataset_class_names([inner]))
        in_original = gt_in_original_frame(inner.pipeline.transforms)
        head = f'{inner.dataset_name}_{inner.task}'
        count = min(max_images, len(dataset))
        print(f'{stage}.slots[{k}] {head}: {len(dataset)} images, drawing '
              f'{count} (ground truth in '
              f'{"original" if in_original else "pipeline"} pixels)')
        for index in track_iter_progress(list(range(count))):
            item = dataset[index]
            sample = item['data_samples']
            if in_original:
                image = load_rgb_image(sample.metainfo['img_path'])
            else:
                image = item['inputs'].permute(1, 2, 0).numpy()
                image = np.ascontiguousarray(image.astype(np.uint8))
            image_id = sample.metainfo.get('img_id', str(index))
            out_file = None
            if output_dir:
                out_file = osp.join(output_dir, head, f'{image_id}.png')
                written.append(out_file)
            visualizer.add_datasample(
                f'{head}/{image_id}',
                image,
                sample,
                draw_gt=True,
                draw_pred=False,
                show=show,
                wait_time=show_interval,
                out_file=out_file)
    return written


def can_show() -> bool:
    """Whether a window can be opened (a display on Linux)."""
    return sys.platform in ('win32', 'darwin') or bool(
        os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    show = not args.not_show
    if show and not can_show():
        show = False
        if not args.output_dir:
            stem = osp.splitext(osp.basename(args.config))[0]
            args.output_dir = osp.join('work_dirs', 'browse_dataset', stem)
        warnings.warn(
            'browse_dataset.py: no display to show the pictures on; they '
            f'are written to {args.output_dir} instead')
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'fx_mm')):
        written = browse(cfg, args.split, args.output_dir, args.max_images,
                         show, args.show_interval)
    if written:
        print(f'{len(written)} pictures written to {args.output_dir}')


if __name__ == '__main__':
    sys.exit(main())
