# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert any supported public CXR dataset to COCO json.

    python tools/dataset_converters/cxr2coco.py NAME DATA_ROOT --out-dir OUT

NAME is one of the converters of ``fx_mm.datasets.converters.CONVERTERS``
(``nih``, ``vindr_cxr``, ``tbx11k``, ``node21``, ``rsna``, ``chestx_det``,
``siim_acr``, ``candid_ptx``, ``chexmask``, ``vindr_ribcxr``,
``montgomery``, ``jsrt``, ``shenzhen``, ``chexpert``, ``mimic_cxr``); the
per-set scripts next to this one are the same command with NAME fixed.
"""
from fx_mm.datasets.converters import main

if __name__ == '__main__':
    main()
