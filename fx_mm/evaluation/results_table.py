# Copyright (c) fx_mm contributors. All rights reserved.
"""The paper-style results table: one row per (network, dataset), one
column per task's headline metric (cls AUC, loc mAP40, seg Dice).

Metric keys come from fx_mm's metrics as ``'{dataset}/{task}/{Metric}'``,
optionally prefixed with the evaluated network by the multi-slot loops
(``'teacher/jsrt/seg/Dice'``).
"""
import csv
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional

HEADLINE = dict(cls='AUC', loc='mAP40', seg='Dice')
COLUMNS = tuple(f'{task} {metric}' for task, metric in HEADLINE.items())
NETWORKS = ('teacher', 'student')


def results_rows(metrics: Dict[str, float]) -> List[dict]:
    """Rows ``dict(network=..., dataset=..., 'cls AUC'=..., ...)``.

    A missing task of a dataset is None (printed as ``-``); an undefined
    metric (NaN, e.g. AUC on a split with one label value) stays NaN.
    Keys that are not headline metrics are ignored.
    """
    table: Dict[tuple, dict] = {}
    for key, value in metrics.items():
        parts = key.split('/')
        network = ''
        if parts[0] in NETWORKS:
            network, parts = parts[0], parts[1:]
        if len(parts) != 3:
            continue
        dataset, task, metric = parts
        if HEADLINE.get(task) != metric:
            continue
        row = table.setdefault((network, dataset),
                               dict(network=network, dataset=dataset))
        row[f'{task} {metric}'] = float(value)
    # with one network the loops also log unprefixed keys: drop those
    # duplicates when the prefixed row exists
    networks = {network for network, _ in table}
    if '' in networks and len(networks) > 1:
        table = {k: v for k, v in table.items() if k[0] != ''}
    rows = []

    def order(key: tuple) -> tuple:
        network, dataset = key
        rank = NETWORKS.index(network) if network in NETWORKS else -1
        return rank, dataset

    for key in sorted(table, key=order):
        row = table[key]
        for column in COLUMNS:
            row.setdefault(column, None)
        rows.append(row)
    return rows


def nan_to_null(row: dict) -> dict:
    """``row`` with NaN values (undefined metrics) as None: NaN is not
    JSON, None is written as null."""
    return {
        k: None if isinstance(v, float) and math.isnan(v) else v
        for k, v in row.items()
    }


def _cell(value: Optional[float]) -> str:
    if value is None:
        return '-'
    if math.isnan(value):
        return 'n/a'
    return f'{value:.2f}'


def format_markdown(rows: List[dict]) -> str:
    """A GitHub-markdown table of :func:`results_rows`."""
    with_network = any(row['network'] for row in rows)
    header = (['network'] if with_network else []) + ['dataset'] + list(
        COLUMNS)
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join(['---'] * len(header)) + '|'
    ]
    for row in rows:
        cells = ([row['network']] if with_network else []) + [
            row['dataset']
        ] + [_cell(row[c]) for c in COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def dump_results_table(metrics: Dict[str, float],
                       out_dir: str,
                       stem: str = 'results') -> Dict[str, str]:
    """Write ``<stem>.md``, ``<stem>.json`` (all metrics and the rows) and
    ``<stem>.csv`` into ``out_dir``; returns the paths by format."""
    os.makedirs(out_dir, exist_ok=True)
    rows = results_rows(metrics)
    paths = {
        fmt: osp.join(out_dir, f'{stem}.{fmt}')
        for fmt in ('md', 'json', 'csv')
    }
    with open(paths['md'], 'w') as f:
        f.write(format_markdown(rows) + '\n')
    with open(paths['json'], 'w') as f:
        json.dump(
            dict(
                table=[nan_to_null(row) for row in rows],
                metrics=nan_to_null(
                    {k: float(v)
                     for k, v in metrics.items()})),
            f,
            indent=2)
    with open(paths['csv'], 'w', newline='') as f:
        writer = csv.DictWriter(
            f, fieldnames=['network', 'dataset', *COLUMNS])
        writer.writeheader()
        for row in rows:
            writer.writerow({
                k: ('' if v is None else v)
                for k, v in row.items()
            })
    return paths
