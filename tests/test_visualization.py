# Copyright (c) fx_mm contributors. All rights reserved.
"""FXVisualizer drawing per task, the ground-truth frame helpers,
browse_dataset and FXVisualizationHook inside a tools/test.py-style run."""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from fx_test_utils import load_tool, tiny_demo_config
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData, PixelData
from mmpretrain.structures import DataSample
from mmseg.structures import SegDataSample

from fx_mm.visualization import (FXVisualizer, compose_views,
                                 gt_in_original_frame, gt_to_original,
                                 palette_colors)

GRAY = 100
NAMES = dict(
    jsrt=dict(
        cls=['nodule', 'cardiomegaly', 'effusion'],
        loc=['nodule'],
        seg=['heart', 'left_lung']))


@pytest.fixture(scope='module')
def visualizer():
    return FXVisualizer(name='test_fx_visualizer', class_names=NAMES)


def gray_image(height=128, width=96):
    return np.full((height, width), GRAY, np.uint8)


def changed(view, x, y):
    """Whether pixel (x, y) of an RGB view differs from the input gray."""
    return bool(np.abs(view[y, x].astype(int) - GRAY).max() > 20)


def cls_sample():
    sample = DataSample(metainfo=dict(task='cls', dataset='jsrt'))
    sample.set_gt_score(torch.tensor([1., 0., 1.]))
    sample.set_field(torch.tensor([True, True, False]), 'gt_label_mask')
    sample.set_pred_score(torch.tensor([0.9, 0.1, 0.5]))
    return sample


def test_cls_panel_sizes_and_bars(visualizer, tmp_path):
    image = gray_image()
    out_file = str(tmp_path / 'cls.png')
    drawn = visualizer.add_datasample(
        'cls', image, cls_sample(), out_file=out_file)
    height, width = image.shape
    panel = int(round(width * visualizer.cls_panel_ratio))
    # GT view | prediction view, each image + panel
    assert drawn.shape == (height, 2 * (width + panel), 3)
    assert cv2.imread(out_file).shape == drawn.shape
    pred_view = drawn[:, width + panel:]
    # the image part of a view is untouched
    np.testing.assert_array_equal(pred_view[:, :width],
                                  np.full((height, width, 3), GRAY))
    # rows sorted by predicted score: nodule 0.9, effusion 0.5, cardio 0.1
    layout = FXVisualizer.cls_panel_layout(height, width, panel, 3)
    colors = palette_colors(3)

    def bar_pixel(view, row, fraction):
        _, y0, y1 = layout['rows'][row]
        x = int(layout['x0'] + fraction * layout['bar_len'])
        return view[int((y0 + y1) / 2), x].astype(int)

    track = np.array([70, 70, 70])
    # at 30% of the bar length: the 0.9 and 0.5 bars, not the 0.1 bar
    assert np.abs(bar_pixel(pred_view, 0, 0.3) - colors[0]).max() <= 3
    assert np.abs(bar_pixel(pred_view, 1, 0.3) - colors[2]).max() <= 3
    assert np.abs(bar_pixel(pred_view, 2, 0.3) - track).max() <= 3
    # at 70%: only the 0.9 bar reaches
    assert np.abs(bar_pixel(pred_view, 0, 0.7) - colors[0]).max() <= 3
    assert np.abs(bar_pixel(pred_view, 1, 0.7) - track).max() <= 3
    # GT view, same class order: nodule 1, effusion unknown, cardio 0
    gt_view = drawn[:, :width + panel]
    assert np.abs(bar_pixel(gt_view, 0, 0.95) - colors[0]).max() <= 3
    assert np.abs(bar_pixel(gt_view, 1, 0.3) - track).max() <= 3
    assert np.abs(bar_pixel(gt_view, 2, 0.3) - track).max() <= 3

    pred_only = visualizer.add_datasample(
        'cls', image, cls_sample(), draw_gt=False)
    assert pred_only.shape == (height, width + panel, 3)


def test_loc_boxes_gt_and_thresholded_predictions(visualizer):
    image = gray_image()
    sample = DetDataSample(metainfo=dict(task='loc', dataset='jsrt'))
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor([[10., 40., 60., 100.]])),
        labels=torch.tensor([0]))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[20., 50., 80., 110.], [8., 8., 40., 30.]]),
        labels=torch.tensor([0, 0]),
        scores=torch.tensor([0.9, 0.1]))
    drawn = visualizer.add_datasample('loc', image, sample, pred_score_thr=0.3)
    assert drawn.shape == (128, 2 * 96, 3)
    gt_view, pred_view = drawn[:, :96], drawn[:, 96:]
    # the GT box's bottom and right edges are drawn, its inside is not
    assert changed(gt_view, 35, 100) and changed(gt_view, 60, 80)
    assert not changed(gt_view, 45, 85)
    # the 0.9 box is drawn; the 0.1 box (below the threshold) is not
    assert changed(pred_view, 50, 110) and changed(pred_view, 80, 90)
    assert not changed(pred_view, 24, 30) and not changed(pred_view, 40, 22)
    # GT of the left view is not in the prediction view
    assert not changed(pred_view, 10, 85)


def test_seg_overlapping_channels(visualizer):
    image = gray_image()
    masks = torch.zeros(2, 128, 96, dtype=torch.uint8)
    masks[0, 60:110, 10:60] = 1
    masks[1, 80:120, 40:90] = 1
    sample = SegDataSample(metainfo=dict(task='seg', dataset='jsrt'))
    sample.gt_sem_seg = PixelData(data=masks)
    sample.pred_sem_seg = PixelData(data=masks.flip(2))
    drawn = visualizer.add_datasample('seg', image, sample)
    assert drawn.shape == (128, 192, 3)
    gt_view = drawn[:, :96].astype(int)
    only_0, only_1, both = gt_view[70, 20], gt_view[115, 80], gt_view[95, 50]
    for pixel in (only_0, only_1, both):
        assert np.abs(pixel - GRAY).max() > 20
    # overlapping channels blend both colours
    assert np.abs(both - only_0).max() > 10
    assert np.abs(both - only_1).max() > 10
    # outside the masks (and below the legend) nothing is drawn
    assert np.abs(gt_view[50, 80] - GRAY).max() == 0
    # the prediction view shows the flipped masks
    pred_view = drawn[:, 96:].astype(int)
    assert np.abs(pred_view[70, 95 - 20] - GRAY).max() > 20
    assert np.abs(pred_view[70, 20] - GRAY).max() == 0

    sample.gt_sem_seg = PixelData(data=masks[:, :64, :48])
    with pytest.raises(ValueError, match='do not match the image'):
        visualizer.add_datasample('seg', image, sample)


def test_class_names_sources_and_errors():
    vis = FXVisualizer(name='test_fx_visualizer_names')
    assert vis.get_class_names('x', 'cls', 2) == ['class_0', 'class_1']
    vis.dataset_meta = dict(class_names=dict(x=dict(cls=['a', 'b'])))
    assert vis.get_class_names('x', 'cls', 2) == ['a', 'b']
    vis.set_class_names(dict(x=dict(cls=['c', 'd'])))
    assert vis.get_class_names('x', 'cls', 2) == ['c', 'd']
    with pytest.raises(ValueError, match='2 class names for x/cls'):
        vis.get_class_names('x', 'cls', 3)
    with pytest.raises(ValueError, match='unknown task'):
        vis.set_class_names(dict(x=dict(det=['a'])))
    with pytest.raises(ValueError, match='cannot tell the task'):
        vis.add_datasample('x', gray_image(), InstanceData())


def test_compose_views_layout():
    tiles = {
        'cls/a': np.zeros((100, 200, 3), np.uint8),
        'loc/a': np.zeros((100, 100, 3), np.uint8),
        'loc/b': np.zeros((100, 100, 3), np.uint8),
    }
    out = compose_views(tiles, max_height=50)
    # two rows of 50 + 4 px gap; widest row: two 50 px tiles + gaps
    assert out.shape == (2 * (50 + 4), 2 * (50 + 4), 3)


def test_gt_frame_rule_and_mapping_back():
    cfg = tiny_demo_config('unused')
    train = cfg.train_cfg.slots[0].dataset.pipeline
    test = cfg.test_cfg.slots[0].dataset.pipeline
    assert gt_in_original_frame(train) is False
    assert gt_in_original_frame(test) is True

    sample = DetDataSample(
        metainfo=dict(
            task='loc', scale_factor=(0.5, 0.25), ori_shape=(400, 200)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[10., 20., 30., 40.]]), labels=torch.tensor([0]))
    back = gt_to_original(sample, in_original_frame=False)
    np.testing.assert_allclose(back.gt_instances.bboxes.numpy(),
                               [[20., 80., 60., 160.]])
    assert gt_to_original(sample, True) is sample

    seg = SegDataSample(
        metainfo=dict(task='seg', ori_shape=(8, 6), scale_factor=(0.5, 0.5)))
    mask = torch.zeros(1, 4, 3, dtype=torch.uint8)
    mask[0, :2, :] = 1
    seg.gt_sem_seg = PixelData(data=mask)
    back = gt_to_original(seg, False).gt_sem_seg.data
    assert tuple(back.shape) == (1, 8, 6)
    assert back[0, :4].all() and not back[0, 4:].any()


def test_browse_dataset_writes_gt_pictures(tmp_path):
    browse = load_tool('tools/analysis_tools/browse_dataset.py',
                       'fx_browse_dataset')
    cfg = tiny_demo_config(str(tmp_path), num_images=8, image_size=128)
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    for split, size in (('train', 128), ('test', 256)):
        out_dir = str(tmp_path / f'browse_{split}')
        browse.main([
            config, '--split', split, '--output-dir', out_dir, '--max-images',
            '2', '--not-show'
        ])
        heads = sorted(os.listdir(out_dir))
        assert heads == sorted(f'{v}_{t}' for v in ('phantom_a', 'phantom_b')
                               for t in ('cls', 'loc', 'seg'))
        for head in heads:
            files = os.listdir(osp.join(out_dir, head))
            assert len(files) == 2
            picture = cv2.imread(osp.join(out_dir, head, files[0]))
            # train pipelines draw on the resized image; test pipelines
            # keep ground truth (and the picture) in original pixels
            assert picture.shape[0] == size
            width = 2 * size if head.endswith('cls') else size
            assert picture.shape[1] == width
    # the seg ground truth is actually drawn: not a plain gray copy
    seg_dir = osp.join(str(tmp_path / 'browse_test'), 'phantom_a_seg')
    name = sorted(os.listdir(seg_dir))[0]
    picture = cv2.imread(osp.join(seg_dir, name))
    original = cv2.imread(
        osp.join(str(tmp_path), 'synthetic_cxr', 'phantom_a', 'images', name))
    assert picture.shape == original.shape
    assert (np.abs(picture.astype(int) - original).max(axis=2) > 20).mean() \
        > 0.05


def test_visualization_hook_in_test_and_val_runs(tmp_path):
    from mmengine.runner import Runner
    test_tool = load_tool('tools/test.py', 'fx_tools_test')
    # 4 phantoms per variant: one test and one val image per slot
    cfg = tiny_demo_config(str(tmp_path), num_images=4, image_size=128)
    assert cfg.default_hooks.visualization.type == 'FXVisualizationHook'
    assert cfg.default_hooks.visualization.draw is False
    args = argparse.Namespace(
        config='tiny.py', show=False, show_dir='vis', wait_time=0)
    test_tool.trigger_visualization_hook(cfg, args)
    cfg.default_hooks.visualization.interval = 1
    # the three phantom_a slots keep the run short
    cfg.test_cfg.slots = cfg.test_cfg.slots[:3]
    cfg.val_cfg.slots = cfg.val_cfg.slots[:3]
    for key in ('test_evaluator', 'val_evaluator'):
        cfg[key] = [m for m in cfg[key] if m.dataset_name == 'phantom_a']
    cfg.experiment_name = 'vis_hook'
    runner = Runner.from_cfg(cfg)
    runner.test()
    root = osp.join(str(tmp_path), runner.timestamp, 'vis', 'teacher')
    heads = sorted(os.listdir(root))
    assert heads == ['phantom_a_cls', 'phantom_a_loc', 'phantom_a_seg']
    for head in heads:
        files = sorted(os.listdir(osp.join(root, head)))
        assert len(files) == 1
        picture = cv2.imread(osp.join(root, head, files[0]))
        # GT | prediction on the original 256 px phantom
        width = 2 * 512 if head.endswith('cls') else 2 * 256
        assert picture.shape == (256, width, 3)

    # validation as the training loop runs it: both networks, one picture
    # per (network, slot), through the visualizer's LocalVisBackend
    runner.val_loop.run()
    vis_dir = osp.join(runner.log_dir, 'vis_data', 'vis_image')
    names = sorted(os.listdir(vis_dir))
    for network in ('student', 'teacher'):
        for head in heads:
            assert any(n.startswith(f'val_{network}_{head}_')
                       for n in names), names


def test_browse_dataset_without_a_display_writes_files(tmp_path,
                                                       monkeypatch):
    """Headless and no --output-dir: a warning, and the pictures go to
    work_dirs/browse_dataset/<config> instead of nowhere."""
    browse = load_tool('tools/analysis_tools/browse_dataset.py')
    cfg = tiny_demo_config(str(tmp_path), num_images=8, image_size=64)
    cfg.train_cfg.slots = cfg.train_cfg.slots[:1]
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match='no display'):
        browse.main([config, '--max-images', '1'])
    out_dir = tmp_path / 'work_dirs' / 'browse_dataset' / 'tiny'
    assert [p.name for p in out_dir.iterdir()] == ['phantom_a_cls']
    assert len(list((out_dir / 'phantom_a_cls').iterdir())) == 1
