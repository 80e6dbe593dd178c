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
from fx_test_utils import load_tool
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image
from pycocotools import mask as mask_utils
from test_bad_inputs import (PIXELS, ToyCXRDataset, truncate, write_dicom,
                             write_png, write_text)
from test_jsrt import CLNDAT, _tiny_jsrt
from test_public_datasets import (NIH_ROWS, TBX_ANNS, VINDR_HEADER, VINDR_ROWS,
                                  _tbx_json)

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


def test_coco_rle_counts_decoded_as_pycocotools_writes_them():
    mask = np.zeros((6, 9), np.uint8)
    mask[1:4, 2:7] = 1
    mask[5, 8] = 1
    encoded = mask_utils.encode(np.asfortranarray(mask))
    runs = rle.coco_rle_counts(encoded['counts'])
    assert runs.sum() == 54
    assert runs.tolist() == [13, 3, 3, 3, 3, 3, 3, 3, 3, 3, 13, 1]
    rle.check_coco_rle(encoded, 'x')
    # large runs (several characters per number, negative differences)
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = np.zeros((300, 200), np.uint8)
        for _ in range(rng.integers(1, 6)):
            y, x = rng.integers(0, 300), rng.integers(0, 200)
            mask[y:y + rng.integers(1, 250), x:x + rng.integers(1, 150)] = 1
        encoded = mask_utils.encode(np.asfortranarray(mask))
        runs = rle.coco_rle_counts(encoded['counts'])
        flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(np.uint8)
        np.testing.assert_array_equal(flat.reshape(200, 300).T, mask)


def test_coco_rle_too_short_for_its_size(tmp_path):
    # 20 pixels (4 x 5) but the runs cover 6: pycocotools decodes the other
    # 14 from whatever memory held
    short = mask_utils.frPyObjects(dict(counts=[2, 3, 1], size=[4, 5]), 4, 5)
    ann = _seg_coco(tmp_path,
                    dict(counts=short['counts'].decode(), size=[4, 5]))
    with pytest.raises(CXRDatasetError) as info:
        CXRCocoDataset(ann_file=ann, task='seg', data_root=str(tmp_path))
    assert str(info.value) == (
        f'{ann} annotation id 7: compressed RLE runs cover 6 pixels but its '
        'size 4x5 (HxW) has 20 (too short)')
    # an RLE handed to the loading transform is checked the same way
    img = str(tmp_path / 'a.png')
    ds = ToyCXRDataset([dict(img_path=img, seg_rles=[short])], task='seg')
    results = LoadCXRImage()(ds.get_data_info(0))
    with pytest.raises(CXRDatasetError) as info:
        LoadCXRAnnotations()(results)
    assert str(info.value).startswith(
        f'{img}: RLE mask 0: compressed RLE runs cover 6 pixels')


def test_check_dataset_reports_a_short_coco_rle(tmp_path):
    write_png(tmp_path / 'a.png', size=(5, 4))
    write_png(tmp_path / 'b.png', size=(5, 4))
    ann = coco_file(
        tmp_path / 'seg.json',
        [coco_image(1, 'a.png', (5, 4)),
         coco_image(2, 'b.png', (5, 4))], [
             dict(
                 id=7,
                 image_id=1,
                 category_id=1,
                 segmentation=dict(counts=[2, 3, 1], size=[4, 5])),
             dict(
                 id=8,
                 image_id=2,
                 category_id=1,
                 segmentation=dict(counts=[2, 3, 15], size=[4, 5]))
         ],
        fx_task='seg')
    row = load_tool('tools/analysis_tools/check_dataset.py',
                    'fx_check_dataset').check_slot(
                        dict(
                            type='CXRCocoDataset',
                            ann_file=ann,
                            task='seg',
                            data_root=str(tmp_path)),
                        decode=True,
                        max_images=None,
                        workers=1)
    assert (row['images'], row['ok'], row['bad']) == (2, 1, 1), row
    assert row['problems'] == [
        f'{ann} annotation id 7: uncompressed RLE runs cover 6 pixels but '
        'its size 4x5 (HxW) has 20 (too short)'
    ]


def test_uncompressed_coco_rle_that_overruns(tmp_path):
    ann = _seg_coco(tmp_path, dict(counts=[2, 30, 1], size=[4, 5]))
    with pytest.raises(CXRDatasetError) as info:
        CXRCocoDataset(ann_file=ann, task='seg', data_root=str(tmp_path))
    assert str(info.value) == (
        f'{ann} annotation id 7: uncompressed RLE runs cover 33 pixels but '
        'its size 4x5 (HxW) has 20 (overruns)')


def test_browse_dataset_names_an_overrunning_rle(tmp_path):
    browse = load_tool('tools/analysis_tools/browse_dataset.py',
                       'fx_browse_dataset')
    ann = _seg_coco(tmp_path, dict(counts=[2, 30, 1], size=[4, 5]))
    pipeline = [
        dict(type='LoadCXRImage'),
        dict(type='LoadCXRAnnotations'),
        dict(type='PackFXInputs')
    ]
    cfg = Config(
        dict(
            train_cfg=dict(slots=[
                dict(
                    dataset=dict(
                        type='CXRCocoDataset',
                        ann_file=ann,
                        task='seg',
                        data_root=str(tmp_path),
                        pipeline=pipeline))
            ])))
    with DefaultScope.overwrite_default_scope('fx_mm'):
        with pytest.raises(CXRDatasetError) as info:
            browse.browse(cfg, 'train', str(tmp_path / 'out'), 1)
    assert str(info.value) == (
        f'{ann} annotation id 7: uncompressed RLE runs cover 33 pixels but '
        'its size 4x5 (HxW) has 20 (overruns)')


@pytest.mark.parametrize('polygon, message', [
    ([1, 1, 4, 3], 'polygon 0: polygon with 2 point(s); at least 3 are '
     'needed'),
    ([1, 1], 'polygon 0: polygon with 1 point(s); at least 3 are needed'),
    ([1, 1, 4, 3, 2], 'polygon 0 has an odd number of coordinates (5)'),
])
def test_coco_polygon_with_fewer_than_three_points(tmp_path, polygon, message):
    ann = _seg_coco(tmp_path, [polygon])
    with pytest.raises(CXRDatasetError) as info:
        CXRCocoDataset(ann_file=ann, task='seg', data_root=str(tmp_path))
    assert str(info.value) == f'{ann} annotation id 7: {message}'


def test_two_coco_images_with_the_same_id(request, tmp_path):
    for name in ('a.png', 'b.png', 'c.png'):
        write_png(tmp_path / name, size=(8, 6))
    ann = coco_file(tmp_path / 'loc.json', [
        coco_image(1, 'a.png'),
        coco_image(1, 'b.png'),
        coco_image(2, 'c.png')
    ], [box_ann(1, 1), box_ann(2, 2)])
    with pytest.raises(CXRDatasetError) as info:
        CXRCocoDataset(ann_file=ann, task='loc', data_root=str(tmp_path))
    assert str(info.value) == (
        f'{ann} image id 1: 2 images have this id (a.png, b.png); image ids '
        'must be unique, otherwise their annotations get mixed up')
    # skip mode: both images of the shared id are left out, and reported
    ds = CXRCocoDataset(
        ann_file=ann,
        task='loc',
        data_root=str(tmp_path),
        on_bad_record='skip')
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == ['c']
    assert len(ds.get_data_info(0)['instances']) == 1
    assert len(ds.skipped_records) == 2


def test_two_tbx11k_images_with_the_same_id(request):
    tbx_root = request.getfixturevalue('tbx_root')
    path = str(tbx_root / 'annotations/json/TBX11K_train.json')
    data = _tbx_json(TBX_ANNS)
    data['images'][1]['id'] = 1  # health/h0001.png takes tb0001's id
    write_text(path, json.dumps(data))
    with pytest.raises(CXRDatasetError) as info:
        TBX11KDataset(task='loc', data_root=str(tbx_root))
    assert str(info.value) == (
        f'{path} image id 1: 2 images have this id (tb/tb0001.png, '
        'health/h0001.png); image ids must be unique, otherwise their '
        'annotations get mixed up')


def test_coco_annotation_of_an_image_not_in_images(request, tmp_path):
    tbx_root = request.getfixturevalue('tbx_root')
    write_png(tmp_path / 'a.png', size=(8, 6))
    ann = coco_file(tmp_path / 'loc.json', [coco_image(1, 'a.png')],
                    [box_ann(1, 1), box_ann(2, 9)])
    with pytest.raises(CXRDatasetError) as info:
        CXRCocoDataset(ann_file=ann, task='loc', data_root=str(tmp_path))
    assert str(info.value) == (
        f'{ann} annotation id 2: image_id 9 is not in "images"')
    path = str(tbx_root / 'annotations/json/TBX11K_train.json')
    write_text(
        path,
        json.dumps(
            _tbx_json(TBX_ANNS + [dict(TBX_ANNS[0], id=3, image_id=5)])))
    with pytest.raises(CXRDatasetError) as info:
        TBX11KDataset(task='loc', data_root=str(tbx_root))
    assert str(info.value) == (
        f'{path} annotation id 3: image_id 5 is not in "images"')


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


def test_jsrt_split_file_with_a_byte_order_mark(tmp_path):
    root = _tiny_jsrt(tmp_path)
    os.makedirs(osp.join(root, 'splits'))
    with open(osp.join(root, 'splits', 'val.txt'), 'wb') as f:
        f.write(b'\xef\xbb\xbfJPCLN001\r\nJPCNN002\r\n')
    ds = JSRTDataset(root, split='val')
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == \
        ['JPCLN001', 'JPCNN002']


def test_jsrt_nodule_centre_outside_the_image(tmp_path):
    root = _tiny_jsrt(
        tmp_path, clinical=CLNDAT.replace('\t100\t2000\t', '\t3000\t2000\t'))
    with pytest.raises(CXRDatasetError) as info:
        JSRTDataset(root, task='loc')
    assert str(info.value) == (
        f'{osp.join(root, "CLNDAT_EN.txt")}: record 2 (JPCLN002.IMG): '
        'nodule centre x=3000, y=2000 lies outside the 2048x2048 grid of '
        'the clinical data (original_grid=2048)')


# ---------------------------------------------------------------------------
# 5. skip mode and native layouts
def test_skip_a_missing_nih_image(request):
    nih_root = request.getfixturevalue('nih_root')
    os.remove(nih_root / 'images_002/images/00000003_000.png')
    ds = NIHChestXray14Dataset(data_root=str(nih_root), on_bad_record='skip')
    names = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    assert names == [n for n, _ in NIH_ROWS if n != '00000003_000.png']
    assert ds.skipped_records[0][0] == '00000003_000.png'
    assert 'image not found' in ds.skipped_records[0][1]


def test_skip_a_zero_byte_jsrt_image(tmp_path):
    root = _tiny_jsrt(tmp_path)
    bad = osp.join(root, 'images', 'JPCNN001.png')
    open(bad, 'wb').close()
    with pytest.raises(
            CXRReadError, match='JPCNN001.png: cannot read the '
            'image header'):
        JSRTDataset(root)
    ds = JSRTDataset(root, on_bad_record='skip')
    assert len(ds) == 4
    assert ds.skipped_records[0][0] == bad


def test_skip_bad_vindr_rows_and_their_images(request):
    vindr_root = request.getfixturevalue('vindr_root')
    log = request.getfixturevalue('fx_log')
    rows = list(VINDR_ROWS)
    rows[3] = 'aaa,Flu,8,R8,10,10,20,20'  # unknown class
    rows[10] = 'ccc,Pleural effusion,10,R3,9,0,5,5'  # x_max < x_min
    write_text(vindr_root / 'train.csv', '\n'.join([VINDR_HEADER] + rows))
    ds = VinDrCXRDataset(
        task='loc', data_root=str(vindr_root), on_bad_record='skip')
    # aaa and ccc lose a box each: left out whole, not trained without it
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == ['bbb']
    path = str(vindr_root / 'train.csv')
    assert [where for where, _ in ds.skipped_records
            ] == [f'{path} line 5', f'{path} line 12']
    assert any('left out 2 images with a bad row' in m and 'aaa, ccc' in m
               for m in log)


def test_check_dataset_reports_every_bad_row(request):
    vindr_root = request.getfixturevalue('vindr_root')
    rows = list(VINDR_ROWS)
    rows[3] = 'aaa,Flu,8,R8,10,10,20,20'
    rows[10] = 'ccc,Pleural effusion,10,R3,9,0,5,5'
    write_text(vindr_root / 'train.csv', '\n'.join([VINDR_HEADER] + rows))
    row = load_tool('tools/analysis_tools/check_dataset.py',
                    'fx_check_dataset').check_slot(
                        dict(
                            type='VinDrCXRDataset',
                            task='loc',
                            data_root=str(vindr_root)),
                        decode=False,
                        max_images=None,
                        workers=1)
    assert not row['fatal'] and row['bad'] == 2 and row['ok'] == 1, row
    assert "line 5: unknown class name 'Flu'" in row['problems'][0]
    assert 'line 12: box [9.0, 0.0, 5.0, 5.0] has x_max <= x_min' in \
        row['problems'][1]


def test_skip_bad_node21_rows(request):
    node21_root = request.getfixturevalue('node21_root')
    write_text(
        node21_root / 'metadata.csv', 'img_name,x,y,width,height,label\n'
        'n0001.mha,10,12,5,6,1\n'
        'n0001.mha,20,22,-4,4,1\n'
        'c0001.mha,0,0,0,0,0\n'
        'c0002.mha,,,,,2\n')
    ds = NODE21Dataset(
        task='loc', data_root=str(node21_root), on_bad_record='skip')
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == \
        ['c0001']
    assert [w.rsplit(' ', 1)[-1] for w, _ in ds.skipped_records] == \
        ['3', '5']


def test_skip_bad_coco_boxes_and_categories(request, tmp_path):
    tbx_root = request.getfixturevalue('tbx_root')
    for name in ('a.png', 'b.png', 'c.png'):
        write_png(tmp_path / name, size=(8, 6))
    ann = coco_file(tmp_path / 'loc.json', [
        coco_image(1, 'a.png'),
        coco_image(2, 'b.png'),
        coco_image(3, 'c.png')
    ], [
        box_ann(1, 1),
        box_ann(2, 2, bbox=(1, 1, 0, 2)),
        box_ann(3, 3, category_id=7)
    ])
    ds = CXRCocoDataset(
        ann_file=ann,
        task='loc',
        data_root=str(tmp_path),
        on_bad_record='skip')
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == ['a']
    assert [where for where, _ in ds.skipped_records
            ] == [f'{ann} annotation id 2', f'{ann} annotation id 3']
    path = str(tbx_root / 'annotations/json/TBX11K_train.json')
    anns = [TBX_ANNS[0], dict(TBX_ANNS[1], image_id=3, category_id=9)]
    write_text(path, json.dumps(_tbx_json(anns)))
    tbx = TBX11KDataset(
        task='loc', data_root=str(tbx_root), on_bad_record='skip')
    assert len(tbx) == 3
    assert tbx.skipped_records == [
        (f'{path} annotation id 2',
         f'{path} annotation id 2: category_id 9 is not in "categories"')
    ]


def test_chexpert_prefix_decided_from_an_existing_image(request):
    chexpert_root = request.getfixturevalue('chexpert_root')
    folder = chexpert_root / 'CheXpert-v1.0-small'
    os.remove(folder / 'train/patient00001/study1/view1_frontal.jpg')
    ds = CheXpertDataset(
        data_root=str(folder), on_bad_record='skip', frontal_only=True)
    assert len(ds) == 1
    assert ds.get_data_info(0)['img_path'] == str(
        folder / 'train/patient00002/study2/view1_frontal.jpg')
    assert len(ds.skipped_records) == 1
    assert 'patient00001/study1/view1_frontal.jpg: image file not found' in \
        ds.skipped_records[0][1]


def test_rsna_loc_without_the_class_file(request):
    rsna_root = request.getfixturevalue('rsna_root')
    os.remove(rsna_root / 'stage_2_detailed_class_info.csv')
    loc = RSNAPneumoniaDataset(task='loc', data_root=str(rsna_root))
    assert [len(loc.get_data_info(i)['instances']) for i in range(3)] == \
        [0, 2, 0]
    with pytest.raises(
            FileNotFoundError,
            match='stage_2_detailed_class_info.csv: annotation '
            'file not found'):
        RSNAPneumoniaDataset(data_root=str(rsna_root))


def test_vindr_converter_suggests_the_tasks_you_have(request, tmp_path):
    vindr_root = request.getfixturevalue('vindr_root')
    os.remove(vindr_root / 'image_labels_train.csv')
    with pytest.raises(FileNotFoundError) as info:
        convert('vindr_cxr', str(vindr_root), str(tmp_path / 'coco'))
    message = str(info.value)
    assert message.startswith(f'{vindr_root / "image_labels_train.csv"}: '
                              'annotation file not found')
    assert message.endswith(
        "[vindr_cxr, task 'cls', split 'train': without the cls annotations "
        '(image_labels_train.csv), convert the other tasks only: --tasks '
        'loc]')
    assert '--splits' not in message  # VinDr has one split


FOUR_FINDINGS_CSV = (
    'Image Index,Patient ID,Fracture,Pneumothorax,Airspace opacity,'
    'Nodule or mass,Set Id\n'
    '00000001_000.png,1,NO,YES,no,NO,test\n'
    '00000003_000.png,3,YES,NO,YES,yes,test\n'
    '00000013_005.png,13,0,0,0,1,validation\n')


def test_nih_four_findings_relabels(request):
    nih_root = request.getfixturevalue('nih_root')
    write_text(nih_root / 'four_findings.csv', FOUR_FINDINGS_CSV)
    ds = public.NIHFourFindingsDataset(
        data_root=str(nih_root), ann_file='four_findings.csv')
    assert ds.task_classes == ('Fracture', 'Pneumothorax', 'Airspace opacity',
                               'Nodule or mass')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['img_id'] for i in infos
            ] == ['00000001_000.png', '00000003_000.png', '00000013_005.png']
    assert [i['gt_score'].tolist() for i in infos] == [[0, 1, 0, 0],
                                                       [1, 0, 1, 1],
                                                       [0, 0, 0, 1]]
    assert [i['set_id'] for i in infos] == ['test', 'test', 'validation']
    assert infos[1]['img_path'] == str(nih_root /
                                       'images_002/images/00000003_000.png')
    test = public.NIHFourFindingsDataset(
        data_root=str(nih_root),
        ann_file='four_findings.csv',
        set_ids=['test'])
    assert len(test) == 2
    bad = FOUR_FINDINGS_CSV.replace('YES,NO,YES,yes', 'YES,,YES,yes')
    path = write_text(nih_root / 'four_findings.csv', bad)
    with pytest.raises(CXRDatasetError) as info:
        public.NIHFourFindingsDataset(data_root=str(nih_root), ann_file=path)
    assert str(info.value) == (f"{path} line 3: column 'Pneumothorax' is '';"
                               ' expected YES, NO, 1 or 0')
