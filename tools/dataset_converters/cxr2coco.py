# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert any supported public CXR dataset to COCO json.

    python tools/dataset_converters/cxr2coco.py NAME DATA_ROOT --out-dir OUT

NAME is one of the converters of ``fx_mm.datasets.converters.CONVERTERS``
(``nih``, ``vindr_cxr``, ``tbx11k``, ``node21``, ``rsna``, ``chestx_det``,
``siim_acr``, ``candid_ptx``, ``chexmask``, ``vindr_ribcxr``,
``montgomery``, ``jsrt``, ``shenzhen``, ``chexpert``, ``mimic_cxr``); the
per-set scripts next to this one are the same command with NAME fixed.
"""
import os.path as osp
import sys

# the command line shared by the converters lives next to this script
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from converter_cli import main  # noqa: E402

if __name__ == '__main__':
    main()
