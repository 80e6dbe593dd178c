# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert VinDr-CXR (6 global labels, 14 box classes) to COCO json.

    python tools/dataset_converters/vindr_cxr.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/vindr_cxr_<task>.json`` and ``OUT/vindr_cxr_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
from fx_mm.datasets.converters import main

if __name__ == '__main__':
    main('vindr_cxr')
