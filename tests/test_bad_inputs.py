# Copyright (c) fx_mm contributors. All rights reserved.
"""Bad-input matrix: one test per kind of bad input.

Each test writes the bad input for real (files on disk, CSVs in the
publishers' layouts, real checkpoints, real configs built into a real
runner) and asserts that the error names the file (and the row / record)
and the problem -- or, with ``on_bad_record='skip'``, that the skip is
logged with its reason and counted.
"""
import copy
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from PIL import Image
from pycocotools import mask as mask_utils
from test_reliability import small_config

from fx_mm.datasets import (BaseCXRDataset, CXRDatasetError, CXRReadError,
                            read_cxr_image)
from fx_mm.datasets.public import (CHEXPERT_CLASSES, ChestXDetDataset,
                                   CheXpertDataset, NIHChestXray14Dataset,
                                   SIIMACRDataset)
from fx_mm.datasets.transforms import LoadCXRAnnotations, LoadCXRImage
from fx_mm.engine.runner import CyclicLockReleaseLoop, MultiSlotValLoop
from fx_mm.utils import load_fx_checkpoint
from fx_mm.utils.checkpoint import (UNSAFE_PICKLE_ENV, CheckpointMismatchError,
                                    UnsafeCheckpointError,
                                    check_checkpoint_matches,
                                    load_checkpoint_file)


# ---------------------------------------------------------------------------
# helpers
class ToyCXRDataset(BaseCXRDataset):
    """A real BaseCXRDataset whose native records are given directly."""

    METAINFO = dict(
        dataset_name='toy',
        classes=('a', 'b'),
        box_classes=('x', 'y'),
        seg_classes=('m', ))

    def __init__(self, records, **kwargs) -> None:
        self._records = records
        super().__init__(**kwargs)

    def load_records(self):
        return copy.deepcopy(self._records)


def write_png(path, size=(32, 32), value=100) -> str:
    """(W, H) gray image, format from the suffix."""
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    Image.new('L', size, value).save(str(path))
    return str(path)


def write_text(path, text: str) -> str:
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def truncate(path: str, keep: float = 0.5) -> str:
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])
    return path


def write_dicom(path, pixels, **tags) -> str:
    """Uncompressed single-frame DICOM; tags override the defaults."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (ExplicitVRLittleEndian,
                             SecondaryCaptureImageStorage, generate_uid)
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'CR'
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype('<u2').tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.save_as(str(path), enforce_file_format=True)
    return str(path)


PIXELS = (np.arange(32 * 32) % 4096).astype(np.uint16).reshape(32, 32)


def cls_record(img_path, score=(1, 0), **extra):
    return dict(img_path=img_path, gt_score=list(score), **extra)


def box_record(img_path, bbox, label=0, **extra):
    return dict(
        img_path=img_path,
        instances=[dict(bbox=bbox, bbox_label=label)],
        **extra)


# ---------------------------------------------------------------------------
# images
def test_truncated_png(tmp_path):
    path = truncate(write_png(tmp_path / 'a.png'))
    with pytest.raises(CXRReadError) as info:
        LoadCXRImage()(dict(img_path=path))
    assert f'{path}: cannot decode image' in str(info.value)
    assert 'truncated' in str(info.value)


def test_truncated_jpeg(tmp_path):
    image = Image.fromarray((PIXELS // 16).astype(np.uint8))
    path = str(tmp_path / 'a.jpg')
    image.save(path)
    truncate(path)
    with pytest.raises(CXRReadError, match='a.jpg: cannot decode image'):
        read_cxr_image(path)


def test_corrupt_jpeg_bytes(tmp_path):
    path = str(tmp_path / 'garbage.jpg')
    with open(path, 'wb') as f:
        f.write(b'\xff\xd8\xff' + bytes(range(256)) * 4)
    with pytest.raises(CXRReadError) as info:
        read_cxr_image(path)
    assert f'{path}: cannot decode image' in str(info.value)
    assert 'cannot identify image file' in str(info.value)


def test_empty_image_file(tmp_path):
    path = str(tmp_path / 'empty.png')
    open(path, 'wb').close()
    with pytest.raises(CXRReadError, match='empty.png: cannot decode image'):
        read_cxr_image(path)


def test_image_with_nan_pixels(tmp_path):
    pixels = np.ones((8, 8), dtype=np.float32)
    pixels[2, 3] = np.nan
    path = str(tmp_path / 'float.tif')
    Image.fromarray(pixels).save(path)  # float32 -> mode 'F'
    with pytest.raises(
            CXRReadError, match='float.tif: image contains NaN or infinite'):
        read_cxr_image(path)


def test_dicom_without_pixel_data(tmp_path):
    path = write_dicom(tmp_path / 'nopix.dcm', PIXELS)
    import pydicom
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(
            CXRReadError, match='nopix.dcm: DICOM file has no pixel data'):
        read_cxr_image(path)


def test_dicom_unsupported_transfer_syntax(tmp_path):
    import pydicom
    from pydicom.encaps import encapsulate
    path = write_dicom(tmp_path / 'mpeg.dcm', PIXELS)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = '1.2.840.10008.1.2.4.100'  # MPEG2
    ds.PixelData = encapsulate([PIXELS.tobytes()])
    ds['PixelData'].VR = 'OB'
    ds.save_as(path)
    with pytest.raises(CXRReadError) as info:
        read_cxr_image(path)
    message = str(info.value)
    assert f'{path}: cannot decode DICOM pixel data' in message
    assert '1.2.840.10008.1.2.4.100 "MPEG2 Main Profile' in message
    assert 'compressed syntax may need the pylibjpeg' in message


def test_dicom_wrong_bit_depth(tmp_path):
    # the header claims 32 bits per pixel; the data has 16
    path = write_dicom(
        tmp_path / 'bits.dcm',
        PIXELS,
        BitsAllocated=32,
        BitsStored=32,
        HighBit=31)
    with pytest.raises(CXRReadError) as info:
        read_cxr_image(path)
    message = str(info.value)
    assert f'{path}: cannot decode DICOM pixel data' in message
    assert 'BitsAllocated=32, BitsStored=32' in message
    assert '2048 vs 4096 bytes' in message
    assert 'pylibjpeg' not in message  # not a codec problem


def test_dicom_bits_stored_above_bits_allocated(tmp_path):
    path = write_dicom(tmp_path / 'stored.dcm', PIXELS, BitsStored=20)
    with pytest.raises(CXRReadError) as info:
        read_cxr_image(path)
    assert 'stored.dcm: cannot decode DICOM' in str(info.value)
    assert "'Bits Stored' value of '20' is invalid" in str(info.value)


def test_rgb_dicom_is_not_a_radiograph(tmp_path):
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    path = write_dicom(
        tmp_path / 'rgb.dcm',
        rgb[..., 0],
        SamplesPerPixel=3,
        PhotometricInterpretation='RGB',
        PlanarConfiguration=0,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7)
    import pydicom
    ds = pydicom.dcmread(path)
    ds.PixelData = rgb.tobytes()
    ds.save_as(path)
    with pytest.raises(
            CXRReadError, match=r'rgb.dcm: expected a single-frame grayscale'):
        read_cxr_image(path)


def test_missing_image_file_at_load(tmp_path):
    missing = str(tmp_path / 'gone.png')
    with pytest.raises(FileNotFoundError) as info:
        ToyCXRDataset([cls_record(missing)])
    assert f'{missing}: image file not found (ToyCXRDataset)' == \
        str(info.value)


def test_missing_image_file_in_the_pipeline(tmp_path):
    # check_files=False defers the check to the loading transform
    missing = str(tmp_path / 'gone.png')
    ds = ToyCXRDataset([cls_record(missing)], check_files=False)
    with pytest.raises(FileNotFoundError, match='gone.png: file not found'):
        LoadCXRImage()(ds.get_data_info(0))


# ---------------------------------------------------------------------------
# boxes
@pytest.fixture
def img(tmp_path):
    return write_png(tmp_path / 'img.png', size=(32, 24))


def test_box_with_x_max_below_x_min(img):
    with pytest.raises(CXRDatasetError) as info:
        ToyCXRDataset([box_record(img, [10, 2, 5, 8])], task='loc')
    assert str(info.value) == (
        f'{img}: box 0 [10.0, 2.0, 5.0, 8.0]: empty box (x_max <= x_min or '
        'y_max <= y_min)')


def test_box_of_zero_area(img):
    with pytest.raises(
            CXRDatasetError, match=r'box 0 \[4.0, 2.0, 4.0, 8.0'
            r'\]: empty box'):
        ToyCXRDataset([box_record(img, [4, 2, 4, 8])], task='loc')


def test_box_outside_a_known_image_size(img):
    record = box_record(img, [4, 2, 40, 8], img_size=(32, 24))
    with pytest.raises(CXRDatasetError) as info:
        ToyCXRDataset([record], task='loc')
    assert f'{img}: box 0 [4.0, 2.0, 40.0, 8.0]: outside the 32x24 image' \
        == str(info.value)


def test_box_outside_the_image_found_when_loading(img):
    # the image size is only known once the image is read: boxes of a
    # 1024 px annotation on a 32 x 24 image
    ds = ToyCXRDataset([box_record(img, [100, 200, 300, 400])], task='loc')
    results = LoadCXRImage()(ds.get_data_info(0))
    with pytest.raises(CXRReadError) as info:
        LoadCXRAnnotations()(results)
    assert f'{img}: box 0 [100.0, 200.0, 300.0, 400.0] lies outside the ' \
        '32x24 (WxH) image' in str(info.value)


def test_box_with_nan_coordinate(img):
    with pytest.raises(
            CXRDatasetError,
            match=r'img.png: box 0 \[1.0, nan, 5.0, 8.0\]: not 4 '
            'finite numbers'):
        ToyCXRDataset([box_record(img, [1, float('nan'), 5, 8])], task='loc')


def test_box_with_negative_coordinate(img):
    with pytest.raises(
            CXRDatasetError, match=r'box 0 \[-3.0, 2.0, 5.0, 8.0\]: negative'):
        ToyCXRDataset([box_record(img, [-3, 2, 5, 8])], task='loc')


def test_box_class_id_out_of_range(img):
    with pytest.raises(
            CXRDatasetError,
            match='box 0 .*: class id 2 out of range for 2 '
            'classes'):
        ToyCXRDataset([box_record(img, [1, 2, 5, 8], label=2)], task='loc')


def test_nih_box_with_zero_width_names_the_csv_line(tmp_path):
    write_png(tmp_path / 'images' / '00000003_000.png')
    ann = write_text(
        tmp_path / 'BBox_List_2017.csv',
        'Image Index,Finding Label,Bbox [x,y,w,h],,,\n'
        '00000003_000.png,Mass,10,20,0,40,,,\n')
    with pytest.raises(CXRDatasetError) as info:
        NIHChestXray14Dataset(task='loc', data_root=str(tmp_path))
    assert str(info.value).startswith(f'{ann} line 2: box [x=10.0, y=20.0, '
                                      'w=0.0, h=40.0] has a non-positive')


# ---------------------------------------------------------------------------
# masks
def test_mask_file_of_the_wrong_size(tmp_path, img):
    mask = write_png(tmp_path / 'mask.png', size=(16, 16), value=255)
    ds = ToyCXRDataset([dict(img_path=img, seg_map_paths=[mask])], task='seg')
    results = LoadCXRImage()(ds.get_data_info(0))
    with pytest.raises(CXRReadError) as info:
        LoadCXRAnnotations()(results)
    assert str(info.value) == (f'{mask}: mask has size 16x16 (WxH) but its '
                               'image is 32x24')


def test_rle_mask_of_the_wrong_size(img):
    rle = mask_utils.encode(np.asfortranarray(np.ones((10, 10), np.uint8)))
    ds = ToyCXRDataset([dict(img_path=img, seg_rles=[rle])], task='seg')
    results = LoadCXRImage()(ds.get_data_info(0))
    with pytest.raises(CXRReadError) as info:
        LoadCXRAnnotations()(results)
    assert f'{img}: RLE mask 0 has size (10, 10) (H, W) but the image is ' \
        '(24, 32)' == str(info.value)


@pytest.fixture
def siim_root(tmp_path):
    uid = '1.2.3.4.5'
    write_dicom(tmp_path / 'dicom-images-train' / 's' / f'{uid}.dcm',
                PIXELS[:4, :5])
    return tmp_path, uid


def test_rle_running_past_the_image(siim_root):
    root, uid = siim_root
    ann = write_text(root / 'train-rle.csv',
                     f'ImageId, EncodedPixels\n{uid}, 3 1\n{uid}, 15 8\n')
    with pytest.raises(CXRDatasetError) as info:
        SIIMACRDataset(task='seg', data_root=str(root), mask_size=(4, 5))
    assert str(info.value) == (
        f'{ann} line 3 (EncodedPixels): RLE runs past the end of the 4x5 '
        '(HxW) image: last run ends at pixel 23 > 20')


def test_rle_with_an_odd_number_of_values(siim_root):
    root, uid = siim_root
    ann = write_text(root / 'train-rle.csv',
                     f'ImageId, EncodedPixels\n{uid}, 3 1 7\n')
    with pytest.raises(CXRDatasetError) as info:
        SIIMACRDataset(task='seg', data_root=str(root), mask_size=(4, 5))
    assert str(info.value) == (f'{ann} line 2 (EncodedPixels): RLE has an '
                               'odd number of values (3)')


def test_polygon_with_fewer_than_three_points(tmp_path):
    import json
    write_png(tmp_path / 'train' / '1.png')
    entry = dict(
        file_name='1.png',
        syms=['Nodule'],
        boxes=[[2, 3, 12, 9]],
        polygons=[[[2, 3], [12, 9]]])
    ann = write_text(tmp_path / 'ChestX_Det_train.json', json.dumps([entry]))
    with pytest.raises(CXRDatasetError) as info:
        ChestXDetDataset(task='seg', data_root=str(tmp_path))
    assert str(info.value).startswith(f'{ann} ')
    assert 'polygon 0: polygon with 2 point(s); at least 3 are needed' in \
        str(info.value)


def test_mask_count_differs_from_the_seg_classes(tmp_path, img):
    masks = [write_png(tmp_path / f'm{k}.png', size=(32, 24)) for k in (0, 1)]
    with pytest.raises(CXRDatasetError) as info:
        ToyCXRDataset([dict(img_path=img, seg_map_paths=masks)], task='seg')
    assert str(info.value) == (f'{img}: 2 masks but the dataset has 1 seg '
                               'classes')


def test_missing_mask_file(tmp_path, img):
    missing = str(tmp_path / 'no_mask.png')
    with pytest.raises(FileNotFoundError) as info:
        ToyCXRDataset([dict(img_path=img, seg_map_paths=[missing])],
                      task='seg')
    assert str(info.value) == f'{missing}: mask file not found (image {img})'


# ---------------------------------------------------------------------------
# labels
CHEXPERT_HEADER = 'Path,Sex,Age,Frontal/Lateral,AP/PA,' + ','.join(
    CHEXPERT_CLASSES)


def chexpert_csv(tmp_path, rows, header=CHEXPERT_HEADER):
    for row in rows:
        write_png(tmp_path / row.split(',')[0])
    return write_text(tmp_path / 'train.csv',
                      '\n'.join([header] + rows) + '\n')


def chexpert_row(name, labels):
    return f'{name},F,60,Frontal,AP,' + ','.join(labels)


def test_unknown_class_name(tmp_path):
    write_png(tmp_path / 'images' / '1.png')
    ann = write_text(
        tmp_path / 'Data_Entry_2017.csv', 'Image Index,Finding Labels\n'
        '1.png,Cardiomegaly|Dragon\n')
    with pytest.raises(CXRDatasetError) as info:
        NIHChestXray14Dataset(data_root=str(tmp_path))
    assert str(info.value).startswith(
        f"{ann} line 2: unknown class name 'Dragon'; expected one of ")


def test_label_csv_with_missing_columns(tmp_path):
    header = CHEXPERT_HEADER.replace(',Edema', '')
    ann = chexpert_csv(
        tmp_path, [chexpert_row('p/a.jpg', [''] * 13)], header=header)
    with pytest.raises(CXRDatasetError) as info:
        CheXpertDataset(data_root=str(tmp_path))
    assert str(info.value).startswith(f"{ann}: missing column(s) ['Edema']")


def test_label_value_other_than_1_0_minus1_blank(tmp_path):
    labels = [''] * 14
    labels[CHEXPERT_CLASSES.index('Cardiomegaly')] = '2'
    ann = chexpert_csv(
        tmp_path,
        [chexpert_row('p/a.jpg', [''] * 14),
         chexpert_row('p/b.jpg', labels)])
    with pytest.raises(CXRDatasetError) as info:
        CheXpertDataset(data_root=str(tmp_path))
    assert str(info.value) == (
        f"{ann} line 3: column 'Cardiomegaly' is '2'; expected 1, 0, -1 "
        '(uncertain) or blank')


def test_label_value_that_is_text(tmp_path):
    labels = [''] * 14
    labels[CHEXPERT_CLASSES.index('Edema')] = 'yes'
    ann = chexpert_csv(tmp_path, [chexpert_row('p/a.jpg', labels)])
    with pytest.raises(
            CXRDatasetError, match=f"{ann} line 2: column 'Edema' is 'yes'"):
        CheXpertDataset(data_root=str(tmp_path))


def test_label_row_with_more_values_than_columns(tmp_path):
    write_png(tmp_path / 'images' / '1.png')
    ann = write_text(tmp_path / 'Data_Entry_2017.csv',
                     'Image Index,Finding Labels\n'
                     '1.png,Mass,extra\n')
    with pytest.raises(CXRDatasetError) as info:
        NIHChestXray14Dataset(data_root=str(tmp_path))
    assert str(info.value) == (f'{ann} line 2: 3 values but the header has 2 '
                               'columns')


def test_empty_label_csv(tmp_path):
    ann = write_text(tmp_path / 'train.csv', '')
    with pytest.raises(CXRDatasetError, match=f'{ann}: empty CSV file'):
        CheXpertDataset(data_root=str(tmp_path))


def test_label_count_differs_from_the_classes(img):
    with pytest.raises(CXRDatasetError) as info:
        ToyCXRDataset([cls_record(img, score=(1, ))])
    assert str(info.value) == (f'{img}: 1 labels but the dataset has 2 '
                               'classes')


def test_soft_label_value(img):
    with pytest.raises(CXRDatasetError) as info:
        ToyCXRDataset([cls_record(img, score=(0.5, 1))])
    assert str(info.value) == (f'{img}: labels must be 0 or 1 after the '
                               'uncertainty policy, got [0.5, 1.0]')


# ---------------------------------------------------------------------------
# datasets
def test_duplicate_image_ids(tmp_path, img):
    other = write_png(tmp_path / 'sub' / 'img.png')
    with pytest.raises(CXRDatasetError) as info:
        ToyCXRDataset([cls_record(img), cls_record(other)])
    assert str(info.value) == (f"{other}: duplicate image id 'img' in "
                               'ToyCXRDataset')


def test_empty_dataset(tmp_path):
    with pytest.raises(CXRDatasetError) as info:
        ToyCXRDataset([], data_root=str(tmp_path))
    assert str(info.value) == (
        f"ToyCXRDataset (toy, cls): no images found (data_root="
        f"'{tmp_path}', ann_file='')")


def test_unknown_task():
    with pytest.raises(
            CXRDatasetError,
            match="ToyCXRDataset: unknown task 'det'; expected "
            r"one of \('cls', 'loc', 'seg'\)"):
        ToyCXRDataset([], task='det')


def test_task_the_dataset_does_not_have(img):

    class ClsOnly(ToyCXRDataset):
        METAINFO = dict(dataset_name='cls_only', classes=('a', 'b'))

    with pytest.raises(CXRDatasetError) as info:
        ClsOnly([cls_record(img)], task='seg')
    assert str(info.value) == ("ClsOnly (cls_only) has no classes for task "
                               "'seg'; supported tasks: ['cls']")


def test_unknown_on_bad_record_mode(img):
    with pytest.raises(
            ValueError,
            match="on_bad_record='ignore'; expected "
            r"one of \('error', 'skip'\)"):
        ToyCXRDataset([cls_record(img)], on_bad_record='ignore')


# ---------------------------------------------------------------------------
# on_bad_record='skip'
def test_skip_mode_logs_and_counts_bad_records(tmp_path, img, fx_log):
    missing = str(tmp_path / 'gone.png')
    ds = ToyCXRDataset([
        box_record(img, [1, 2, 5, 8]),
        box_record(missing, [1, 2, 5, 8]),
        dict(
            img_path=write_png(tmp_path / 'c.png'),
            instances=[dict(bbox=[9, 2, 5, 8], bbox_label=0)]),
    ],
                       task='loc',
                       on_bad_record='skip')
    assert len(ds) == 1 and ds.get_data_info(0)['img_path'] == img
    assert [where for where, _ in ds.skipped_records
            ] == [missing, str(tmp_path / 'c.png')]
    skips = [m for m in fx_log if 'skipped bad record' in m]
    assert len(skips) == 2
    assert '(1 so far)' in skips[0] and 'gone.png: image file not found' \
        in skips[0]
    assert '(2 so far)' in skips[1] and 'c.png: box 0' in skips[1] and \
        'empty box' in skips[1]
    assert any('skipped 2 bad records, kept 1' in m for m in fx_log)


def test_skip_mode_with_nothing_left_is_an_error(tmp_path):
    with pytest.raises(CXRDatasetError) as info:
        ToyCXRDataset([cls_record(str(tmp_path / 'gone.png'))],
                      on_bad_record='skip')
    assert 'every record is bad (1 skipped; first: ' in str(info.value)
    assert 'gone.png: image file not found' in str(info.value)


def test_skip_mode_in_a_public_loader(tmp_path, fx_log):
    labels = [''] * 14
    labels[CHEXPERT_CLASSES.index('Edema')] = 'maybe'
    ann = chexpert_csv(tmp_path, [
        chexpert_row('p/a.jpg', ['1'] + [''] * 13),
        chexpert_row('p/b.jpg', labels)
    ])
    ds = CheXpertDataset(data_root=str(tmp_path), on_bad_record='skip')
    assert len(ds) == 1 and ds.get_data_info(0)['img_id'] == 'p/a.jpg'
    assert ds.skipped_records == [
        (f'{ann} line 3',
         f"{ann} line 3: column 'Edema' is 'maybe'; expected 1, 0, -1 "
         '(uncertain) or blank')
    ]
    assert any("skipped bad record (1 so far): " in m and 'line 3' in m
               for m in fx_log)


def test_skip_mode_replaces_a_sample_that_fails_to_decode(tmp_path, fx_log):
    good = write_png(tmp_path / 'good.png')
    bad = truncate(write_png(tmp_path / 'bad.png'))
    ds = ToyCXRDataset([cls_record(bad), cls_record(good)],
                       on_bad_record='skip',
                       pipeline=[dict(type='LoadCXRImage')])
    # mmengine's refetch draws np.random.randint(0, len) until a sample
    # loads: replay the draws to know how often index 0 is tried
    np.random.seed(0)
    expected = 1
    while np.random.randint(0, 2) == 0:
        expected += 1
    np.random.seed(0)
    sample = ds[0]
    assert sample['img_path'] == good
    assert ds.num_skipped_samples == expected
    lines = [m for m in fx_log if 'skipped sample' in m]
    assert len(lines) == expected
    assert 'ToyCXRDataset toy/cls: skipped sample 0 (replaced by another; ' \
        '1 skipped so far)' in lines[0]
    assert f'{expected} skipped so far' in lines[-1]
    assert all(f'{bad}: cannot decode image' in line for line in lines)


def test_skip_mode_does_not_apply_to_evaluation(tmp_path):
    bad = truncate(write_png(tmp_path / 'bad.png'))
    ds = ToyCXRDataset([cls_record(bad)],
                       on_bad_record='skip',
                       test_mode=True,
                       pipeline=[dict(type='LoadCXRImage')])
    with pytest.raises(CXRReadError) as info:
        ds[0]
    assert f'{bad}: cannot decode image' in str(info.value)
    assert 'does not apply to evaluation' in str(info.value)


# ---------------------------------------------------------------------------
# slots of the loops vs. the model
@pytest.fixture(scope='module')
def runner(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('bad_input_runner'))
    return Runner.from_cfg(small_config(work_dir))


def synthetic(runner, variant='phantom_a', task='cls', **kwargs):
    return dict(
        type='SyntheticCXRDataset',
        data_root=osp.join(runner.work_dir, 'synthetic_cxr'),
        variant=variant,
        task=task,
        num_images=8,
        split_ratios=(0.5, 0.25, 0.25),
        **kwargs)


def train_loop(runner, *slots):
    return CyclicLockReleaseLoop(
        runner, dict(batch_size=2), slots=list(slots), max_cycles=1)


def val_loop(runner, *slots):
    return MultiSlotValLoop(
        runner, dict(batch_size=2), evaluator=[], slots=list(slots))


def test_slot_with_an_unknown_dataset_type(runner):
    slot = dict(dataset=dict(type='NoSuchCXRDataset', task='cls'))
    with pytest.raises(KeyError, match='NoSuchCXRDataset is not in the'):
        train_loop(runner, slot)


def test_slot_naming_a_dataset_without_a_head(runner):
    slot = dict(dataset=synthetic(runner, dataset_name='vindr_cxr'))
    with pytest.raises(ValueError) as info:
        train_loop(runner, slot)
    assert "train_cfg.slots[0] (vindr_cxr/cls): the model has no cls head " \
        "for dataset 'vindr_cxr'" in str(info.value)


def test_slot_with_an_unknown_task(runner):
    slot = dict(dataset=synthetic(runner, task='det'))
    with pytest.raises(
            CXRDatasetError, match="SyntheticCXRDataset: unknown task 'det'"):
        train_loop(runner, slot)


def test_head_count_differs_from_the_dataset_classes(runner):
    # phantom_b has 2 seg classes; routed to phantom_a's 3-channel head
    slot = dict(
        dataset=synthetic(
            runner, 'phantom_b', 'seg', dataset_name='phantom_a'))
    good = dict(dataset=synthetic(runner, 'phantom_a', 'seg'))
    with pytest.raises(ValueError) as info:
        train_loop(runner, good, slot)
    assert str(info.value).startswith(
        "train_cfg.slots[1] (phantom_a/seg): the model's seg head for "
        "'phantom_a' has 3 outputs but SyntheticCXRDataset has 2 seg "
        "classes ['left_clavicle', 'right_clavicle']")


def test_head_count_checked_for_validation_slots(runner):
    # phantom_b with its 'opacity' label only, routed to phantom_a's head
    slot = dict(
        dataset=synthetic(
            runner,
            'phantom_b',
            'cls',
            dataset_name='phantom_a',
            metainfo=dict(classes=('opacity', ))))
    with pytest.raises(ValueError) as info:
        val_loop(runner, slot)
    assert str(info.value).startswith(
        "val_cfg.slots[0] (phantom_a/cls): the model's cls head for "
        "'phantom_a' has 2 outputs but SyntheticCXRDataset has 1 cls "
        "classes ['opacity']")


def test_typo_in_a_train_slot_key(runner):
    slot = dict(dataset=synthetic(runner), batch_szie=4)
    with pytest.raises(ValueError) as info:
        train_loop(runner, slot)
    assert "train_cfg.slots[0]: unknown keys ['batch_szie']" in \
        str(info.value)
    assert 'batch_size' in str(info.value)  # the allowed keys are listed


def test_typo_in_a_val_slot_key(runner):
    slot = dict(dataset=synthetic(runner, split='val'), num_worker=0)
    with pytest.raises(ValueError) as info:
        val_loop(runner, slot)
    assert str(info.value) == (
        "val_cfg.slots[0]: unknown keys ['num_worker']; allowed keys: "
        "['dataset', 'batch_size', 'num_workers', 'collate_fn', 'sampler', "
        "'pin_memory', 'persistent_workers', 'prefetch_factor', "
        "'drop_last']")


# ---------------------------------------------------------------------------
# checkpoints
def test_truncated_checkpoint(tmp_path):
    path = str(tmp_path / 'iter_4.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(64, 64))), path)
    truncate(path)
    with pytest.raises(RuntimeError) as info:
        load_fx_checkpoint(path)
    assert str(info.value).startswith(
        f'{path}: not a readable checkpoint: truncated torch zip archive')


def test_file_that_is_not_a_checkpoint(tmp_path):
    path = write_text(tmp_path / 'model.pth', 'version https://git-lfs\n')
    with pytest.raises(RuntimeError) as info:
        load_fx_checkpoint(path)
    assert str(info.value) == (f"{path}: not a readable checkpoint: not a "
                               "torch file (it starts with b'vers')")


def test_empty_checkpoint_file(tmp_path):
    path = str(tmp_path / 'empty.pth')
    open(path, 'wb').close()
    with pytest.raises(
            RuntimeError,
            match='empty.pth: not a readable checkpoint: the '
            'file is empty'):
        load_fx_checkpoint(path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(
            FileNotFoundError, match='checkpoint file not found: .*nope.pth'):
        load_fx_checkpoint(str(tmp_path / 'nope.pth'))


def test_checkpoint_of_another_architecture(tmp_path, runner):
    from mmdet.models.backbones import ResNet
    path = str(tmp_path / 'resnet18.pth')
    torch.save(dict(state_dict=ResNet(depth=18).state_dict()), path)
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_matches(runner.model, path)
    message = str(info.value)
    assert message.startswith(f'{path}: the checkpoint does not match '
                              'FoundationX')
    num_model = sum('num_batches_tracked' not in k
                    for k in runner.model.state_dict())
    num_file = len(ResNet(depth=18).state_dict())
    assert f'{num_model} keys missing from the file: student.' in message
    assert f'{num_file} keys not in the model: conv1.weight' in message


def test_checkpoint_with_other_head_shapes(tmp_path, runner):
    state = {k: v.clone() for k, v in runner.model.state_dict().items()}
    key = 'student.cls_branch.heads.phantom_a.fc.weight'
    channels = state[key].shape[1]
    state[key] = torch.zeros(5, channels)  # trained with 5 classes
    path = str(tmp_path / 'five_classes.pth')
    torch.save(dict(state_dict=state), path)
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_matches(runner.model, path, strict=False)
    assert f'1 shape mismatches (file vs model): {key}: (5, {channels}) vs ' \
        f'(2, {channels})' in str(info.value)


class NotAllowed:
    """A type outside fx_mm's unpickling allow-list."""


def test_checkpoint_with_untrusted_objects(tmp_path, monkeypatch):
    path = str(tmp_path / 'untrusted.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(2)), meta=NotAllowed()), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_fx_checkpoint(path)
    assert str(info.value).startswith(f'{path}: the checkpoint contains '
                                      'objects outside the types')
    assert 'allow_unsafe_pickle=True' in str(info.value)
    assert f'{UNSAFE_PICKLE_ENV}=1' in str(info.value)
    # the explicit opt-ins: the argument, or the variable for the paths
    # the Runner loads (load_from, --resume: FXRunner, Pretrained inits)
    loaded = load_fx_checkpoint(path, allow_unsafe_pickle=True)
    assert isinstance(loaded['meta'], NotAllowed)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint_file(path, map_location='cpu')
    monkeypatch.setenv(UNSAFE_PICKLE_ENV, '1')
    loaded = load_checkpoint_file(path, map_location='cpu')
    assert isinstance(loaded['meta'], NotAllowed)
