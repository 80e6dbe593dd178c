# Copyright (c) fx_mm contributors. All rights reserved.
"""Test (and evaluate) a checkpoint with an fx_mm config.

Examples::

    python tools/test.py configs/<name>.py work_dirs/<name>/iter_8.pth
    python tools/test.py configs/<name>.py ckpt.pth --model-key student
    python tools/test.py configs/<name>.py ckpt.pth --out results.pkl
    bash tools/dist_test.sh configs/<name>.py ckpt.pth 2
"""
import argparse
import os
import os.path as osp
import sys
from typing import NoReturn

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dist import is_main_process

from fx_mm.engine.runner import build_runner
from fx_mm.evaluation.results_table import (dump_results_table,
                                            format_markdown, results_rows)
from fx_mm.utils import register_all_modules, setup_cpu_distributed
from fx_mm.utils.checkpoint import (RemoteCheckpointError,
                                    check_local_checkpoint)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an fx_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file (.pkl) for offline '
        'evaluation')
    parser.add_argument(
        '--model-key',
        nargs='+',
        choices=['teacher', 'student'],
        help='which network(s) of a teacher-student checkpoint predict: '
        '`teacher`, `student` or both (`--model-key teacher student`); '
        'default: the config\'s choice')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved; relative to '
        'work_dir/timestamp')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs such as '
        'test_dataloader.batch_size=1; lists as key="[a,b]" or key=a,b, '
        'nested as key="[(a,b),(c,d)]" (quotes needed, no white space)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def fail(message: str) -> NoReturn:
    print(f'tools/test.py: {message}', file=sys.stderr)
    sys.exit(2)


def trigger_visualization_hook(cfg: Config, args: argparse.Namespace) -> None:
    """Turn on drawing in the config's ``visualization`` hook."""
    hook = cfg.get('default_hooks', {}).get('visualization', None)
    if hook is None:
        print(
            f'tools/test.py: WARNING: {args.config} has no '
            'default_hooks.visualization hook; --show / --show-dir are '
            'ignored',
            file=sys.stderr)
        return
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        hook['test_out_dir'] = args.show_dir


def add_dump_metric(cfg: Config, out: str) -> None:
    """Append mmengine's ``DumpResults`` to the config's test evaluator."""
    dump = ConfigDict(type='DumpResults', out_file_path=out)
    evaluator = cfg.get('test_evaluator', None)
    if evaluator is None:
        fail(f'--out: {cfg.filename} has no test_evaluator')
    if isinstance(evaluator, (list, tuple)):
        cfg.test_evaluator = [*evaluator, dump]
    elif 'metrics' in evaluator:  # dict(type='Evaluator', metrics=...)
        metrics = evaluator['metrics']
        if not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        evaluator['metrics'] = [*metrics, dump]
    else:  # a single metric
        cfg.test_evaluator = [evaluator, dump]


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir: command line > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    try:  # fx_mm never downloads: a URL is refused before any fetch
        checkpoint = check_local_checkpoint(args.checkpoint)
    except RemoteCheckpointError as error:
        fail(str(error))
    if not osp.isfile(checkpoint):
        fail(f'checkpoint file not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint

    if args.model_key is not None:
        if 'predict_on' not in cfg.model:
            fail(f'--model-key: the model of {args.config} '
                 f'({cfg.model.get("type")}) has no predict_on setting; '
                 'it applies to teacher-student models only')
        cfg.model.predict_on = args.model_key[0]
        test_cfg = cfg.get('test_cfg', None) or {}
        if 'slots' in test_cfg:  # fx_mm's MultiSlotTestLoop
            test_cfg.predict_on = list(dict.fromkeys(args.model_key))
        elif len(args.model_key) > 1:
            fail('--model-key with two networks needs a MultiSlotTestLoop '
                 'test_cfg')

    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)

    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            fail(f'--out must name a .pkl or .pickle file, got {args.out}')
        add_dump_metric(cfg, args.out)

    setup_cpu_distributed(cfg, args.launcher)
    runner = build_runner(cfg)
    metrics = runner.test()
    if is_main_process():
        report_results(metrics, cfg.work_dir)


def report_results(metrics: dict, work_dir: str) -> None:
    """Print the results table and write it as md / json / csv."""
    rows = results_rows(metrics)
    if not rows:
        print('tools/test.py: the evaluator returned no AUC / mAP40 / Dice '
              'metric; no results table written')
        return
    paths = dump_results_table(metrics, work_dir)
    print('\n' + format_markdown(rows) + '\n')
    print('results table: ' + ', '.join(paths.values()))


if __name__ == '__main__':
    main()
