# Copyright (c) fx_mm contributors. All rights reserved.
"""Native-layout miniatures of the public CXR datasets, shared by tests.

The fixtures written for the loader tests (``test_public_datasets.py``) are
re-exported as they are; the datasets whose miniature is built inside a
loader test get a fixture here, written with the same file writers and
contents.

A test module registers them with pytest by importing them into its
namespace::

    from dataset_fixtures import *  # noqa: F401,F403
"""
import json

import pytest
from test_public_datasets import (RECT, SIIM_HAND, _rib_table, _write_mha,
                                  chestx_det_root, chexmask_root,
                                  chexpert_root, decode, mimic_root,
                                  montgomery_root, nih_root, rsna_root,
                                  siim_root, tbx_root, vindr_root, write_dicom,
                                  write_image, write_text)

__all__ = [
    'nih_root', 'vindr_root', 'tbx_root', 'node21_root', 'rsna_root',
    'chestx_det_root', 'siim_root', 'candid_root', 'chexmask_root',
    'vindr_rib_root', 'montgomery_root', 'shenzhen_root', 'chexpert_root',
    'mimic_root', 'write_image', 'write_dicom', 'write_text', 'decode'
]

# NODE21: two nodules on n0001 (xywh 10,12,5,6 and 20,22,4,4), two negatives
NODE21_METADATA = ('img_name,x,y,width,height,label\n'
                   'n0001.mha,10,12,5,6,1\n'
                   'n0001.mha,20,22,4,4,1\n'
                   'c0001.mha,0,0,0,0,0\n'
                   'c0002.mha,,,,,0\n')


@pytest.fixture
def node21_root(tmp_path):
    """NODE21: ``metadata.csv`` + 32 x 32 ``images/*.mha``."""
    write_text(str(tmp_path / 'metadata.csv'), NODE21_METADATA)
    for name in ('n0001', 'c0001', 'c0002'):
        _write_mha(str(tmp_path / 'images' / f'{name}.mha'))
    return tmp_path


@pytest.fixture
def candid_root(tmp_path):
    """CANDID-PTX on a 4 x 5 grid: a negative DICOM, a positive JPEG."""
    write_text(
        str(tmp_path / 'Pneumothorax_reports.csv'),
        'SOPInstanceUID,EncodedPixels\n'
        f'1.2.3.4,-1\n1.2.3.5,{SIIM_HAND}\n')
    write_dicom(str(tmp_path / 'images' / 'a' / '1.2.3.4.dcm'), 4, 5)
    write_image(str(tmp_path / 'images' / '1.2.3.5.jpg'), size=(5, 4))
    return tmp_path


@pytest.fixture
def vindr_rib_root(tmp_path):
    """VinDr-RibCXR: two 32 x 32 PNGs, R1 on the first, L10 on the second."""
    write_text(
        str(tmp_path / 'Vindr_RibCXR_train_mask.json'),
        json.dumps(_rib_table(RECT)))
    for k in range(2):
        write_image(
            str(tmp_path / 'data/train/img' / f'VinDr_RibCXR_train_00{k}.png'))
    return tmp_path


SHENZHEN_NAMES = ('CHNCXR_0001_0.png', 'CHNCXR_0002_1.png',
                  'CHNCXR_0003_1.png')


@pytest.fixture
def shenzhen_root(tmp_path):
    """Shenzhen: three 32 x 32 PNGs, label in the name."""
    for name in SHENZHEN_NAMES:
        write_image(str(tmp_path / 'CXR_png' / name))
    return tmp_path
