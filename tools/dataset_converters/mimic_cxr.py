# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert MIMIC-CXR-JPG (14 labels) to COCO json.

    python tools/dataset_converters/mimic_cxr.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/mimic_cxr_<task>.json`` and ``OUT/mimic_cxr_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
from fx_mm.datasets.converters import main

if __name__ == '__main__':
    main('mimic_cxr')
