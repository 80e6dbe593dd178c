# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert Montgomery (TB label, lung masks) to COCO json.

    python tools/dataset_converters/montgomery.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/montgomery_<task>.json`` and ``OUT/montgomery_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
import os.path as osp
import sys

# the command line shared by the converters lives next to this script
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from converter_cli import main  # noqa: E402

if __name__ == '__main__':
    main('montgomery')
