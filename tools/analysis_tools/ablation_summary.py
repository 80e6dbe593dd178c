# Copyright (c) fx_mm contributors. All rights reserved.
"""The results of ``multitask_ablation.py`` (which imports this module
from its folder): each run's headline metrics, the rows of one seed, the
mean and sample sd over seeds, and the markdown and JSON reports."""
import json
import math
from typing import Dict, List, Optional, Sequence, Tuple

from fx_mm.evaluation.results_table import HEADLINE, nan_to_null

MULTI_TASK = 'multi-task'
SINGLE_TASK = 'single-task'


def headline_metrics(results_json: str) -> Dict[tuple, float]:
    """``{(dataset, task, network): value}`` of a results.json."""
    with open(results_json) as f:
        metrics = json.load(f)['metrics']
    values = {}
    for key, value in metrics.items():
        parts = key.split('/')
        if len(parts) != 4 or parts[0] not in ('teacher', 'student'):
            continue
        network, dataset, task, metric = parts
        if HEADLINE.get(task) == metric:
            values[(dataset, task, network)] = (
                math.nan if value is None else value)
    return values


def ablation_rows(results: Dict[str, Dict[tuple, float]]) -> List[dict]:
    """Rows of one seed: every run's metric per (dataset, task, network)
    of the multi-task run, and the difference multi-task - single-task."""
    variants = [
        name for name in results
        if name != MULTI_TASK and not name.startswith(SINGLE_TASK)
    ]
    rows = []
    for (dataset, task, network), multi in sorted(
            results[MULTI_TASK].items(),
            key=lambda kv: (kv[0][1], kv[0][0], kv[0][2] != 'teacher')):
        single = results.get(f'{SINGLE_TASK}_{task}', {}).get(
            (dataset, task, network), math.nan)
        row = dict(
            dataset=dataset,
            task=task,
            metric=HEADLINE[task],
            network=network,
            multi_task=multi)
        for variant in variants:
            row[variant] = results[variant].get((dataset, task, network),
                                                math.nan)
        row.update(single_task=single, difference=multi - single)
        rows.append(row)
    return rows


def _run_columns(rows: List[dict]) -> List[str]:
    """The runs' metric columns of ``rows`` (of one seed or of the
    summary), in run order: multi-task, variants, single-task."""
    if not rows:
        return ['multi_task', 'single_task']
    return [
        k for k in rows[0]
        if k not in ('dataset', 'task', 'metric', 'network', 'difference',
                     'seeds') and not k.endswith(' - single_task')
    ]


def _column_title(key: str) -> str:
    return key.replace('_', '-')


def summarise(rows_per_seed: Dict[str, List[dict]]) -> List[dict]:
    """Mean and sample sd over the seeds of every run's metric and of the
    paired differences "run - single-task" (rows matched by dataset, task
    and network)."""
    seeds = list(rows_per_seed)
    first = rows_per_seed[seeds[0]]
    columns = _run_columns(first)
    summary = []
    for row in first:
        key = (row['dataset'], row['task'], row['network'])
        matched = [
            next(r for r in rows_per_seed[seed]
                 if (r['dataset'], r['task'], r['network']) == key)
            for seed in seeds
        ]
        out = dict(
            dataset=row['dataset'],
            task=row['task'],
            metric=row['metric'],
            network=row['network'],
            seeds=len(seeds))
        for column in columns:
            out[column] = _mean_sd([r[column] for r in matched])
            if column != 'single_task':
                out[f'{column} - single_task'] = _mean_sd(
                    [r[column] - r['single_task'] for r in matched])
        summary.append(out)
    return summary


def _mean_sd(values: List[float]) -> Dict[str, float]:
    """Mean and sample sd (0 for one value); NaN when any value is NaN."""
    mean = sum(values) / len(values)
    if len(values) < 2 or math.isnan(mean):
        sd = 0.0 if not math.isnan(mean) else math.nan
    else:
        sd = math.sqrt(sum((v - mean)**2 for v in values) / (len(values) - 1))
    return dict(mean=mean, sd=sd, values=values)


def _cell(stat: Dict[str, float], signed: bool = False) -> str:
    fmt = '{:+.2f}' if signed else '{:.2f}'
    if math.isnan(stat['mean']):
        return '-'
    if len(stat['values']) == 1:
        return fmt.format(stat['mean'])
    return f'{fmt.format(stat["mean"])} ± {stat["sd"]:.2f}'


def format_ablation(rows: List[dict], runs: Dict[str, dict]) -> str:
    """One seed's table: each run's metric and multi - single."""
    columns = _run_columns(rows)
    cell = ('{:.2f}'.format)
    lines = [
        '| dataset | task | metric | network | ' +
        ' | '.join(_column_title(c) for c in columns) + ' | multi - single |',
        '|---|---|---|---|' + '---|' * (len(columns) + 1)
    ]
    for row in rows:
        lines.append('| ' + ' | '.join(
            [row['dataset'], row['task'], row['metric'], row['network']] +
            [cell(row[c])
             for c in columns] + [f'{row["difference"]:+.2f}']) + ' |')
    return '\n'.join(lines + [''] + _runs_table(runs))


def format_summary(summary: List[dict], runs: Dict[str, dict]) -> str:
    """The seeds' table: mean ± sd of each run's metric, then of each
    paired difference to the single-task run."""
    columns = _run_columns(summary)
    differences = [c for c in columns if c != 'single_task']
    lines = [
        f'Mean ± sd over {summary[0]["seeds"]} seeds.', '',
        '| dataset | task | metric | network | ' +
        ' | '.join(_column_title(c) for c in columns) + ' | ' +
        ' | '.join(f'{_column_title(c)} - single' for c in differences) + ' |',
        '|---|---|---|---|' + '---|' * (len(columns) + len(differences))
    ]
    for row in summary:
        lines.append('| ' + ' | '.join(
            [row['dataset'], row['task'], row['metric'], row['network']] +
            [_cell(row[c]) for c in columns] + [
                _cell(row[f'{c} - single_task'], signed=True)
                for c in differences
            ]) + ' |')
    return '\n'.join(lines + [''] + _runs_table(runs))


def _runs_table(runs: Dict[str, dict]) -> List[str]:
    lines = [
        '| run | train iterations | train time (s) | test time (s) |',
        '|---|---|---|---|'
    ]
    for name, run in runs.items():
        lines.append(f'| {name} | {run["iterations"]} | '
                     f'{run["train_seconds"]} | {run["test_seconds"]} |')
    return lines


def ablation_report(rows_per_seed: Dict[str, List[dict]],
                    runs: Dict[str, dict],
                    seeds: Optional[Sequence[int]] = None) -> Tuple[str, dict]:
    """The study's markdown table and JSON report (NaN written as null):
    with ``seeds``, the summary over them and each seed's rows; without,
    the rows of the one seed in ``rows_per_seed``."""
    if seeds:
        summary = summarise(rows_per_seed)
        report = dict(
            seeds=list(seeds),
            summary=[nan_to_null(row) for row in summary],
            rows={
                seed: [nan_to_null(row) for row in rows]
                for seed, rows in rows_per_seed.items()
            },
            runs=runs)
        return format_summary(summary, runs), report
    rows, = rows_per_seed.values()
    report = dict(rows=[nan_to_null(row) for row in rows], runs=runs)
    return format_ablation(rows, runs), report
