# Copyright (c) fx_mm contributors. All rights reserved.
"""Transfer matrix of a Cyclic & Lock-Release run: slot trained -> change
of each slot's metric (the paper's cross-task / cross-dataset figure).

The run must validate EVERY val slot after every slot it trains
(``train_cfg = dict(val_interval=1, val_scope='all')``). Then the
validation after slot ``k`` minus the validation before it (after slot
``k - 1``, or after the last slot of the previous cycle) is what training
slot ``k`` did to each (dataset, task): a row of the matrix. Rows are the
train slots in visiting order, columns the validated (dataset, task) pairs
with the chosen metric of their task; a cell is the mean change over the
cycles (the first slot of the first cycle has no validation before it, so
its row starts from cycle 2). One matrix per network (student, teacher).

Reads the work dir as ``plot_slots.py`` does (``<timestamp>/vis_data/
scalars.json`` for the metrics, ``<timestamp>/<timestamp>.log`` for the
loop's phase lengths and slot names; resumed runs joined) and writes:

- ``--out`` (PNG): one heat map per network, red = the metric rose;
- ``<out>.json``: slots, columns, the mean change per cell and the change
  of every cycle (``null`` where none);
- ``<out>.md``: the matrices as Markdown tables (also printed).

Example::

    python tools/analysis_tools/transfer_matrix.py work_dirs/fx_jsrt \\
        --out transfer.png --metrics cls/AUC loc/mAP40 seg/Dice
"""
import argparse
import json
import math
import os
import os.path as osp
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from plot_slots import (DEFAULT_METRICS, LOOP_LINE, TASK_ORDER,  # noqa: E402
                        find_run_dirs, load_run, parse_metric_specs)

NETWORKS = ('student', 'teacher', 'model')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Slot trained -> change of every slot\'s validation '
        'metric, per network, from a work dir trained with '
        "val_scope='all'")
    parser.add_argument('work_dir', help='the training run\'s work dir')
    parser.add_argument(
        '--out',
        help='PNG to write; defaults to WORK_DIR/transfer_matrix.png')
    parser.add_argument(
        '--metrics',
        nargs='+',
        default=list(DEFAULT_METRICS),
        help='task/metric per task, e.g. cls/AUC loc/mAP40 seg/Dice')
    return parser.parse_args(argv)


def slot_schedule(work_dir: str) -> Tuple[List[str], List[int]]:
    """Slot names in visiting order and the iteration, within a cycle, at
    which each slot ends (from the loop lines of the text logs)."""
    names: Dict[int, str] = {}
    lens: Dict[Tuple[int, str], int] = {}
    num_slots = None
    for run_dir in find_run_dirs(work_dir):
        log = osp.join(run_dir, f'{osp.basename(run_dir)}.log')
        if not osp.isfile(log):
            continue
        with open(log, errors='replace') as f:
            for line in f:
                match = LOOP_LINE.search(line)
                if match:
                    slot = int(match.group(3))
                    num_slots = int(match.group(4))
                    names[slot] = match.group(5)
                    lens[(slot, match.group(6))] = int(match.group(7))
    if not num_slots or set(names) != set(range(1, num_slots + 1)):
        raise ValueError(
            f'{work_dir}: the text logs do not name every slot of a cycle '
            '(lines "cycle c/N | slot s/M <name> | <phase> phase: K '
            'iterations"); train at least one whole cycle')
    ends, total = [], 0
    for slot in range(1, num_slots + 1):
        total += lens.get((slot, 'lock'), 0) + lens.get((slot, 'release'), 0)
        ends.append(total)
    return [names[s] for s in range(1, num_slots + 1)], ends


def transfer(series: dict, metrics: Dict[str, str], slots: List[str],
             ends: List[int]) -> dict:
    """``{network: dict(columns, mean, per_cycle)}``.

    ``per_cycle[row][col]``: the change in each cycle (None where the
    validation before or after is missing or NaN, e.g. an AUC of a val set
    with one class only); ``mean[row][col]``: their mean (None when
    none).
    """
    per_cycle_len = ends[-1]
    end_slot = {end % per_cycle_len: k for k, end in enumerate(ends)}
    result = {}
    for network in NETWORKS:
        columns = sorted(
            {(d, t)
             for n, d, t, m in series if n == network and metrics.get(t) == m
             },
            key=lambda c: (c[0], TASK_ORDER.index(c[1])))
        if not columns:
            continue
        steps = sorted({
            s
            for (n, d, t, m), points in series.items() if n == network
            for s in points
        })
        cycles = (max(steps) - 1) // per_cycle_len + 1
        changes = [[[None] * cycles for _ in columns] for _ in slots]
        for before, after in zip(steps, steps[1:]):
            row = end_slot.get(after % per_cycle_len)
            previous = (row - 1) % len(slots) if row is not None else None
            if row is None or end_slot.get(before % per_cycle_len) != \
                    previous or after - before != \
                    (ends[row] - (ends[previous] if row else 0)):
                continue  # not one slot apart
            cycle = (after - 1) // per_cycle_len
            for col, (dataset, task) in enumerate(columns):
                points = series.get((network, dataset, task, metrics[task]),
                                    {})
                change = points.get(after, math.nan) - points.get(
                    before, math.nan)
                if not math.isnan(change):  # NaN: a metric undefined
                    changes[row][col][cycle] = change
        mean = [[
            statistics.mean(v for v in cell if v is not None)
            if any(v is not None for v in cell) else None for cell in row
        ] for row in changes]
        result[network] = dict(
            columns=[f'{d}/{t}/{metrics[t]}' for d, t in columns],
            mean=mean,
            per_cycle=changes)
    return result


def markdown(matrices: dict, slots: List[str]) -> str:
    lines = []
    for network, matrix in matrices.items():
        lines += [
            f'### {network}', '',
            '| slot trained | ' + ' | '.join(matrix['columns']) + ' |',
            '|---|' + '---:|' * len(matrix['columns'])
        ]
        for name, row in zip(slots, matrix['mean']):
            cells = ['' if v is None else f'{v:+.3f}' for v in row]
            lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    lines.append('Change of each column\'s metric over the training of the '
                 'row\'s slot (validation after it minus validation before '
                 'it), mean over the cycles.')
    return '\n'.join(lines)


def plot(matrices: dict, slots: List[str], out: str, title: str) -> str:
    num = len(matrices)
    width = max(len(m['columns']) for m in matrices.values())
    fig, axes = plt.subplots(
        1,
        num,
        figsize=(num * (1.0 * width + 2.8), 0.8 * len(slots) + 2.6),
        squeeze=False)
    for ax, (network, matrix) in zip(axes.flat, matrices.items()):
        values = [[math.nan if v is None else v for v in row]
                  for row in matrix['mean']]
        finite = [abs(v) for row in values for v in row if not math.isnan(v)]
        limit = max(finite) if finite and max(finite) > 0 else 1.0
        image = ax.imshow(values, cmap='RdBu_r', vmin=-limit, vmax=limit)
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                if not math.isnan(value):
                    # white on the dark ends of the colour map
                    color = 'white' if abs(value) > 0.6 * limit else 'black'
                    ax.text(c, r, f'{value:+.2f}', ha='center', va='center',
                            fontsize=9, color=color)
        ax.set_xticks(range(len(matrix['columns'])))
        ax.set_xticklabels(matrix['columns'], rotation=45, ha='right',
                           fontsize=7)
        ax.set_yticks(range(len(slots)))
        ax.set_yticklabels(slots, fontsize=7)
        ax.set_xlabel('metric changed')
        ax.set_ylabel('slot trained')
        ax.set_title(network)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))  # leave the suptitle its row
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches='tight')  # rotated labels kept
    plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    metrics = parse_metric_specs(args.metrics)
    series, _, used = load_run(args.work_dir)
    slots, ends = slot_schedule(args.work_dir)
    matrices = transfer(series, metrics, slots, ends)
    if not any(
            v is not None for m in matrices.values() for row in m['mean']
            for v in row):
        raise ValueError(
            f'{args.work_dir}: no two validations one slot apart hold the '
            f'same metric ({args.metrics}); train with train_cfg.'
            "val_interval=1 and val_scope='all'")
    out = args.out or osp.join(args.work_dir, 'transfer_matrix.png')
    title = (f'{osp.basename(osp.abspath(args.work_dir))}: slot trained -> '
             'change of each metric')
    plot(matrices, slots, out, title)
    stem = osp.splitext(out)[0]
    table = markdown(matrices, slots)
    with open(f'{stem}.md', 'w') as f:
        f.write(table + '\n')
    with open(f'{stem}.json', 'w') as f:
        json.dump(dict(slots=slots, metrics=metrics, **matrices), f,
                  indent=1)
    print(table)
    print(f'written: {out}, {stem}.md, {stem}.json')
    return dict(slots=slots, **matrices)


if __name__ == '__main__':
    main()
