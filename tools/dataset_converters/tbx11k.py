# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert TBX11K (TB label, 3 box classes) to COCO json.

    python tools/dataset_converters/tbx11k.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/tbx11k_<task>.json`` and ``OUT/tbx11k_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
import os.path as osp
import sys

# the command line shared by the converters lives next to this script
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from converter_cli import main  # noqa: E402

if __name__ == '__main__':
    main('tbx11k')
