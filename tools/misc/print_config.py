# Copyright (c) fx_mm contributors. All rights reserved.
"""Print a config after ``_base_`` inheritance and ``--cfg-options``.

Example::

    python tools/misc/print_config.py configs/<name>.py \
        --cfg-options train_cfg.max_iters=10
"""
import argparse

from mmengine.config import Config, DictAction

from fx_mm.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Print the whole config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs such as '
        'train_cfg.max_iters=10; lists as key="[a,b]" or key=a,b')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # custom_imports / mmdet:: bases resolve against registered modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    print(f'Config:\n{cfg.pretty_text}')


if __name__ == '__main__':
    main()
