# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert NIH ChestX-ray14 (14 labels, 8 box classes) to COCO json.

    python tools/dataset_converters/nih.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/nih_<task>.json`` and ``OUT/nih_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
from fx_mm.datasets.converters import main

if __name__ == '__main__':
    main('nih')
