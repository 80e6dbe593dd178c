# Copyright (c) fx_mm contributors. All rights reserved.
"""The train-time augmentation of the dataset configs (docs/datasets.md,
"Augmentation"): what it does to real JSRT samples.

- a horizontal flip swaps the sided classes: the patient's left lung, which
  lies on the image right, lands mirrored in the ``right_lung`` channel /
  box class of the flipped image (it now lies on the image left, where a
  right lung is drawn);
- every train pipeline is deterministic under a seed and changes samples;
- test pipelines hold no random transform.
"""
import os.path as osp

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine import Config

from fx_mm.datasets import JSRTDataset
from fx_mm.datasets.transforms.transforms import side_pairs

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
JSRT_BASE = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'jsrt.py')
RANDOM = ('FXRandomFlip', 'mmdet.RandomFlip', 'mmseg.RandomRotate',
          'mmpretrain.RandomResizedCrop', 'RandomApply')


def _pipelines():
    return Config.fromfile(JSRT_BASE).train_pipelines


def _always_flip(pipeline):
    """The config pipeline up to its flip, flipping every time."""
    out = []
    for transform in pipeline:
        out.append(dict(transform))
        if transform['type'] == 'FXRandomFlip':
            out[-1]['prob'] = 1.0
            return out
    raise AssertionError(f'no FXRandomFlip in {pipeline}')


def test_side_pairs():
    assert side_pairs(['heart', 'left_lung', 'right_lung', 'left_clavicle',
                       'right_clavicle']) == [(1, 2), (3, 4)]
    assert side_pairs(['Left Lung', 'Right Lung', 'Heart']) == [(0, 1)]
    ribs = [f'R{i}' for i in range(1, 11)] + [f'L{i}' for i in range(1, 11)]
    assert side_pairs(ribs) == [(i, i + 10) for i in range(10)]
    assert side_pairs(['Nodule', 'Cardiomegaly', 'Pleural Thickening']) == []
    with pytest.raises(ValueError, match="x.png: class 'lungs_left' names a "
                       "side but 'lungs_right' is not a class"):
        side_pairs(['heart', 'lungs_left'], 'x.png')


def test_jsrt_flip_swaps_left_and_right(jsrt_root):
    pipelines = _pipelines()
    # seg: the config's pipeline up to its flip, flip forced
    seg = JSRTDataset(jsrt_root, split='val', task='seg')
    info = seg.get_data_info(0)
    plain = Compose(_always_flip(pipelines['seg'])[:-1])(dict(info))
    flipped = Compose(_always_flip(pipelines['seg']))(dict(info))
    assert flipped['flip'] and flipped['flip_direction'] == 'horizontal'
    before, after = plain['gt_seg_map'], flipped['gt_seg_map']
    assert before.shape == after.shape == (256, 256, 5)
    width = before.shape[1]
    # the left lung (image right) lands mirrored in the right-lung channel
    np.testing.assert_array_equal(after[..., 2], before[:, ::-1, 1])
    np.testing.assert_array_equal(after[..., 1], before[:, ::-1, 2])
    np.testing.assert_array_equal(after[..., 4], before[:, ::-1, 3])
    np.testing.assert_array_equal(after[..., 0], before[:, ::-1, 0])
    assert np.nonzero(after[..., 2])[1].mean() < width / 2 < \
        np.nonzero(after[..., 1])[1].mean()

    # organ boxes: the left-lung box, mirrored, becomes the right-lung box
    organs = JSRTDataset(
        jsrt_root, split='val', task='loc', loc_target='organs')
    info = organs.get_data_info(0)
    plain = Compose(_always_flip(pipelines['loc'])[:-1])(dict(info))
    flipped = Compose(_always_flip(pipelines['loc']))(dict(info))
    boxes = plain['gt_bboxes'].numpy()
    labels = plain['gt_bboxes_labels']
    mirrored = boxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [width, 0, width, 0]
    swap = {0: 0, 1: 2, 2: 1, 3: 4, 4: 3}
    for box, label in zip(mirrored, labels):
        row = list(flipped['gt_bboxes_labels']).index(swap[label])
        np.testing.assert_allclose(flipped['gt_bboxes'].numpy()[row], box)


@pytest.mark.parametrize('task', ['cls', 'loc', 'seg'])
def test_jsrt_train_pipelines_random_but_seeded(jsrt_root, task):
    pipeline = Compose(_pipelines()[task])
    dataset = JSRTDataset(
        jsrt_root,
        split='val',
        task=task,
        **(dict(loc_target='organs') if task == 'loc' else {}))
    info = dataset.get_data_info(1)

    def run(seed):
        np.random.seed(seed)
        return [pipeline(dict(info)) for _ in range(8)]

    first, again = run(0), run(0)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a['inputs'], b['inputs'])
    # the 8 draws differ from one another: the pipeline augments
    assert len({a['inputs'].numpy().tobytes() for a in first}) > 1
    sample = first[0]['data_samples']
    assert tuple(first[0]['inputs'].shape) == (3, 256, 256)
    if task == 'seg':
        assert tuple(sample.gt_sem_seg.data.shape) == (5, 256, 256)
        assert set(np.unique(sample.gt_sem_seg.data.numpy())) <= {0, 1}
    if task == 'loc':
        assert len(sample.gt_instances) == 5


def test_test_pipelines_are_not_random():
    for path in (JSRT_BASE,
                 osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                          'cxr15.py'),
                 osp.join(REPO_ROOT, 'configs', 'finetune', '_base_',
                          'finetune_runtime.py')):
        cfg = Config.fromfile(path)
        assert not [t for t in cfg.test_pipeline if t['type'] in RANDOM]
        assert set(cfg.train_pipelines) == {'cls', 'loc', 'seg'}
        for task, pipeline in cfg.train_pipelines.items():
            flips = [t for t in pipeline if 'Flip' in t['type']]
            # one flip per task, the side-aware one
            assert [t['type'] for t in flips] == ['FXRandomFlip'], (path,
                                                                    task)
