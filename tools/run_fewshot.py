# Copyright (c) fx_mm contributors. All rights reserved.
"""Few-shot series: finetune on N training images, test, tabulate Dice.

For every shot size N and repeat r, N images of the config's training slot
are drawn without replacement by ``numpy.random.default_rng([seed, N, r])``
(the same (seed, N, r) always gives the same images), set as the dataset's
``indices`` (mmengine ``BaseDataset``), the model is trained in-process by
the config's Runner and tested on the config's test slot. Results::

    <work-dir>/shots<N>_rep<r>/          the run's logs and checkpoint
    <work-dir>/fewshot_selection.json    the chosen image ids of each run
    <work-dir>/fewshot.csv               N, repeat, Dice per class, mean Dice
    <work-dir>/fewshot.md                the same + mean +- std over repeats

Example::

    FX_CHECKPOINT=work_dirs/fx/iter_N.pth FX_JSRT_ROOT=data/jsrt \\
    python tools/run_fewshot.py \\
        configs/finetune/fx_swin-b_jsrt-clavicle_finetune.py \\
        --shots 3 6 12 15 20 24 --repeats 3 --seed 0 --iters 500
"""
import argparse
import copy
import csv
import json
import math
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
from mmengine.config import Config, DictAction

from fx_mm.engine.runner import build_runner
from fx_mm.registry import DATASETS
from fx_mm.utils import register_all_modules


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Few-shot finetuning series of an fx_mm config')
    parser.add_argument('config', help='finetune config (one train slot)')
    parser.add_argument(
        '--shots', type=int, nargs='+', default=[3, 6, 12, 15, 20, 24],
        help='numbers of training images')
    parser.add_argument('--repeats', type=int, default=3,
                        help='draws per shot size')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the image draws and of training')
    parser.add_argument(
        '--iters', type=int, default=None,
        help='training iterations per run (the epochs are set to reach '
        'it whatever N); default: the config\'s epochs')
    parser.add_argument('--work-dir', help='default: work_dirs/fewshot_'
                        '<config name>')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def select_images(num_images: int, shots: int, seed: int,
                  repeat: int) -> List[int]:
    """Sorted indices of ``shots`` images out of ``num_images``, a function
    of (seed, shots, repeat) only."""
    if not 0 < shots <= num_images:
        raise ValueError(f'--shots {shots}: the training set has '
                         f'{num_images} images')
    rng = np.random.default_rng([seed, shots, repeat])
    return sorted(int(i) for i in rng.choice(num_images, shots,
                                             replace=False))


def _train_dataset_cfg(cfg: Config) -> dict:
    slots = cfg.train_cfg.get('slots')
    if not slots or len(slots) != 1:
        raise ValueError(f'{cfg.filename}: a few-shot config needs exactly '
                         f'one train slot, found {len(slots or [])}')
    return slots[0]['dataset']


def run_config(cfg: Config, shots: int, indices: List[int],
               iters: int = None) -> Config:
    """The config of one run: training subset, and the epochs giving
    ``iters`` iterations (by-epoch schedulers stretched alike)."""
    cfg = copy.deepcopy(cfg)
    _train_dataset_cfg(cfg)['indices'] = list(indices)
    if iters is not None:
        batch = cfg.train_cfg.slots[0].get(
            'batch_size', cfg.train_dataloader.get('batch_size', 1))
        fraction = cfg.train_cfg.get('release_fraction', 1.0)
        per_epoch = math.ceil(math.ceil(fraction * shots) / batch)
        old = cfg.train_cfg.max_cycles
        new = max(1, math.ceil(iters / per_epoch))
        cfg.train_cfg.max_cycles = new
        # one validation at the end only (the series reports the test set)
        cfg.train_cfg.val_at_cycle_end = False
        cfg.train_cfg.val_interval = 0
        schedulers = cfg.get('param_scheduler') or []
        for scheduler in (schedulers if isinstance(schedulers, list) else
                          [schedulers]):
            if scheduler.get('by_epoch', True):
                if scheduler.get('end') == old:
                    scheduler['end'] = new
                if scheduler.get('T_max') == old:
                    scheduler['T_max'] = new
    return cfg


def dice_scores(metrics: Dict[str, float]) -> Dict[str, float]:
    """Dice values of the tested network, keyed without the network that
    ``MultiSlotTestLoop`` puts first (``teacher/jsrt/seg/Dice`` ->
    ``jsrt/seg/Dice``)."""
    return {
        k.split('/', 1)[1]: float(v)
        for k, v in sorted(metrics.items())
        if k.split('/')[-1].startswith('Dice')
    }


def write_tables(rows: List[dict], columns: Sequence[str],
                 work_dir: str) -> None:
    with open(osp.join(work_dir, 'fewshot.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, ['shots', 'repeat'] + list(columns))
        writer.writeheader()
        writer.writerows(rows)
    lines = ['| N | repeat | ' + ' | '.join(columns) + ' |',
             '|---|---|' + '---|' * len(columns)]
    for row in rows:
        lines.append(f'| {row["shots"]} | {row["repeat"]} | ' + ' | '.join(
            f'{row[c]:.4f}' for c in columns) + ' |')
    lines += ['', '| N | runs | ' + ' | '.join(columns) + ' |',
              '|---|---|' + '---|' * len(columns)]
    for shots in sorted({row['shots'] for row in rows}):
        runs = [row for row in rows if row['shots'] == shots]
        cells = []
        for column in columns:
            values = np.array([row[column] for row in runs], dtype=float)
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f'{values.mean():.4f} ± {std:.4f}')
        lines.append(f'| {shots} | {len(runs)} | ' + ' | '.join(cells) +
                     ' |')
    with open(osp.join(work_dir, 'fewshot.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv=None) -> None:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    work_dir = args.work_dir or osp.join(
        'work_dirs',
        'fewshot_' + osp.splitext(osp.basename(args.config))[0])
    os.makedirs(work_dir, exist_ok=True)
    cfg.randomness = dict(seed=args.seed)

    full = DATASETS.build(_train_dataset_cfg(cfg))
    num_images = len(full)
    selection, rows, columns = {}, [], None
    for shots in args.shots:
        for repeat in range(args.repeats):
            indices = select_images(num_images, shots, args.seed, repeat)
            run_cfg = run_config(cfg, shots, indices, args.iters)
            run_cfg.work_dir = osp.join(work_dir,
                                        f'shots{shots}_rep{repeat}')
            run_cfg.experiment_name = f'fewshot_shots{shots}_rep{repeat}'
            selection[f'{shots}/{repeat}'] = [
                full.get_data_info(i).get('img_id', i) for i in indices
            ]
            runner = build_runner(run_cfg)
            runner.train()
            metrics = runner.test()
            scores = dice_scores(metrics)
            if not scores:
                raise KeyError(f'{args.config}: the test metrics have no '
                               f'Dice key: {sorted(metrics)}')
            if columns is None:
                columns = list(scores)
            rows.append(
                dict(shots=shots, repeat=repeat,
                     **{k: scores[k] for k in columns}))
            with open(osp.join(work_dir, 'fewshot_selection.json'),
                      'w') as f:
                json.dump(selection, f, indent=1)
            write_tables(rows, columns, work_dir)
    print(open(osp.join(work_dir, 'fewshot.md')).read())


if __name__ == '__main__':
    main()
