# Copyright (c) fx_mm contributors. All rights reserved.
"""The paper-style results table: one row per (network, dataset), one
column per task's headline metric (cls AUC, loc mAP40, seg Dice).

Metric keys come from fx_mm's metrics as ``'{dataset}/{task}/{Metric}'``,
prefixed with the evaluated network by the multi-slot loops
(``'teacher/jsrt/seg/Dice'``; a plain mmengine loop leaves the prefix out).

A cell without a number has one spelling, whatever the reason (a metric
undefined on the split -- NaN, e.g. an AUC over one label value -- or a task
the dataset was not evaluated on): :data:`MISSING` (``n/a``) in the markdown
and CSV files, ``null`` in the JSON file (JSON has no NaN).
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
#: How a cell without a number is written in the markdown and CSV files.
MISSING = 'n/a'


def results_rows(metrics: Dict[str, float]) -> List[dict]:
    """Rows ``dict(network=..., dataset=..., 'cls AUC'=..., ...)``.

    A missing task of a dataset is None; an undefined metric (NaN, e.g.
    AUC on a split with one label value) stays NaN; both are written as
    :data:`MISSING`. Keys that are not headline metrics are ignored.
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
    """``row`` with NaN values (undefined metrics) as None, also in the
    dicts and lists it holds: NaN is not JSON, None is written as null."""
    return {k: _null_if_missing(v) for k, v in row.items()}


def _null_if_missing(value):
    if isinstance(value, dict):
        return nan_to_null(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_null_if_missing(v) for v in value)
    return None if _is_missing(value) else value


def _is_missing(value: Optional[float]) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value: Optional[float]) -> str:
    return MISSING if _is_missing(value) else f'{value:.2f}'


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
    ``<stem>.csv`` into ``out_dir``; returns the paths by format. Cells
    without a number: :data:`MISSING` in md / csv, ``null`` in json."""
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
                k: MISSING if _is_missing(v) else v
                for k, v in row.items()
            })
    return paths
