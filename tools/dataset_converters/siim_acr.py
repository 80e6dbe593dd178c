# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert SIIM-ACR Pneumothorax (label, boxes, masks) to COCO json.

    python tools/dataset_converters/siim_acr.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/siim_acr_<task>.json`` and ``OUT/siim_acr_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
from fx_mm.datasets.converters import main

if __name__ == '__main__':
    main('siim_acr')
