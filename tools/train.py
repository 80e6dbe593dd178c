# Copyright (c) fx_mm contributors. All rights reserved.
"""Train a model from an fx_mm config.

Examples::

    python tools/train.py configs/<name>.py
    python tools/train.py configs/<name>.py --resume          # latest ckpt
    python tools/train.py configs/<name>.py --resume work_dirs/x/iter_8.pth
    bash tools/dist_train.sh configs/<name>.py 2
"""
import argparse
import logging
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from fx_mm.engine.runner import build_runner
from fx_mm.utils import (accelerator_available, register_all_modules,
                         setup_cpu_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an fx_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (needs a GPU)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the LR by total batch size / auto_scale_lr.base_batch_size'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, resume from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs such as '
        'train_cfg.max_iters=10 or env_cfg.dist_cfg.backend=gloo; lists as '
        'key="[a,b]" or key=a,b, nested as key="[(a,b),(c,d)]" (quotes '
        'needed, no white space)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank (older); torchrun sets the LOCAL_RANK variable instead
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_amp(cfg: Config) -> None:
    """Switch the config's optimizer wrapper to ``AmpOptimWrapper``."""
    if not accelerator_available():
        print(
            'tools/train.py: --amp needs a GPU (mmengine\'s AmpOptimWrapper '
            'uses torch.cuda.amp), and none is visible on this machine. Run '
            'without --amp on CPU.',
            file=sys.stderr)
        sys.exit(2)
    if cfg.get('optim_wrapper', None) is None:
        print(
            f'tools/train.py: --amp: {cfg.filename} has no optim_wrapper',
            file=sys.stderr)
        sys.exit(2)
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
        return
    if optim_wrapper != 'OptimWrapper':
        print(
            f'tools/train.py: --amp needs optim_wrapper.type=OptimWrapper, '
            f'but {cfg.filename} uses {optim_wrapper}.',
            file=sys.stderr)
        sys.exit(2)
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main() -> None:
    args = parse_args()
    # fx_mm's modules are found through the config's default_scope, so do
    # not force the scope here
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

    if args.amp:
        enable_amp(cfg)

    if args.auto_scale_lr:
        scale_cfg = cfg.get('auto_scale_lr', None)
        if not scale_cfg or 'base_batch_size' not in scale_cfg:
            print(
                f'tools/train.py: --auto-scale-lr needs '
                f'auto_scale_lr=dict(base_batch_size=...) in {args.config}',
                file=sys.stderr)
            sys.exit(2)
        cfg.auto_scale_lr.enable = True

    # resume: an explicit checkpoint, or 'auto' = latest in work_dir
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    setup_cpu_distributed(cfg, args.launcher)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
