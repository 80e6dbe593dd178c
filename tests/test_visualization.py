# Copyright (c) fx_mm contributors. All rights reserved.
"""FXVisualizer drawing per task, the ground-truth frame helpers,
browse_dataset and FXVisualizationHook inside a tools/test.py-style run."""
import argparse
import os
import os.path as osp
import warnings

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

from fx_mm.visualization import (TILE_HEIGHT, FXVisualizer, compose_views,
                                 gt_in_original_frame, gt_to_original,
                                 palette_colors)

GRAY = 100
#: smallest readable text (font size in pixels) in a saved picture
MIN_TEXT_PX = 12
#: a thumbnail-size, the JSRT and a full-size CR radiograph height
SIZES = (256, 1024, 2500)
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


def drawn_texts(visualizer):
    """(text, font size in pixels, rendered extent) of every text of the
    view drawn last (``draw_view`` leaves them on the canvas)."""
    renderer = visualizer.fig_save_canvas.get_renderer()
    return [(t.get_text(), t.get_fontsize() * visualizer.dpi / 72,
             t.get_window_extent(renderer)) for t in visualizer.ax_save.texts]


def assert_readable_in_tile(visualizer, view):
    """Every text of the view drawn last is at least MIN_TEXT_PX high once
    the view is shrunk to a compose_views tile, and lies on the view."""
    scale = min(1.0, TILE_HEIGHT / view.shape[0])
    texts = drawn_texts(visualizer)
    assert texts
    for text, px, extent in texts:
        assert px * scale >= MIN_TEXT_PX, (text, px, view.shape)
        assert extent.x0 >= -1 and extent.x1 <= view.shape[1] + 1, text
        assert extent.y0 >= -1 and extent.y1 <= view.shape[0] + 1, text
    return texts


def cls_sample():
    sample = DataSample(metainfo=dict(task='cls', dataset='jsrt'))
    sample.set_gt_score(torch.tensor([1., 0., 1.]))
    sample.set_field(torch.tensor([True, True, False]), 'gt_label_mask')
    sample.set_pred_score(torch.tensor([0.9, 0.1, 0.5]))
    return sample


def test_cls_panel_sizes_and_bars(visualizer, tmp_path):
    image = gray_image(256, 192)
    out_file = str(tmp_path / 'cls.png')
    drawn = visualizer.add_datasample(
        'cls', image, cls_sample(), out_file=out_file)
    height, width = image.shape
    # the class names fit in cls_panel_ratio of the image width
    panel = int(round(width * visualizer.cls_panel_ratio))
    # GT view | prediction view, each image + panel
    assert drawn.shape == (height, 2 * (width + panel), 3)
    assert cv2.imread(out_file).shape == drawn.shape
    pred_view = drawn[:, width + panel:]
    # the image part of a view is untouched
    np.testing.assert_array_equal(pred_view[:, :width],
                                  np.full((height, width, 3), GRAY))
    # rows sorted by predicted score: nodule 0.9, effusion 0.5, cardio 0.1
    layout = FXVisualizer.cls_panel_layout(height, width, panel, 3,
                                           visualizer.font_px)
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
    # scores as the JSON holds them
    visualizer.draw_view(image, cls_sample(), 'pred')
    texts = [text for text, _, _ in drawn_texts(visualizer)]
    assert {'nodule', '0.90', 'effusion', '0.50', '0.10'} <= set(texts)


def test_loc_boxes_gt_and_thresholded_predictions(visualizer):
    image = gray_image(256, 256)
    sample = DetDataSample(metainfo=dict(task='loc', dataset='jsrt'))
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor([[20., 80., 120., 200.]])),
        labels=torch.tensor([0]))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[40., 100., 160., 220.], [150., 20., 230., 60.]]),
        labels=torch.tensor([0, 0]),
        scores=torch.tensor([0.9, 0.1]))
    drawn = visualizer.add_datasample('loc', image, sample, pred_score_thr=0.3)
    assert drawn.shape == (256, 2 * 256, 3)
    gt_view, pred_view = drawn[:, :256], drawn[:, 256:]
    # the GT box's bottom and right edges are drawn, its inside is not
    assert changed(gt_view, 70, 200) and changed(gt_view, 120, 160)
    assert not changed(gt_view, 90, 170)
    # the 0.9 box is drawn; the 0.1 box (below the threshold) is not
    assert changed(pred_view, 100, 220) and changed(pred_view, 160, 180)
    assert not changed(pred_view, 230, 40) and not changed(pred_view, 190, 60)
    # GT of the left view is not in the prediction view
    assert not changed(pred_view, 20, 170)


def seg_masks(height=128, width=96):
    masks = torch.zeros(2, height, width, dtype=torch.uint8)
    masks[0, 60:110, 10:60] = 1
    masks[1, 80:120, 40:90] = 1
    return masks


def test_seg_overlap_striped_in_legend_colours(visualizer):
    image = gray_image()
    masks = seg_masks()
    sample = SegDataSample(metainfo=dict(task='seg', dataset='jsrt'))
    sample.gt_sem_seg = PixelData(data=masks)
    sample.pred_sem_seg = PixelData(data=masks.flip(2))
    view = visualizer.draw_view(image, sample, 'gt').astype(int)
    alpha = visualizer.mask_alpha
    blends = [(1 - alpha) * GRAY + alpha * np.array(c)
              for c in palette_colors(2)]

    def nearest(pixel):
        return min(range(2), key=lambda c: np.abs(pixel - blends[c]).max())

    # one channel: its colour; inside the overlap: stripes of both colours
    # and no third, blended colour
    assert np.abs(view[70, 20] - blends[0]).max() <= 1
    assert np.abs(view[115, 80] - blends[1]).max() <= 1
    overlap = view[85:105, 45:55].reshape(-1, 3)
    seen = {nearest(p) for p in overlap}
    assert seen == {0, 1}
    for pixel in overlap:
        assert np.abs(pixel - blends[nearest(pixel)]).max() <= 1
    # the legend lists the overlap and lies right of the image: pixels
    # away from the masks and their contours are the input gray
    texts = [
        text for text, _, extent in drawn_texts(visualizer)
        if extent.x0 < image.shape[1]
    ]
    assert texts == []
    assert 'striped: overlap' in [t for t, _, _ in drawn_texts(visualizer)]
    near = cv2.dilate(masks.numpy().max(0), np.ones((7, 7), np.uint8)) > 0
    assert view.shape[1] > image.shape[1]
    assert (view[:, :image.shape[1]][~near] == GRAY).all()
    # the prediction view shows the flipped masks
    pred_view = visualizer.draw_view(image, sample, 'pred').astype(int)
    assert np.abs(pred_view[70, 95 - 20] - blends[0]).max() <= 1
    assert (pred_view[70, 20] == GRAY).all()

    sample.gt_sem_seg = PixelData(data=masks[:, :64, :48])
    with pytest.raises(ValueError, match='do not match the image'):
        visualizer.add_datasample('seg', image, sample)


def loc_sample(boxes, labels, scores=None, dataset='jsrt'):
    sample = DetDataSample(metainfo=dict(task='loc', dataset=dataset))
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor(boxes[:1], dtype=torch.float)),
        labels=torch.tensor(labels[:1]))
    if scores is not None:
        sample.pred_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float),
            labels=torch.tensor(labels),
            scores=torch.tensor(scores))
    return sample


def test_loc_draws_nms_top_k_boxes_with_a_note():
    vis = FXVisualizer(name='test_fx_vis_topk', class_names=NAMES, max_boxes=2)
    image = gray_image(256, 256)
    boxes = [[20, 100, 60, 140], [22, 102, 62, 142], [120, 100, 160, 140],
             [200, 100, 240, 140], [120, 180, 160, 220]]
    sample = loc_sample(boxes, [0] * 5, [0.9, 0.8, 0.7, 0.6, 0.2])
    kept = vis.boxes_to_draw(sample.pred_instances, 0.3)
    # the 0.8 duplicate goes to NMS, 0.6 to top-2, 0.2 to the threshold
    np.testing.assert_allclose(kept.scores.numpy(), [0.9, 0.7])
    view = vis.draw_view(image, sample, 'pred', 0.3)
    texts = [text for text, _, _ in drawn_texts(vis)]
    assert texts[:2] == ['nodule 0.90', 'nodule 0.70']
    assert '2 of 4 boxes above 0.30 (overlaps / top 2)' in texts
    assert changed(view, 140, 140) and changed(view, 160, 120)
    assert not changed(view, 240, 120) and not changed(view, 160, 200)


def test_loc_note_when_no_box_is_above_the_threshold(visualizer):
    image = gray_image(256, 256)
    sample = loc_sample([[20., 100., 60., 140.]], [0], [0.12])
    view = visualizer.draw_view(image, sample, 'pred', 0.3)
    texts = [text for text, _, _ in drawn_texts(visualizer)]
    assert texts == ['jsrt/loc pred', 'no box above 0.30 (best 0.12)']
    assert not changed(view, 60, 120)


def test_loc_box_past_the_edge_is_clipped_without_warnings(visualizer):
    image = gray_image(256, 256)
    sample = loc_sample([[200., -10., 300., 100.]], [0], [0.5])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        drawn = visualizer.add_datasample('edge', image, sample)
    gt_view, pred_view = drawn[:, :256], drawn[:, 256:]
    for view in (gt_view, pred_view):
        # left and bottom edges inside; right and top edges on the border
        assert changed(view, 200, 50) and changed(view, 230, 100)
        assert changed(view, 255, 50) and changed(view, 230, 0)


@pytest.mark.parametrize('size', SIZES)
def test_cls_text_readable_at_any_size(visualizer, size):
    image = gray_image(size, size // 4)
    view = visualizer.draw_view(image, cls_sample(), 'pred')
    texts = assert_readable_in_tile(visualizer, view)
    assert 'effusion' in [t for t, _, _ in texts]


@pytest.mark.parametrize('size', SIZES)
def test_loc_labels_readable_at_any_size(visualizer, size):
    image = gray_image(size, size // 2)
    box = [0.1 * size, 0.4 * size, 0.3 * size, 0.6 * size]
    view = visualizer.draw_view(image, loc_sample([box], [0], [0.314]), 'pred')
    texts = assert_readable_in_tile(visualizer, view)
    assert [t for t, _, _ in texts] == ['nodule 0.31', 'jsrt/loc pred']


@pytest.mark.parametrize('size', SIZES)
def test_seg_legend_readable_at_any_size(visualizer, size):
    image = gray_image(size, size // 4)
    masks = torch.zeros(2, size, size // 4, dtype=torch.uint8)
    masks[0, size // 4:size // 2, :size // 8] = 1
    masks[1, size // 3:2 * size // 3, size // 16:] = 1
    sample = SegDataSample(metainfo=dict(task='seg', dataset='jsrt'))
    sample.pred_sem_seg = PixelData(data=masks)
    view = visualizer.draw_view(image, sample, 'pred')
    texts = assert_readable_in_tile(visualizer, view)
    assert {'heart', 'left_lung', 'striped: overlap'} <= \
        {t for t, _, _ in texts}


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
            # cls: image + bar panel (at least the image's width); seg:
            # image + legend panel; loc: the image
            if head.endswith('cls'):
                assert picture.shape[1] >= 2 * size
            elif head.endswith('seg'):
                assert picture.shape[1] > size
            else:
                assert picture.shape[1] == size
    # the seg ground truth is actually drawn: not a plain gray copy
    seg_dir = osp.join(str(tmp_path / 'browse_test'), 'phantom_a_seg')
    name = sorted(os.listdir(seg_dir))[0]
    picture = cv2.imread(osp.join(seg_dir, name))
    original = cv2.imread(
        osp.join(str(tmp_path), 'synthetic_cxr', 'phantom_a', 'images', name))
    picture = picture[:, :original.shape[1]]
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
        # GT | prediction on the original 256 px phantom (cls and seg
        # views with a panel right of the image)
        assert picture.shape[0] == 256
        if head.endswith('loc'):
            assert picture.shape[1] == 2 * 256
        else:
            assert picture.shape[1] >= 2 * (256 + 100)

    # validation as the training loop runs it: both networks, one picture
    # per (network, slot), through the visualizer's LocalVisBackend
    runner.val_loop.run()
    vis_dir = osp.join(runner.log_dir, 'vis_data', 'vis_image')
    names = sorted(os.listdir(vis_dir))
    for network in ('student', 'teacher'):
        for head in heads:
            assert any(n.startswith(f'val_{network}_{head}_')
                       for n in names), names


def test_browse_dataset_without_a_display_writes_files(tmp_path, monkeypatch):
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


def test_make_doc_images_draws_a_phantom_without_jsrt(tmp_path):
    tool = load_tool('tools/misc/make_doc_images.py')
    written = tool.main([
        '--out-dir',
        str(tmp_path / 'imgs'), '--jsrt-root',
        str(tmp_path / 'no_jsrt')
    ])
    assert sorted(written) == ['cls', 'loc', 'seg']
    for task, path in written.items():
        picture = cv2.imread(path)
        # a 256 px phantom: the image, plus a panel for cls and seg
        assert picture.shape[0] == 256
        assert picture.shape[1] > 256 if task != 'loc' else \
            picture.shape[1] == 256
