# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert TBX11K (TB label, 3 box classes) to COCO json.

    python tools/dataset_converters/tbx11k.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/tbx11k_<task>.json`` and ``OUT/tbx11k_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
from fx_mm.datasets.converters import main

if __name__ == '__main__':
    main('tbx11k')
