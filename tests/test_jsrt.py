# Copyright (c) fx_mm contributors. All rights reserved.
import os
import os.path as osp

import numpy as np
import pytest
from mmcv.transforms import Compose
from PIL import Image

from fx_mm.datasets import JSRTDataset
from fx_mm.datasets.base_cxr import CXRDatasetError
from fx_mm.datasets.public.jsrt import (JSRT_SEG_CLASSES, parse_jsrt_nodules,
                                        parse_jsrt_non_nodules)

# Three records as the distributed file writes them: bare CR separators,
# Latin-1 text, '?' for an unknown age, tabs inside location/diagnosis and
# a trailing tab. Values checked by hand below.
CLNDAT = ('JPCLN001.IMG\t5\t15\t53\tmale\t1634\t692\tmalignant\tl.upper\t'
          'lobe\tlung cancer\t\r'
          'JPCLN002.IMG\t3\t30\t?\tfemale\t100\t2000\tbenign\tr.middl\t'
          'e lobe\tgranulome\tcalcifi\xe9 (\xb5m)\r'
          'JPCLN003.IMG\t1\t8\t75\tfemale\t660\t688\tmalignant\tr.upper\t'
          'lobe(S1)\tsusp. lung m\tetastasis')
CNNDAT = ('JPCNN001.IMG 30  female  non-nodule\r'
          'JPCNN002.IMG ?  male      non-nodule')


def _write(path, text: str) -> str:
    with open(path, 'wb') as f:
        f.write(text.encode('latin-1'))
    return str(path)


def test_parse_clinical_file(tmp_path):
    records = parse_jsrt_nodules(_write(tmp_path / 'CLNDAT_EN.txt', CLNDAT))
    assert list(records) == ['JPCLN001', 'JPCLN002', 'JPCLN003']
    assert records['JPCLN001'] == dict(
        record=1,
        subtlety=5,
        size_mm=15.0,
        age=53,
        sex='male',
        x=1634.0,
        y=692.0,
        malignancy='malignant',
        location='l.upper lobe',
        diagnosis='lung cancer')
    second = records['JPCLN002']
    assert (second['record'], second['subtlety'], second['size_mm']) == \
        (2, 3, 30.0)
    assert second['age'] is None and second['sex'] == 'female'
    assert (second['x'], second['y']) == (100.0, 2000.0)
    assert second['location'] == 'r.middl e lobe'
    assert second['diagnosis'] == 'granulome calcifi\xe9 (\xb5m)'
    assert records['JPCLN003']['diagnosis'] == 'susp. lung m etastasis'

    others = parse_jsrt_non_nodules(_write(tmp_path / 'CNNDAT.TXT', CNNDAT))
    assert others == dict(
        JPCNN001=dict(record=1, age=30, sex='female', diagnosis='non-nodule'),
        JPCNN002=dict(record=2, age=None, sex='male', diagnosis='non-nodule'))


@pytest.mark.parametrize('text,message', [
    ('JPCLN001.IMG\t5\t15\t53\tmale\t1634', 'expected at least 7'),
    ('JPCLN001.IMG\t5\tbig\t53\tmale\t1634\t692', "field 'size' is 'big'"),
    ('JPCLN001.IMG\t9\t15\t53\tmale\t1634\t692', 'subtlety 9'),
    ('JPCNN001.IMG\t5\t15\t53\tmale\t1634\t692', 'not a JPCLNnnn.IMG'),
    ('JPCLN001.IMG\t5\t15\t53\tmale\t1\t2\rJPCLN001.IMG\t5\t15\t53\tmale'
     '\t1\t2', 'record 2: JPCLN001 also in record 1'),
])
def test_parse_clinical_file_errors(tmp_path, text, message):
    path = _write(tmp_path / 'CLNDAT_EN.txt', text)
    with pytest.raises(CXRDatasetError, match=message) as err:
        parse_jsrt_nodules(path)
    assert path in str(err.value)


def _tiny_jsrt(root, clinical: str = CLNDAT, size: int = 64) -> str:
    """A JSRT-like tree: 3 nodule + 2 non-nodule images of size x size."""
    os.makedirs(root / 'images')
    for name in ('JPCLN001', 'JPCLN002', 'JPCLN003', 'JPCNN001', 'JPCNN002'):
        Image.fromarray(np.zeros(
            (size, size), np.uint8)).save(root / 'images' / f'{name}.png')
    _write(root / 'CLNDAT_EN.txt', clinical)
    _write(root / 'CNNDAT_EN.TXT', CNNDAT)
    return str(root)


def test_tiny_tree_boxes_and_errors(tmp_path):
    root = _tiny_jsrt(tmp_path / 'ok')
    # a 64 px image of a 2048 grid: scale 1/32; 1 mm per pixel
    dataset = JSRTDataset(root, task='loc', pixel_spacing=1.0)
    boxes = {
        dataset.get_data_info(i)['img_id']:
        [inst['bbox'] for inst in dataset.get_data_info(i)['instances']]
        for i in range(len(dataset))
    }
    # JPCLN001: centre (1634, 692) / 32 = (51.0625, 21.625), side 15
    np.testing.assert_allclose(boxes['JPCLN001'],
                               [[43.5625, 14.125, 58.5625, 29.125]])
    # JPCLN002: centre (3.125, 62.5), side 30 -> clipped to the image
    np.testing.assert_allclose(boxes['JPCLN002'], [[0, 47.5, 18.125, 64]])
    assert boxes['JPCNN001'] == [] and boxes['JPCNN002'] == []

    # a record whose image is missing
    missing = tmp_path / 'missing'
    _tiny_jsrt(missing)
    os.remove(missing / 'images' / 'JPCLN003.png')
    with pytest.raises(
            CXRDatasetError, match=r'record 3 \(JPCLN003.IMG\) has no image'):
        JSRTDataset(str(missing), task='cls')
    # an image without a record
    extra = tmp_path / 'extra'
    _tiny_jsrt(extra, clinical=CLNDAT.rsplit('\r', 1)[0])
    with pytest.raises(
            CXRDatasetError, match=r'JPCLN003.png: no record for JPCLN003'):
        JSRTDataset(str(extra), task='cls')
    # a split list naming an unknown image
    os.makedirs(tmp_path / 'ok' / 'splits')
    _write(tmp_path / 'ok' / 'splits' / 'val.txt', 'JPCLN001\nJPCLN009\n')
    with pytest.raises(
            CXRDatasetError,
            match=r"val.txt: line 2: 'JPCLN009' is not an image"):
        JSRTDataset(root, split='val')
    with pytest.raises(CXRDatasetError, match='seg_classes'):
        JSRTDataset(root, task='seg', seg_classes=('heart', 'liver'))


# ----------------------------------------------------------------------
# The real database (skipped when ../shared/data/jsrt is absent)
# ----------------------------------------------------------------------
def test_real_counts_and_splits(jsrt_root):
    dataset = JSRTDataset(jsrt_root, split='all', task='cls')
    assert len(dataset) == 247
    scores = np.stack(
        [dataset.get_data_info(i)['gt_score'] for i in range(len(dataset))])
    assert scores.shape == (247, 1) and scores.sum() == 154
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert info['gt_score'][0] == info['img_id'].startswith('JPCLN')
    ids = {}
    for split, count in (('train', 173), ('val', 25), ('test', 49)):
        part = JSRTDataset(jsrt_root, split=split, task='cls')
        ids[split] = [
            part.get_data_info(i)['img_id'] for i in range(len(part))
        ]
        assert len(ids[split]) == count == len(set(ids[split]))
    union = set(ids['train']) | set(ids['val']) | set(ids['test'])
    assert len(union) == 247


def test_real_boxes_inside_lungs(jsrt_root):
    dataset = JSRTDataset(jsrt_root, split='all', task='loc')
    clinical = parse_jsrt_nodules(osp.join(jsrt_root, 'CLNDAT_EN.txt'))
    num_boxes = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert info['img_size'] == (1024, 1024)
        name = info['img_id']
        if name.startswith('JPCNN'):
            assert info['instances'] == []
            continue
        (inst, ) = info['instances']
        x1, y1, x2, y2 = inst['bbox']
        num_boxes += 1
        cx, cy = clinical[name]['x'] / 2, clinical[name]['y'] / 2
        assert x1 < cx < x2 and y1 < cy < y2
        # a square of the nodule diameter at 0.35 mm per pixel
        side = clinical[name]['size_mm'] / 0.35
        assert x2 - x1 == pytest.approx(side)
        assert y2 - y1 == pytest.approx(side)
        lungs = np.zeros((1024, 1024), dtype=bool)
        for organ in ('left_lung', 'right_lung'):
            with Image.open(
                    osp.join(jsrt_root, 'scr_masks', organ,
                             f'{name}.gif')) as mask:
                lungs |= np.asarray(mask.convert('L')) > 0
        rows, cols = np.nonzero(lungs)
        assert cols.min() <= x1 and x2 <= cols.max() + 1, name
        assert rows.min() <= y1 and y2 <= rows.max() + 1, name
    assert num_boxes == 154

    first = dataset.get_data_info(0)
    assert first['img_id'] == 'JPCLN001'
    # size 15 mm, centre (1634, 692) / 2; half side 15 / 0.35 / 2
    half = 15 / 0.35 / 2
    np.testing.assert_allclose(
        first['instances'][0]['bbox'],
        [817 - half, 346 - half, 817 + half, 346 + half])


def test_real_masks_through_pipeline(jsrt_root):
    pipeline = Compose([
        dict(type='LoadCXRImage'),
        dict(type='LoadCXRAnnotations'),
        dict(type='PackFXInputs')
    ])
    dataset = JSRTDataset(jsrt_root, split='test', task='seg')
    assert dataset.task_classes == JSRT_SEG_CLASSES
    for i in (0, 1, len(dataset) - 1):
        info = dataset.get_data_info(i)
        packed = pipeline(dict(info))
        masks = packed['data_samples'].gt_sem_seg.data.numpy()
        assert packed['inputs'].shape == (3, 1024, 1024)
        assert masks.shape == (5, 1024, 1024)
        assert packed['data_samples'].dataset == 'jsrt'
        for channel, organ in enumerate(JSRT_SEG_CLASSES):
            with Image.open(
                    osp.join(jsrt_root, 'scr_masks', organ,
                             f'{info["img_id"]}.gif')) as gif:
                expected = (np.asarray(gif.convert('L')) > 0)
            np.testing.assert_array_equal(masks[channel], expected)
            assert masks[channel].any()
        # patient's left lung is on the image right
        left_cols = np.nonzero(masks[1])[1]
        right_cols = np.nonzero(masks[2])[1]
        assert left_cols.mean() > 512 > right_cols.mean()

    heart_only = JSRTDataset(
        jsrt_root, split='val', task='seg', seg_classes=('heart', ))
    assert heart_only.metainfo['seg_classes'] == ('heart', )
    packed = pipeline(dict(heart_only.get_data_info(0)))
    assert packed['data_samples'].gt_sem_seg.data.shape == (1, 1024, 1024)
    lungs = JSRTDataset(
        jsrt_root,
        split='val',
        task='seg',
        seg_classes=('right_lung', 'left_lung'))
    info = lungs.get_data_info(0)
    assert [osp.basename(osp.dirname(p)) for p in info['seg_map_paths']] \
        == ['right_lung', 'left_lung']


def test_tiny_tree_organ_boxes_and_empty_mask(tmp_path):
    """loc_target='organs': a box per organ mask; an empty mask is named."""
    root = _tiny_jsrt(tmp_path / 'organs')
    names = ('JPCLN001', 'JPCLN002', 'JPCLN003', 'JPCNN001', 'JPCNN002')
    for organ in ('heart', 'left_lung'):
        os.makedirs(tmp_path / 'organs' / 'scr_masks' / organ)
        for name in names:
            mask = np.zeros((64, 64), np.uint8)
            if organ == 'heart':
                mask[30:41, 20:33] = 255  # rows 30..40, cols 20..32
            else:
                mask[5:20, 40:60] = 255
            Image.fromarray(mask).save(tmp_path / 'organs' / 'scr_masks' /
                                       organ / f'{name}.gif')
    dataset = JSRTDataset(
        root,
        task='loc',
        loc_target='organs',
        seg_classes=('left_lung', 'heart'))
    assert dataset.task_classes == ('left_lung', 'heart')
    for i in range(len(dataset)):  # non-nodule images get organ boxes too
        instances = dataset.get_data_info(i)['instances']
        assert [inst['bbox_label'] for inst in instances] == [0, 1]
        np.testing.assert_allclose([inst['bbox'] for inst in instances],
                                   [[40, 5, 60, 20], [20, 30, 33, 41]])
    # the default still boxes nodules
    assert JSRTDataset(root, task='loc').task_classes == ('nodule', )
    with pytest.raises(CXRDatasetError, match='unknown loc_target'):
        JSRTDataset(root, task='loc', loc_target='lungs')

    empty = tmp_path / 'organs' / 'scr_masks' / 'heart' / 'JPCLN002.gif'
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(empty)
    with pytest.raises(
            CXRDatasetError,
            match=r'heart/JPCLN002.gif: the heart mask is empty'):
        JSRTDataset(
            root, task='loc', loc_target='organs', seg_classes=('heart', ))


def test_real_organ_boxes(jsrt_root):
    dataset = JSRTDataset(
        jsrt_root, split='val', task='loc', loc_target='organs')
    assert dataset.task_classes == JSRT_SEG_CLASSES
    assert len(dataset) == 25
    for i in (0, len(dataset) - 1):
        info = dataset.get_data_info(i)
        assert [inst['bbox_label'] for inst in info['instances']] == \
            list(range(5))
        boxes = {}
        for inst in info['instances']:
            organ = JSRT_SEG_CLASSES[inst['bbox_label']]
            with Image.open(
                    osp.join(jsrt_root, 'scr_masks', organ,
                             f'{info["img_id"]}.gif')) as gif:
                mask = np.asarray(gif.convert('L')) > 0
            rows, cols = np.nonzero(mask)
            expected = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            np.testing.assert_array_equal(inst['bbox'], expected)
            boxes[organ] = inst['bbox']
        # the patient's left organs lie on the image right
        for side in ('lung', 'clavicle'):
            left, right = boxes[f'left_{side}'], boxes[f'right_{side}']
            assert (left[0] + left[2]) / 2 > 512 > (right[0] + right[2]) / 2
