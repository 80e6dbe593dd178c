# Copyright (c) fx_mm contributors. All rights reserved.
"""Check every dataset a config trains / validates / tests on.

For each slot of ``train_cfg.slots`` / ``val_cfg.slots`` / ``test_cfg.slots``
the dataset is built with ``on_bad_record='skip'`` (so that loading goes on
past bad records, which are reported), then every sample goes through the
real loading transforms (``LoadCXRImage`` + ``LoadCXRAnnotations``): the
image exists and decodes, boxes lie inside the image, masks / RLEs have the
image's size. Label values are checked when the annotations are parsed.

Prints one row per slot (split, dataset, task, images, ok, bad, first
problems) and exits with status 1 if anything is bad (2 if a dataset cannot
be built at all), 0 otherwise. A progress bar per slot (mmengine's, on
stderr, so that stdout holds the table only) follows the decoding.

Examples::

    python tools/analysis_tools/check_dataset.py configs/<name>.py
    python tools/analysis_tools/check_dataset.py configs/<name>.py \
        --split train --workers 8 --out problems.json
"""
import argparse
import copy
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from fx_mm.datasets.base_cxr import DATA_ERRORS
from fx_mm.datasets.transforms import LoadCXRAnnotations, LoadCXRImage
from fx_mm.registry import DATASETS
from fx_mm.utils import register_all_modules

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check the files and annotations of every configured '
        'dataset slot')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--split',
        nargs='+',
        choices=SPLITS,
        default=list(SPLITS),
        help='which slot lists to check (default: all)')
    parser.add_argument(
        '--no-decode',
        action='store_true',
        help='only parse the annotations and check that files exist; do '
        'not decode images and masks')
    parser.add_argument(
        '--max-images',
        type=int,
        default=None,
        help='check at most this many samples per slot')
    parser.add_argument(
        '--workers',
        type=int,
        default=1,
        help='processes decoding images (default: 1)')
    parser.add_argument(
        '--max-problems',
        type=int,
        default=3,
        help='problems shown per slot in the table')
    parser.add_argument('--out', help='write every problem to this JSON file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def config_slots(cfg: Config, split: str) -> List[dict]:
    """The dataset configs of one split's slots (or its dataloader)."""
    loop_cfg = cfg.get(f'{split}_cfg') or {}
    slots = loop_cfg.get('slots') if hasattr(loop_cfg, 'get') else None
    if slots:
        return [copy.deepcopy(slot['dataset']) for slot in slots]
    loader = cfg.get(f'{split}_dataloader') or {}
    dataset = loader.get('dataset') if hasattr(loader, 'get') else None
    return [copy.deepcopy(dataset)] if dataset else []


def check_sample(info: dict) -> Optional[str]:
    """Load one data info through the real loading transforms; the problem
    (None when fine)."""
    try:
        results = LoadCXRImage(to_rgb=False)(dict(info))
        LoadCXRAnnotations()(results)
    except DATA_ERRORS as err:
        return str(err)
    except Exception as err:  # report, do not stop the scan
        return f'{info.get("img_path")}: {type(err).__name__}: {err}'
    return None


def check_samples(infos: List[dict], workers: int) -> List[Optional[str]]:
    """:func:`check_sample` of every data info, in order, with a progress
    bar on stderr."""
    progress = ProgressBar(len(infos), file=sys.stderr)
    results = []

    def record(result: Optional[str]) -> None:
        results.append(result)
        progress.update()

    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for result in pool.map(check_sample, infos, chunksize=16):
                record(result)
    else:
        for info in infos:
            record(check_sample(info))
    sys.stderr.write('\n')
    return results


def check_slot(dataset_cfg: dict, decode: bool, max_images: Optional[int],
               workers: int) -> dict:
    """Build one slot's dataset and check its samples."""
    row = dict(
        dataset=str(
            dataset_cfg.get('dataset_name') or dataset_cfg.get('type')),
        task=str(dataset_cfg.get('task', '?')),
        images=0,
        ok=0,
        bad=0,
        problems=[],
        fatal=False)
    cfg = copy.deepcopy(dataset_cfg)
    cfg['on_bad_record'] = 'skip'
    cfg['pipeline'] = []
    cfg['lazy_init'] = False
    try:
        dataset = DATASETS.build(cfg)
    except Exception as err:  # the annotations cannot be read at all
        row.update(fatal=True, problems=[f'{type(err).__name__}: {err}'])
        return row
    row['dataset'] = getattr(dataset, 'dataset_name', row['dataset'])
    row['task'] = getattr(dataset, 'task', row['task'])
    skipped = [reason for _, reason in dataset.skipped_records]
    count = len(dataset)
    if max_images is not None:
        count = min(count, max_images)
    problems = list(skipped)
    bad_samples = 0
    if decode:
        infos = []
        for i in range(count):
            try:  # may build masks from polygons / read an image header
                infos.append(dataset.get_data_info(i))
            except Exception as err:
                problems.append(f'sample {i}: {type(err).__name__}: {err}')
                bad_samples += 1
        print(
            f'checking {row["dataset"]}/{row["task"]}: {len(infos)} samples',
            file=sys.stderr)
        results = check_samples(infos, workers)
        problems += [r for r in results if r is not None]
        bad_samples += sum(r is not None for r in results)
    row.update(
        images=count + len(skipped),
        ok=count - bad_samples,
        bad=len(skipped) + bad_samples,
        problems=problems)
    return row


def format_table(rows: List[dict], max_problems: int) -> str:
    header = ('split', 'dataset', 'task', 'images', 'ok', 'bad',
              'first problems')
    lines = []
    for row in rows:
        shown = row['problems'][:max_problems]
        more = len(row['problems']) - len(shown)
        text = ' | '.join(shown) + (f' (+{more} more)' if more > 0 else '')
        lines.append((row['split'], row['dataset'], row['task'],
                      '-' if row['fatal'] else str(row['images']),
                      '-' if row['fatal'] else str(row['ok']),
                      'ALL' if row['fatal'] else str(row['bad']), text or '-'))
    widths = [
        max(len(header[k]), *(len(line[k])
                              for line in lines)) if lines else len(header[k])
        for k in range(len(header) - 1)
    ]

    def fmt(cells: Tuple[str, ...]) -> str:
        return '  '.join(c.ljust(w) for c, w in zip(cells, widths)) + \
            '  ' + cells[-1]

    return '\n'.join([fmt(header)] + [fmt(line) for line in lines])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'fx_mm'))
    rows: List[Dict] = []
    for split in args.split:
        for dataset_cfg in config_slots(cfg, split):
            row = check_slot(dataset_cfg, not args.no_decode, args.max_images,
                             args.workers)
            row['split'] = split
            rows.append(row)
    if not rows:
        print(
            f'{args.config}: no dataset slots in the splits {args.split}',
            file=sys.stderr)
        return 2
    print(format_table(rows, args.max_problems))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(rows, f, indent=1)
    if any(row['fatal'] for row in rows):
        return 2
    bad = sum(row['bad'] for row in rows)
    total = sum(row['images'] for row in rows)
    print(f'\n{bad} bad of {total} samples'
          if bad else f'\nall {total} samples are fine')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
