# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert RSNA Pneumonia (3-class label, Lung Opacity boxes) to COCO json.

    python tools/dataset_converters/rsna.py DATA_ROOT --out-dir OUT

Reads DATA_ROOT with the fx_mm loader (the files training reads) and writes
``OUT/rsna_<task>.json`` and ``OUT/rsna_<task>_<split>.txt``;
``--help`` lists the tasks, splits and options. See docs/datasets.md.
"""
from fx_mm.datasets.converters import main

if __name__ == '__main__':
    main('rsna')
