# Copyright (c) fx_mm contributors. All rights reserved.
"""Learning curves of a Cyclic & Lock-Release run: student vs teacher.

Reads what mmengine writes into a work dir during ``tools/train.py``:

- ``<timestamp>/vis_data/scalars.json``: one JSON object per line
  (``LocalVisBackend``); validation records hold the metrics of
  :class:`MultiSlotValLoop` (``student/jsrt/seg/Dice``,
  ``teacher/jsrt/seg/Dice``, ...) and ``step`` = the global iteration
  (``LoggerHook(log_metric_by_epoch=False)`` as in fx_mm's runtime);
- ``<timestamp>/<timestamp>.log``: the loop's lines
  ``cycle c/N | slot s/M <name> | <phase> phase: K iterations`` give the
  iterations of a cycle, so the x axis can be drawn in cycles.

One panel per (dataset, task) with the chosen metric of the task, one curve
per network; the x axis counts whole cycles, the y axis spans 0-100 (the
metrics are percentages; ``--ylim`` / ``--autoscale-y`` change it).
Validation may run after every slot (``val_scope='slots'``
evaluates only the trained slots) and/or at cycle ends; each validation
record holds exactly the slots evaluated then (``MultiSlotValLoop`` clears
the previous validation's metrics from the message hub before logging).
Several timestamp dirs (a
run resumed with ``--resume``) are joined in time order; a later record of
the same key and step replaces an earlier one (a resume repeats the steps
after its checkpoint). A timestamp dir that trains without resuming starts
a new run: the dirs before it are left out (with a message).

Example::

    python tools/analysis_tools/plot_slots.py work_dirs/fx_swin-t_jsrt \\
        --out curves.png --metrics cls/AUC loc/mAP40 seg/Dice
"""
import argparse
import json
import math
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

TASK_ORDER = ('cls', 'loc', 'seg')
DEFAULT_METRICS = ('cls/AUC', 'loc/mAP40', 'seg/Dice')
NETWORK_STYLE = dict(
    student=dict(color='tab:blue', marker='o'),
    teacher=dict(color='tab:orange', marker='s'),
    model=dict(color='tab:green', marker='^'))
LOOP_LINE = re.compile(r'cycle (\d+)/(\d+) \| slot (\d+)/(\d+) (\S+) \| '
                       r'(lock|release) phase: (\d+) iterations')
METRIC_KEY = re.compile(
    r'^(?:(student|teacher)/)?([^/]+)/(cls|loc|seg)/([^/]+)$')
RESUME_MARKERS = ('Resuming the cyclic loop', 'resumed epoch:')
#: fx_mm's metrics (AUC, mAP, Dice ...) are logged in percent
DEFAULT_YLIM = (0.0, 100.0)
#: smallest text of the figure (legend), in points; 9 pt = 12.5 px at the
#: 100 dpi it is saved with
SMALL_FONT_PT = 9
SAVE_DPI = 100

# (network, dataset, task, metric) -> {step: value}
Series = Dict[Tuple[str, str, str, str], Dict[int, float]]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Plot student vs teacher validation curves per '
        '(dataset, task) of an fx_mm training work dir')
    parser.add_argument('work_dir', help='the training run\'s work dir')
    parser.add_argument(
        '--out', help='PNG to write; defaults to WORK_DIR/learning_curves.png')
    parser.add_argument(
        '--metrics',
        nargs='+',
        default=list(DEFAULT_METRICS),
        help='task/metric per task, e.g. cls/AUC loc/mAP40 seg/Dice')
    parser.add_argument(
        '--ylim',
        nargs=2,
        type=float,
        default=list(DEFAULT_YLIM),
        metavar=('LOW', 'HIGH'),
        help='y axis range; fx_mm\'s metrics are percentages, so the '
        'default 0 100 keeps a 0.03-point wobble flat')
    parser.add_argument(
        '--autoscale-y',
        action='store_true',
        help='fit the y axis to the values instead of --ylim')
    parser.add_argument(
        '--x',
        choices=('cycle', 'iter'),
        default='cycle',
        help='x axis: cycles (from the loop lines of the log; falls back '
        'to iterations when the log has none) or iterations')
    return parser.parse_args(argv)


def parse_metric_specs(specs: Sequence[str]) -> Dict[str, str]:
    """``['cls/AUC', 'seg/Dice']`` -> ``{'cls': 'AUC', 'seg': 'Dice'}``."""
    chosen: Dict[str, str] = {}
    for spec in specs:
        task, _, name = spec.partition('/')
        if task not in TASK_ORDER or not name or '/' in name:
            raise ValueError(f'--metrics: {spec!r} is not TASK/METRIC with '
                             f'TASK one of {TASK_ORDER} (e.g. seg/Dice)')
        if task in chosen:
            raise ValueError(f'--metrics: two metrics for task {task!r}')
        chosen[task] = name
    return chosen


def find_run_dirs(work_dir: str) -> List[str]:
    """Timestamp dirs of ``work_dir`` holding a scalars file, oldest
    first (mmengine names them ``%Y%m%d_%H%M%S``)."""
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'{work_dir}: no such directory')
    runs = []
    for name in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, name)
        if osp.isfile(osp.join(path, 'vis_data', 'scalars.json')):
            runs.append(path)
    return runs


def read_scalars(path: str) -> List[dict]:
    """The records of one ``scalars.json`` (one JSON object a line)."""
    records = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}, line {lineno}: not JSON '
                                 f'({err})') from None
            if not isinstance(record, dict) or 'step' not in record:
                raise ValueError(f'{path}, line {lineno}: a record needs a '
                                 '"step" key')
            records.append(record)
    return records


def read_loop_log(run_dir: str) -> dict:
    """Phase lengths, slot count and resume flag from a run's text log."""
    name = osp.basename(run_dir.rstrip(os.sep))
    info = dict(phase_lens={}, num_slots=None, trains=False, resumed=False)
    log = osp.join(run_dir, f'{name}.log')
    if not osp.isfile(log):
        return info
    with open(log, errors='replace') as f:
        for line in f:
            if any(marker in line for marker in RESUME_MARKERS):
                info['resumed'] = True
            match = LOOP_LINE.search(line)
            if match:
                info['trains'] = True
                slot, num_slots = int(match.group(3)), int(match.group(4))
                info['num_slots'] = num_slots
                info['phase_lens'][(slot,
                                    match.group(6))] = int(match.group(7))
    return info


def val_points(record: dict) -> Dict[Tuple[str, str, str, str], float]:
    """The validation metrics of one record, keyed (network, dataset,
    task, metric). Keys without a network prefix (a one-network
    validation logs both) count as network ``model`` only when the record
    has no prefixed twin."""
    points = {}
    for key, value in record.items():
        match = METRIC_KEY.match(key)
        if match is None or not isinstance(value, (int, float)):
            continue
        network, dataset, task, metric = match.groups()
        if network is None:
            if any(f'{n}/{key}' in record for n in ('student', 'teacher')):
                continue
            network = 'model'
        points[(network, dataset, task, metric)] = float(value)
    return points


def load_run(work_dir: str) -> Tuple[Series, Optional[int], List[str]]:
    """(validation series, iterations per cycle or None, dirs used)."""
    run_dirs = find_run_dirs(work_dir)
    series: Series = {}
    used: List[str] = []
    phase_lens: Dict[tuple, int] = {}
    num_slots = None
    for run_dir in run_dirs:
        log = read_loop_log(run_dir)
        if log['trains'] and not log['resumed'] and used:
            print(f'{run_dir} starts a new training (no resume): the '
                  f'earlier dirs {[osp.basename(d) for d in used]} are '
                  'left out')
            series, used = {}, []
            phase_lens, num_slots = {}, None
        records = read_scalars(osp.join(run_dir, 'vis_data', 'scalars.json'))
        found = False
        for record in records:
            for key, value in val_points(record).items():
                found = True
                series.setdefault(key, {})[int(record['step'])] = value
        if found or log['trains']:
            used.append(run_dir)
        phase_lens.update(log['phase_lens'])
        num_slots = log['num_slots'] or num_slots
    iters_per_cycle = None
    if num_slots and {s
                      for s, _ in phase_lens} == set(range(1, num_slots + 1)):
        iters_per_cycle = sum(phase_lens.values())
    return series, iters_per_cycle, used


def select(series: Series, metrics: Dict[str,
                                         str]) -> Dict[Tuple[str, str], dict]:
    """``{(dataset, task): {network: (steps, values)}}`` of the chosen
    metric of each task."""
    panels: Dict[Tuple[str, str], dict] = {}
    for (network, dataset, task, metric), points in series.items():
        if metrics.get(task) != metric:
            continue
        steps = sorted(points)
        panels.setdefault((dataset, task),
                          {})[network] = (steps, [points[s] for s in steps])
    return dict(
        sorted(
            panels.items(),
            key=lambda kv: (kv[0][0], TASK_ORDER.index(kv[0][1]))))


def draw_panels(panels: Dict[Tuple[str, str], dict],
                metrics: Dict[str, str],
                iters_per_cycle: Optional[int],
                title: str,
                ylim: Optional[Tuple[float, float]] = DEFAULT_YLIM):
    """The figure of :func:`plot_panels`: one axes per (dataset, task).

    The x axis counts cycles (whole-number ticks, from 0 to the last
    cycle reached) when ``iters_per_cycle`` is known, else iterations; the
    y axis spans ``ylim`` (None fits it to the values).

    Returns:
        matplotlib.figure.Figure: The figure (the caller closes it).
    """
    num = len(panels)
    cols = min(3, num)
    rows = math.ceil(num / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    scale = float(iters_per_cycle) if iters_per_cycle else 1.0
    for ax, ((dataset, task), networks) in zip(axes.flat, panels.items()):
        last = 0.0
        for network in sorted(networks):
            steps, values = networks[network]
            xs = [s / scale for s in steps]
            last = max(last, xs[-1])
            ax.plot(
                xs,
                values,
                label=network,
                markersize=4,
                **NETWORK_STYLE.get(network, {}))
        if iters_per_cycle:
            for cycle in range(1, int(math.floor(last)) + 1):
                ax.axvline(cycle, color='0.85', linewidth=0.8, zorder=0)
            # from the start to the last cycle reached, a small margin
            # keeping the end markers whole
            cycles = max(1, math.ceil(last))
            ax.set_xlim(-0.03 * cycles, 1.03 * cycles)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_title(f'{dataset} / {task}')
        ax.set_xlabel('cycle' if iters_per_cycle else 'iteration')
        ax.set_ylabel(metrics[task])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=SMALL_FONT_PT)
    for ax in list(axes.flat)[num:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_panels(panels: Dict[Tuple[str, str], dict],
                metrics: Dict[str, str],
                out: str,
                iters_per_cycle: Optional[int],
                title: str,
                ylim: Optional[Tuple[float, float]] = DEFAULT_YLIM) -> str:
    """Write :func:`draw_panels`' figure to ``out`` (PNG)."""
    fig = draw_panels(panels, metrics, iters_per_cycle, title, ylim)
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(out, dpi=SAVE_DPI)
    plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    metrics = parse_metric_specs(args.metrics)
    series, iters_per_cycle, used = load_run(args.work_dir)
    if not series:
        raise ValueError(
            f'{args.work_dir}: no validation metrics found (looked for '
            '<network>/<dataset>/<task>/<metric> keys in '
            '<timestamp>/vis_data/scalars.json of '
            f'{len(find_run_dirs(args.work_dir))} run dir(s)); was the run '
            'validated (train_cfg.val_interval / val_at_cycle_end)?')
    panels = select(series, metrics)
    if not panels:
        available = sorted({f'{t}/{m}' for _, _, t, m in series})
        raise ValueError(f'{args.work_dir}: none of --metrics '
                         f'{args.metrics} was validated; available: '
                         f'{available}')
    if args.x == 'iter':
        iters_per_cycle = None
    elif iters_per_cycle is None:
        print('the logs do not give a whole cycle\'s iterations: x axis in '
              'iterations')
    out = args.out or osp.join(args.work_dir, 'learning_curves.png')
    title = (f'{osp.basename(osp.abspath(args.work_dir))}: '
             f'{", ".join(osp.basename(d) for d in used)}')
    ylim = None if args.autoscale_y else tuple(args.ylim)
    plot_panels(panels, metrics, out, iters_per_cycle, title, ylim)
    print(f'{len(panels)} panel(s) written to {out}')
    return out


if __name__ == '__main__':
    main()
