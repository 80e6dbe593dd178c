# Copyright (c) fx_mm contributors. All rights reserved.
import filecmp
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmcv.transforms import Compose

from fx_mm.datasets import SyntheticCXRDataset, generate_synthetic_cxr
from fx_mm.datasets.base_cxr import CXRDatasetError
from fx_mm.datasets.synthetic import ORGANS, VARIANTS
from fx_mm.registry import DATASETS

NUM, SIZE, SEED = 40, 256, 3


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('synthetic_cxr'))
    for variant in VARIANTS:
        generate_synthetic_cxr(root, NUM, SIZE, SEED, variant=variant)
    return root


def _annotations(root: str, variant: str) -> list:
    with open(osp.join(root, variant, 'annotations.json')) as f:
        return json.load(f)['images']


def _read(root: str, variant: str, rel: str) -> np.ndarray:
    return cv2.imread(osp.join(root, variant, rel), cv2.IMREAD_UNCHANGED)


def _all_files(directory: str) -> list:
    return sorted(
        osp.relpath(osp.join(d, f), directory)
        for d, _, files in os.walk(directory) for f in files)


def test_generation_is_deterministic(tmp_path):
    dirs = [
        generate_synthetic_cxr(str(tmp_path / name), 6, 128, seed=7)
        for name in ('a', 'b')
    ]
    files = _all_files(dirs[0])
    # 6 images + 6 x 5 masks + annotations + manifest
    assert len(files) == 6 + 6 * 5 + 2
    assert files == _all_files(dirs[1])
    match, mismatch, errors = filecmp.cmpfiles(
        dirs[0], dirs[1], files, shallow=False)
    assert mismatch == [] and errors == []

    other = generate_synthetic_cxr(str(tmp_path / 'c'), 6, 128, seed=8)
    image = 'images/phantom_a_00000.png'
    assert not np.array_equal(
        cv2.imread(osp.join(dirs[0], image)), cv2.imread(
            osp.join(other, image)))
    # image i does not depend on how many images are generated
    fewer = generate_synthetic_cxr(str(tmp_path / 'd'), 4, 128, seed=7)
    for i in range(4):
        rel = f'images/phantom_a_{i:05d}.png'
        assert filecmp.cmp(
            osp.join(fewer, rel), osp.join(dirs[0], rel), shallow=False)


@pytest.mark.parametrize('variant,finding', [('phantom_a', 'nodule'),
                                             ('phantom_b', 'opacity')])
def test_labels_boxes_masks_consistent(root, variant, finding):
    images = _annotations(root, variant)
    assert len(images) == NUM
    positives = 0
    for image in images:
        img = _read(root, variant, image['file']).astype(np.float32)
        assert img.shape == (SIZE, SIZE)
        masks = {o: _read(root, variant, image['masks'][o]) for o in ORGANS}
        for organ, mask in masks.items():
            assert mask.shape == (SIZE, SIZE)
            assert set(np.unique(mask)) <= {0, 255}
            assert mask.any(), (image['id'], organ)
        lungs = (masks['left_lung'] > 0) | (masks['right_lung'] > 0)
        boxes = [b['bbox'] for b in image['boxes']]
        assert {b['label'] for b in image['boxes']} <= {finding}
        # label 1 iff at least one box of the finding
        assert image['labels'][finding] == int(len(boxes) > 0)
        positives += image['labels'][finding]
        in_boxes = np.zeros((len(boxes), SIZE, SIZE), dtype=bool)
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE
            in_boxes[k, int(y1):int(np.ceil(y2)),
                     int(x1):int(np.ceil(x2))] = True
        for inside in in_boxes:
            # the finding lies in a lung and is brighter than the lung
            # outside every box
            assert (inside & lungs).sum() > 0.5 * inside.sum()
            assert img[inside & lungs].mean() > \
                img[~in_boxes.any(0) & lungs].mean() + 10
        if finding == 'nodule':
            for x1, y1, x2, y2 in boxes:
                cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2
                assert 5 <= r <= 12
                assert lungs[int(cy), int(cx)]
                yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
                dist = np.hypot(xx - cx, yy - cy)
                core = img[dist < r / 2].mean()
                ring = img[(dist > 1.5 * r) & (dist < 2.5 * r) & lungs]
                assert core > ring.mean() + 40
    # findings are neither rare nor everywhere
    assert 0.3 * NUM <= positives <= 0.7 * NUM

    # cardiomegaly = enlarged heart: every positive heart is larger
    areas = {0: [], 1: []}
    for image in images:
        heart = _read(root, variant, image['masks']['heart'])
        areas[image['labels']['cardiomegaly']].append((heart > 0).sum())
    assert areas[0] and areas[1]
    assert min(areas[1]) > max(areas[0])


def test_images_are_chest_like(root):
    for variant in VARIANTS:
        for image in _annotations(root, variant)[:10]:
            img = _read(root, variant, image['file']).astype(np.float32)
            heart = _read(root, variant, image['masks']['heart']) > 0
            lungs = (_read(root, variant, image['masks']['left_lung'])
                     | _read(root, variant, image['masks']['right_lung'])) > 0
            # dark lungs, bright heart/mediastinum, dark air in the corners
            assert img[heart].mean() > img[lungs].mean() + 60
            assert img[:8, :8].mean() < img[lungs].mean()
            # the heart lies right of the image centre (patient's left);
            # the patient's left lung is the right one in the image
            cols = np.nonzero(heart)[1]
            assert cols.mean() > SIZE / 2
            left = np.nonzero(
                _read(root, variant, image['masks']['left_lung']))[1]
            right = np.nonzero(
                _read(root, variant, image['masks']['right_lung']))[1]
            assert left.mean() > SIZE / 2 > right.mean()


def test_variants_have_different_label_sets(root):
    metas = {}
    for variant in VARIANTS:
        per_task = {}
        for task in ('cls', 'loc', 'seg'):
            dataset = SyntheticCXRDataset(
                data_root=root,
                variant=variant,
                split='all',
                num_images=NUM,
                image_size=SIZE,
                seed=SEED,
                task=task)
            assert dataset.dataset_name == variant
            assert len(dataset) == NUM
            per_task[task] = dataset.task_classes
        metas[variant] = per_task
    assert metas['phantom_a'] == dict(
        cls=('nodule', 'cardiomegaly'),
        loc=('nodule', ),
        seg=('heart', 'left_lung', 'right_lung'))
    assert metas['phantom_b'] == dict(
        cls=('opacity', 'cardiomegaly'),
        loc=('opacity', ),
        seg=('left_clavicle', 'right_clavicle'))


def test_dataset_infos_and_splits(root):
    common = dict(
        type='SyntheticCXRDataset',
        data_root=root,
        variant='phantom_a',
        num_images=NUM,
        image_size=SIZE,
        seed=SEED)
    ids = {}
    for split in ('train', 'val', 'test'):
        dataset = DATASETS.build(dict(common, split=split, task='loc'))
        ids[split] = {
            dataset.get_data_info(i)['img_id']
            for i in range(len(dataset))
        }
    assert [len(ids[s]) for s in ('train', 'val', 'test')] == [28, 6, 6]
    assert not (ids['train'] & ids['val'] or ids['train'] & ids['test']
                or ids['val'] & ids['test'])

    by_id = {a['id']: a for a in _annotations(root, 'phantom_a')}
    cls = DATASETS.build(dict(common, split='val', task='cls'))
    for i in range(len(cls)):
        info = cls.get_data_info(i)
        labels = by_id[info['img_id']]['labels']
        assert info['gt_score'].tolist() == [
            labels['nodule'], labels['cardiomegaly']
        ]
        assert info['dataset'] == 'phantom_a' and info['task'] == 'cls'
    loc = DATASETS.build(dict(common, split='all', task='loc'))
    for i in range(len(loc)):
        info = loc.get_data_info(i)
        boxes = by_id[info['img_id']]['boxes']
        assert [inst['bbox'] for inst in info['instances']] == \
            [b['bbox'] for b in boxes]
        assert all(inst['bbox_label'] == 0 for inst in info['instances'])
        assert info['img_size'] == (SIZE, SIZE)

    with pytest.raises(CXRDatasetError, match='unknown synthetic CXR'):
        SyntheticCXRDataset(data_root=root, variant='phantom_z')
    with pytest.raises(CXRDatasetError, match='unknown split'):
        SyntheticCXRDataset(data_root=root, split='validation')


@pytest.mark.parametrize('task', ['loc', 'seg'])
def test_pipeline_resize_keeps_alignment(root, task):
    pipeline = Compose([
        dict(type='LoadCXRImage'),
        dict(type='LoadCXRAnnotations'),
        dict(type='mmdet.Resize', scale=(128, 128), keep_ratio=False),
        dict(type='PackFXInputs')
    ])
    dataset = SyntheticCXRDataset(
        data_root=root,
        variant='phantom_a',
        split='all',
        num_images=NUM,
        image_size=SIZE,
        seed=SEED,
        task=task)
    checked = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if task == 'loc' and not info['instances']:
            continue
        packed = pipeline(dict(info))
        sample = packed['data_samples']
        assert packed['inputs'].shape == (3, 128, 128)
        assert sample.img_shape == (128, 128)
        assert sample.ori_shape == (SIZE, SIZE)
        if task == 'loc':
            expected = np.array([inst['bbox'] for inst in info['instances']],
                                dtype=np.float32) * 0.5
            np.testing.assert_allclose(
                sample.gt_instances.bboxes.numpy(), expected, atol=1e-4)
            assert sample.gt_instances.labels.tolist() == [0] * len(expected)
        else:
            masks = sample.gt_sem_seg.data.numpy()
            assert masks.shape == (3, 128, 128)
            for channel, path in enumerate(info['seg_map_paths']):
                original = (cv2.imread(path, cv2.IMREAD_GRAYSCALE) > 0)
                expected = cv2.resize(
                    original.astype(np.uint8), (128, 128),
                    interpolation=cv2.INTER_NEAREST)
                np.testing.assert_array_equal(masks[channel], expected)
            # image and masks still line up: heart brighter than lungs
            gray = packed['inputs'][0].numpy().astype(np.float32)
            assert gray[masks[0] > 0].mean() > \
                gray[(masks[1] | masks[2]) > 0].mean() + 60
        checked += 1
        if checked == 4:
            break
    assert checked == 4


def test_regeneration_only_when_parameters_change(tmp_path):
    root = str(tmp_path)
    target = generate_synthetic_cxr(root, 5, 96, seed=1)
    manifest = osp.join(target, 'manifest.json')
    image = osp.join(target, 'images', 'phantom_a_00000.png')
    stamps = os.stat(manifest).st_mtime_ns, os.stat(image).st_mtime_ns

    assert generate_synthetic_cxr(root, 5, 96, seed=1) == target
    dataset = SyntheticCXRDataset(
        data_root=root, split='all', num_images=5, image_size=96, seed=1)
    assert len(dataset) == 5
    assert (os.stat(manifest).st_mtime_ns,
            os.stat(image).st_mtime_ns) == stamps
    # no temporary directories left behind
    assert sorted(os.listdir(root)) == ['phantom_a']

    generate_synthetic_cxr(root, 6, 96, seed=1)
    with open(manifest) as f:
        assert json.load(f)['num_images'] == 6
    assert len(os.listdir(osp.join(target, 'images'))) == 6

    os.makedirs(osp.join(root, 'phantom_b'))
    with pytest.raises(CXRDatasetError, match='no manifest.json'):
        generate_synthetic_cxr(root, 5, 96, seed=1, variant='phantom_b')


def test_generation_is_fast(tmp_path):
    import time
    start = time.perf_counter()
    generate_synthetic_cxr(str(tmp_path), 50, 256, seed=0, variant='phantom_b')
    # ~200 images must take seconds: 50 well under 5 s on 2 slow cores
    assert time.perf_counter() - start < 5.0


def test_logged_counts_are_those_after_indices(root, fx_log):
    """``indices`` (e.g. ``--cfg-options ...dataset.indices=4``) shrinks
    what the dataset serves; the count it logs says so."""
    common = dict(
        type='SyntheticCXRDataset',
        data_root=root,
        variant='phantom_a',
        num_images=NUM,
        image_size=SIZE,
        seed=SEED,
        split='train',
        task='cls')
    DATASETS.build(common)
    subset = DATASETS.build(dict(common, indices=4))
    assert len(subset) == 4
    counts = [m for m in fx_log if 'phantom_a/cls:' in m]
    assert len(counts) == 2, counts
    assert ': 28 images, positives' in counts[0]
    assert ': 4 images (of 28 loaded; `indices` subset), positives' in \
        counts[1]
    # the positives are counted over the 4 samples served
    positives = sum(
        int(subset.get_data_info(i)['gt_score'][0]) for i in range(4))
    assert f'nodule={positives}/4' in counts[1]
