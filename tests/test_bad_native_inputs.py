# Copyright (c) fx_mm contributors. All rights reserved.
"""Bad native inputs that used to be accepted or dropped in silence, errors
that did not name the file or the real problem, and ``on_bad_record='skip'``
in the native loaders (issue #16, sections 3-5).

Every input is written for real (PNG / DICOM files, COCO json read by
pycocotools, CSVs in the publishers' layouts) and read by the real loaders.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from dataset_fixtures import *  # noqa: F401,F403 (the native fixtures)
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image
from pycocotools import mask as mask_utils
from test_bad_inputs import fx_log  # noqa: F401 (a fixture)
from test_bad_inputs import (PIXELS, ToyCXRDataset, truncate, write_dicom,
                             write_png, write_text)
from test_jsrt import CLNDAT, _tiny_jsrt
from test_public_datasets import (NIH_ROWS, TBX_ANNS, VINDR_HEADER, VINDR_ROWS,
                                  _tbx_json)
from test_visualization import load_tool

from fx_mm.apis import FXInferencer
from fx_mm.datasets import (CXRCocoDataset, CXRDatasetError, CXRReadError,
                            JSRTDataset, public, read_cxr_image)
from fx_mm.datasets.converters import convert
from fx_mm.datasets.public import (CheXpertDataset, NIHChestXray14Dataset,
                                   NODE21Dataset, RSNAPneumoniaDataset,
                                   TBX11KDataset, VinDrCXRDataset, rle)
from fx_mm.datasets.transforms import LoadCXRAnnotations, LoadCXRImage


def coco_file(path, images, annotations, categories=('m', ), **extra):
    data = dict(
        images=images,
        annotations=annotations,
        categories=[
            dict(id=k + 1, name=name) for k, name in enumerate(categories)
        ],
        **extra)
    return write_text(path, json.dumps(data))


def coco_image(image_id, name, size=(8, 6)):
    return dict(id=image_id, file_name=name, width=size[0], height=size[1])


def box_ann(ann_id, image_id, bbox=(1, 1, 3, 2), category_id=1):
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=category_id,
        bbox=list(bbox),
        area=6,
        iscrowd=0)


# ---------------------------------------------------------------------------
# 3. inputs accepted or dropped in silence
def test_rgba_png_with_the_picture_in_the_alpha_channel(tmp_path):
    alpha = (np.arange(32 * 32) % 256).astype(np.uint8).reshape(32, 32)
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 3] = alpha
    path = str(tmp_path / 'alpha.png')
    Image.fromarray(rgba, 'RGBA').save(path)
    with pytest.raises(CXRReadError) as info:
        read_cxr_image(path)
    assert str(info.value).startswith(
        f'{path}: the image has a transparency (alpha) channel that varies '
        '(0..255, mode RGBA)')
    # an opaque alpha channel carries nothing: read as before
    rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = alpha
    rgba[..., 3] = 255
    Image.fromarray(rgba, 'RGBA').save(path)
    np.testing.assert_array_equal(read_cxr_image(path), alpha)


def _seg_coco(tmp_path, segmentation, size=(5, 4)):
    write_png(tmp_path / 'a.png', size=size)
    return coco_file(
        tmp_path / 'seg.json', [coco_image(1, 'a.png', size)], [
            dict(
                id=7,
                image_id=1,
                category_id=1,
                segmentation=segmentation,
                iscrowd=1)
        ],
        fx_task='seg')


@pytest.mark.parametrize('polygon, message', [
    ([1, 1, 4, 3], 'polygon 0: polygon with 2 point(s); at least 3 are '
     'needed'),
    ([1, 1], 'polygon 0: polygon with 1 point(s); at least 3 are needed'),
    ([1, 1, 4, 3, 2], 'polygon 0 has an odd number of coordinates (5)'),
])
def test_dicom_without_a_suffix(tmp_path):
    folder = tmp_path / 'pacs'
    dicom = write_dicom(folder / '1.2.840.113619.2.55.3.1', PIXELS)
    png = write_png(folder / 'a.png')
    write_text(folder / 'README.txt', 'exported by the PACS\n')
    image = read_cxr_image(dicom)  # chosen by content, not by suffix
    assert image.shape == (32, 32) and image.max() == 255
    with pytest.warns(UserWarning) as record:
        files = FXInferencer._folder_images(str(folder))
    assert files == [dicom, png]
    assert len(record) == 1
    assert str(record[0].message) == (
        f'FXInferencer: {folder}: skipped 1 files that are neither images '
        '(by suffix) nor DICOM (by content): README.txt')
    # a DICOM behind an image suffix is read as DICOM too
    os.rename(dicom, str(folder / 'scan.png'))
    assert read_cxr_image(str(folder / 'scan.png')).shape == (32, 32)


# ---------------------------------------------------------------------------
# 4. errors that name the file and the real problem
def test_truncated_jpeg_compressed_dicom(tmp_path):
    import io

    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit
    pixels = (PIXELS // 16).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format='JPEG', quality=95)
    path = write_dicom(
        tmp_path / 'jpeg.dcm',
        PIXELS,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds['PixelData'].VR = 'OB'
    ds.save_as(path)
    truncate(path, keep=0.6)
    with pytest.raises(CXRReadError) as info:
        read_cxr_image(path)
    message = str(info.value)
    assert message.startswith(f'{path}: DICOM file has image attributes '
                              '(32x32, transfer syntax 1.2.840.10008.1.2.4.50')
    size = os.path.getsize(path)
    assert f'its pixel data is missing or cut off: the file ({size} bytes) ' \
        'is probably truncated (pydicom: End of file reached before ' \
        'delimiter (FFFE,E0DD)' in message


FOUR_FINDINGS_CSV = (
    'Image Index,Patient ID,Fracture,Pneumothorax,Airspace opacity,'
    'Nodule or mass,Set Id\n'
    '00000001_000.png,1,NO,YES,no,NO,test\n'
    '00000003_000.png,3,YES,NO,YES,yes,test\n'
    '00000013_005.png,13,0,0,0,1,validation\n')

