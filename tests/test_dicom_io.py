# Copyright (c) fx_mm contributors. All rights reserved.
"""DICOM reading (photometric interpretation, VOI LUT, errors) and the real
SIIM / TBX11K fixtures of ``../shared/data/misc`` through the loaders."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from fx_mm.datasets import CXRReadError, read_cxr_image
from fx_mm.datasets.public import SIIMACRDataset, TBX11KDataset
from fx_mm.datasets.transforms import LoadCXRAnnotations, LoadCXRImage

SIIM_UID = '1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819'


def write_dicom(path, pixels, photometric='MONOCHROME2', **tags):
    """Uncompressed single-frame DICOM; 8-bit or 16-bit from the dtype."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (ExplicitVRLittleEndian,
                             SecondaryCaptureImageStorage, generate_uid)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'CR'
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    bits = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 0
    for key, value in tags.items():
        setattr(ds, key, value)
    if pixels.size:
        ds.PixelData = pixels.astype(f'<u{bits // 8}').tobytes()
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture(scope='module')
def misc(shared_data):
    folder = osp.join(shared_data, 'misc')
    if not osp.isfile(osp.join(folder, SIIM_UID + '.dcm')):
        pytest.skip('../shared/data/misc SIIM DICOMs are not available')
    return folder


def test_real_siim_dicom_and_monochrome1_twin(misc, tmp_path):
    original = read_cxr_image(osp.join(misc, SIIM_UID + '.dcm'))
    assert original.shape == (1024, 1024) and original.dtype == np.uint8
    assert original.min() == 0 and original.max() == 255
    # Fake_MONOHR1.dcm stores the SAME pixel values as the original with the
    # tag switched to MONOCHROME1, so honouring the tag inverts the picture.
    fake = read_cxr_image(osp.join(misc, 'Fake_MONOHR1.dcm'))
    assert fake.shape == (1024, 1024)
    np.testing.assert_array_equal(fake, 255 - original)

    # a true MONOCHROME1 twin (inverted pixels) loads as the same picture
    import pydicom
    pixels = pydicom.dcmread(osp.join(misc, SIIM_UID + '.dcm')).pixel_array
    twin = str(tmp_path / 'twin_mono1.dcm')
    write_dicom(twin, (255 - pixels).astype(np.uint8), 'MONOCHROME1')
    np.testing.assert_array_equal(read_cxr_image(twin), original)
    plain = str(tmp_path / 'plain_mono2.dcm')
    write_dicom(plain, pixels.astype(np.uint8))
    np.testing.assert_array_equal(read_cxr_image(plain), original)


def test_dicom_voi_window_is_applied(tmp_path):
    pixels = np.tile(np.array([0, 900, 1000, 1100, 4095], np.uint16), (2, 1))
    path = str(tmp_path / 'window.dcm')
    write_dicom(path, pixels, WindowCenter=1000, WindowWidth=200)
    row = read_cxr_image(path)[0]
    # below the window -> black, above -> white, the centre -> mid-gray
    assert row[0] == row[1] == 0 and row[3] == row[4] == 255
    assert abs(int(row[2]) - 128) <= 2


def test_dicom_without_pixel_data_or_not_dicom(tmp_path):
    path = str(tmp_path / 'header_only.dcm')
    write_dicom(path, np.zeros((0, 0), np.uint16))
    with pytest.raises(
            CXRReadError, match='header_only.dcm: DICOM file has '
            'no pixel data'):
        read_cxr_image(path)
    bogus = tmp_path / 'bogus.dcm'
    bogus.write_bytes(b'this is not a DICOM file')
    with pytest.raises(CXRReadError, match='bogus.dcm: not a readable DICOM'):
        read_cxr_image(str(bogus))


def test_real_tbx11k_through_the_loader(misc):
    root = osp.join(misc, 'tbx11k_test_data')
    loc = TBX11KDataset(task='loc', data_root=root)
    assert len(loc) == 3
    infos = [loc.get_data_info(i) for i in range(3)]
    assert sum(len(i['instances']) for i in infos) == 3
    by_id = {i['img_id']: i for i in infos}
    box = by_id['tb/tb0005']['instances'][0]
    # COCO [x, y, w, h] = [381.83, 126.87, 40.24, 44.57]
    np.testing.assert_allclose(
        box['bbox'], [381.8337097, 126.8733902, 422.0706177, 171.4391632],
        rtol=1e-6)
    assert box['bbox_label'] == 0  # ActiveTuberculosis
    assert [i['bbox_label'] for i in by_id['tb/tb0007']['instances']
            ] == [1, 1]  # ObsoletePulmonaryTuberculosis
    assert by_id['health/h0001']['instances'] == []
    cls = TBX11KDataset(data_root=root)
    assert {
        cls.get_data_info(i)['img_id']:
        cls.get_data_info(i)['gt_score'].tolist()
        for i in range(3)
    } == {
        'tb/tb0005': [1],
        'tb/tb0007': [1],
        'health/h0001': [0]
    }
    results = LoadCXRAnnotations()(LoadCXRImage()(by_id['tb/tb0007']))
    assert results['img'].shape == (512, 512, 3)
    assert results['gt_bboxes'].numpy().shape == (2, 4)


def test_real_siim_dicom_through_the_loader(misc, tmp_path):
    folder = tmp_path / 'dicom-images-train' / '1.2.3' / '1.2.3.4'
    os.makedirs(folder)
    shutil.copy(osp.join(misc, SIIM_UID + '.dcm'), folder)
    # a 3-pixel run starting at row 10 of column 20 (relative = absolute
    # for the first run), column-major on the 1024 grid
    (tmp_path / 'train-rle.csv'
     ).write_text(f'ImageId, EncodedPixels\n{SIIM_UID}, {20 * 1024 + 10} 3\n')
    seg = SIIMACRDataset(task='seg', data_root=str(tmp_path))
    info = seg.get_data_info(0)
    assert mask_utils.area(info['seg_rles'][0]) == 3
    results = LoadCXRAnnotations()(LoadCXRImage()(info))
    assert results['img'].shape == (1024, 1024, 3)
    mask = results['gt_seg_map'][..., 0]
    assert mask.shape == (1024, 1024)
    assert np.argwhere(mask).tolist() == [[10, 20], [11, 20], [12, 20]]
    loc = SIIMACRDataset(task='loc', data_root=str(tmp_path))
    assert loc.get_data_info(0)['instances'][0]['bbox'] == [20, 10, 21, 13]
