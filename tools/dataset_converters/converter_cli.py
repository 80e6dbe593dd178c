# Copyright (c) fx_mm contributors. All rights reserved.
"""The command line of the dataset converters: ``main('nih')`` for a
per-set script of this folder, ``main()`` (``cxr2coco.py``) for any."""
import argparse
import os.path as osp
from typing import Dict, Optional, Sequence

from mmengine.config import DictAction

from fx_mm.datasets.base_cxr import TASKS
from fx_mm.datasets.converters import CONVERTERS, ConverterSpec, convert


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
