# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert CheXmask (organ boxes and masks) to COCO json.

    python tools/dataset_converters/chexmask.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/chexmask_<task>.json`` and ``OUT/chexmask_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
from fx_mm.datasets.converters import main

if __name__ == '__main__':
    main('chexmask')
