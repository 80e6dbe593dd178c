# Copyright (c) fx_mm contributors. All rights reserved.
"""Boxes and masks stay on the image through the geometric transforms.

The test image is black with one bright rectangle; that rectangle IS the
box and IS the mask (every even channel of a 6-channel stack, more channels
than OpenCV's 4-value border holds; odd channels are empty). After
``LoadCXRImage -> LoadCXRAnnotations -> <transforms> -> PackFXInputs`` the
box and every mask must still coincide with the bright pixels, and the
bright pixels must sit where the transform puts the rectangle (worked out
by hand, or from mmdet's ``homography_matrix`` for the random crop).

``mmdet.RandomFlip`` is not label-aware: it mirrors the image but keeps
``left_lung`` as ``left_lung``. :class:`FXRandomFlip` swaps side-specific
channels and box labels; the last tests show both.
"""
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from fx_mm.datasets.transforms import FXPad, FXRandomFlip
from fx_mm.datasets.transforms.formatting import DEFAULT_META_KEYS
from fx_mm.registry import TRANSFORMS

H, W = 60, 80
RECT = (48, 12, 72, 40)  # x1, y1, x2, y2 in pixel edges: upper right
BRIGHT = 200


def rect_mask(rect, shape=(H, W)):
    mask = np.zeros(shape, np.uint8)
    x1, y1, x2, y2 = rect
    mask[y1:y2, x1:x2] = 1
    return mask


def region_box(mask):
    """xyxy pixel-edge box of the nonzero pixels, or None."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def write_png(path, image):
    Image.fromarray(image).save(path)
    return str(path)


@pytest.fixture
def image_path(tmp_path):
    return write_png(tmp_path / 'rect.png', rect_mask(RECT) * BRIGHT)


def sample(image_path, task, channels=6):
    info = dict(img_path=image_path, img_id='rect', dataset='d', task=task)
    if task == 'loc':
        info['instances'] = [
            dict(bbox=[float(v) for v in RECT], bbox_label=0, ignore_flag=0)
        ]
    else:
        rle = mask_utils.encode(np.asfortranarray(rect_mask(RECT)))
        info['seg_rles'] = [
            rle if k % 2 == 0 else None for k in range(channels)
        ]
    return info


def run(transforms, info):
    cfgs = [dict(type='LoadCXRImage'),
            dict(type='LoadCXRAnnotations')] + transforms + [
                dict(
                    type='PackFXInputs',
                    meta_keys=DEFAULT_META_KEYS + ('homography_matrix', ))
            ]
    results = dict(info)
    for cfg in cfgs:
        results = TRANSFORMS.build(cfg)(results)
        assert results is not None, cfg
    return results


def expected_rect(homography, shape):
    """RECT mapped by a homography and clipped to an image of ``shape``."""
    x1, y1, x2, y2 = RECT
    corners = np.array([[x1, y1, 1], [x2, y2, 1]], dtype=np.float64).T
    mapped = (homography @ corners)[:2].T
    lo, hi = mapped.min(0), mapped.max(0)
    lo = np.clip(lo, 0, [shape[1], shape[0]])
    hi = np.clip(hi, 0, [shape[1], shape[0]])
    if (hi <= lo).any():
        return None
    return [lo[0], lo[1], hi[0], hi[1]]


def check_alignment(out, task, expected, shape, channels=6):
    """Box == every mask == bright region == ``expected``, to the pixel."""
    image = out['inputs'].numpy()
    assert image.shape[1:] == shape
    bright = image[0] > BRIGHT // 2
    # the rest of the image is black (padding included)
    assert (image[0][~bright] < BRIGHT // 2).all()
    region = region_box(bright)
    if expected is None:
        assert region is None
    else:
        np.testing.assert_array_equal(region, expected)
    sample = out['data_samples']
    if task == 'loc':
        boxes = sample.gt_instances.bboxes
        boxes = boxes.tensor.numpy() if hasattr(boxes, 'tensor') else \
            np.asarray(boxes)
        if region is None:
            assert len(boxes) == 0
            return
        assert len(boxes) == 1
        np.testing.assert_array_equal(boxes[0], region)
        assert sample.gt_instances.labels.tolist() == [0]
        return
    masks = sample.gt_sem_seg.data.numpy()
    assert masks.shape == (channels, ) + shape
    assert set(np.unique(masks).tolist()) <= {0, 1}
    for k in range(channels):
        if k % 2:
            assert not masks[k].any()
            continue
        if region is None:
            assert not masks[k].any()
            continue
        np.testing.assert_array_equal(masks[k].astype(bool), bright)


# (transforms, expected rect, output (H, W))
FLIPPED = [W - RECT[2], RECT[1], W - RECT[0], RECT[3]]
CASES = dict(
    resize_fixed=([
        dict(type='mmdet.Resize', scale=(160, 120), keep_ratio=False)
    ], [96, 24, 144, 80], (120, 160)),
    # 80 x 60 -> 100 x 75 (factor 1.25)
    resize_keep_ratio=([
        dict(type='mmdet.Resize', scale=(100, 100), keep_ratio=True)
    ], [60, 15, 90, 50], (75, 100)),
    # 0.5: downscaling
    resize_half=([dict(type='mmdet.Resize', scale=(40, 30),
                       keep_ratio=False)], [24, 6, 36, 20], (30, 40)),
    flip=([dict(type='mmdet.RandomFlip', prob=1.0,
                direction='horizontal')], FLIPPED, (H, W)),
    fx_flip=([dict(type='FXRandomFlip', prob=1.0)], FLIPPED, (H, W)),
    pad=([dict(type='FXPad', size=(96, 72))], list(RECT), (72, 96)),
    pad_divisor=([dict(type='FXPad', size_divisor=32)], list(RECT), (64, 96)),
)


@pytest.mark.parametrize('task', ['loc', 'seg'])
@pytest.mark.parametrize('name', list(CASES))
def test_geometric_transforms_keep_alignment(image_path, task, name):
    transforms, expected, shape = CASES[name]
    out = run(transforms, sample(image_path, task))
    check_alignment(out, task, expected, shape)


@pytest.mark.parametrize('mode', ['reflect', 'symmetric', 'edge'])
def test_fx_pad_modes_pad_masks_like_the_image(image_path, mode):
    """Non-constant padding copies image content; FXPad copies the masks
    the same way (80 x 60 -> 96 x 72)."""
    out = run([dict(type='FXPad', size=(96, 72), padding_mode=mode)],
              sample(image_path, 'seg'))
    bright = out['inputs'].numpy()[0] > BRIGHT // 2
    masks = out['data_samples'].gt_sem_seg.data.numpy()
    assert masks.shape == (6, 72, 96)
    # mirrored copies of the rectangle lie in the padding (RECT does not
    # touch the border, so 'edge' extends only black)
    assert bright[:, 80:].any() == (mode != 'edge')
    for k in range(0, 6, 2):
        np.testing.assert_array_equal(masks[k].astype(bool), bright)
    assert not masks[1::2].any()


@pytest.mark.parametrize('task', ['loc', 'seg'])
def test_mmdet_pad_for_boxes_and_one_channel(image_path, task):
    """mmdet's own Pad is fine for boxes, and for one binary channel padded
    with 0."""
    pad = dict(type='mmdet.Pad', size=(96, 72), pad_val=dict(img=0, seg=0))
    out = run([pad], sample(image_path, task, channels=1))
    check_alignment(out, task, list(RECT), (72, 96), channels=1)


@pytest.mark.parametrize('task', ['loc', 'seg'])
@pytest.mark.parametrize('seed', range(6))
def test_random_crop_keeps_alignment(image_path, task, seed):
    np.random.seed(seed)
    crop = dict(
        type='mmdet.RandomCrop', crop_size=(40, 30), allow_negative_crop=True)
    out = run([crop], sample(image_path, task))
    meta = out['data_samples'].metainfo
    expected = expected_rect(meta['homography_matrix'], (30, 40))
    check_alignment(out, task, expected, (30, 40))


@pytest.mark.parametrize('task', ['loc', 'seg'])
@pytest.mark.parametrize('seed', range(3))
def test_full_augmentation_chain(image_path, task, seed):
    """Resize (keep ratio) -> flip -> crop -> pad, as a training pipeline."""
    np.random.seed(seed)
    transforms = [
        dict(type='mmdet.Resize', scale=(160, 160), keep_ratio=True),
        dict(type='FXRandomFlip', prob=0.5),
        dict(
            type='mmdet.RandomCrop',
            crop_size=(96, 80),
            allow_negative_crop=True),
        dict(type='FXPad', size=(128, 96)),
    ]
    out = run(transforms, sample(image_path, task))
    meta = out['data_samples'].metainfo
    # 80 x 60 -> 160 x 120 -> crop 96 x 80 -> pad 128 x 96: the rectangle
    # is clipped to the crop
    expected = expected_rect(meta['homography_matrix'], (80, 96))
    check_alignment(out, task, expected, (96, 128))


def test_pack_rejects_mmdet_seg_padding(image_path):
    """mmdet's Pad pads masks with 255 by default: a clear error, not a
    silent third value in a binary channel."""
    with pytest.raises(
            ValueError,
            match=r'rect.png: gt_seg_map has values '
            r'\[0, 1, 255\].*use FXPad'):
        run([dict(type='mmdet.Pad', size=(96, 72))],
            sample(image_path, 'seg', channels=1))


@pytest.mark.parametrize('task', ['cls', 'loc', 'seg'])
def test_pack_without_annotations(task):
    """FXInferencer packs unannotated images with the same packer: the
    image and the routing metainfo, no ground truth."""
    img = np.zeros((H, W, 3), np.uint8)
    results = dict(
        img=img,
        img_shape=(H, W),
        ori_shape=(H, W),
        img_path='',
        img_id='x',
        dataset='d',
        task=task)
    packed = TRANSFORMS.build(dict(type='PackFXInputs'))(results)
    assert tuple(packed['inputs'].shape) == (3, H, W)
    sample = packed['data_samples']
    assert set(sample.metainfo) == set(DEFAULT_META_KEYS) - {
        'scale_factor', 'flip', 'flip_direction'
    }
    assert (sample.dataset, sample.task) == ('d', task)
    assert not {'gt_score', 'gt_label_mask', 'gt_sem_seg'} & set(sample.keys())
    if task == 'loc':  # mmdet's PackDetInputs: empty instances
        assert len(sample.gt_instances) == 0


# ---------------------------------------------------------------------------
# left / right classes
LEFT_SIDE = (8, 20, 24, 44)  # drawn on the image's left: the right lung
RIGHT_SIDE = (52, 20, 72, 44)  # on the image's right: the left lung
HEART = (30, 30, 46, 50)


@pytest.fixture
def lungs(tmp_path):
    """Channels (left_lung, right_lung, heart); the image draws the right
    lung with 80, the left lung with 160, the heart with 240."""
    image = (rect_mask(LEFT_SIDE) * 80 + rect_mask(RIGHT_SIDE) * 160 +
             rect_mask(HEART) * 240).astype(np.uint8)
    path = write_png(tmp_path / 'lungs.png', image)
    masks = [rect_mask(RIGHT_SIDE), rect_mask(LEFT_SIDE), rect_mask(HEART)]
    seg = dict(
        img_path=path,
        img_id='lungs',
        dataset='d',
        task='seg',
        seg_rles=[mask_utils.encode(np.asfortranarray(m)) for m in masks])
    loc = dict(
        img_path=path,
        img_id='lungs',
        dataset='d',
        task='loc',
        instances=[
            dict(bbox=list(map(float, r)), bbox_label=k, ignore_flag=0)
            for k, r in enumerate((RIGHT_SIDE, LEFT_SIDE, HEART))
        ])
    return seg, loc


def _flip_cfg(kind, **kwargs):
    if kind == 'mmdet':
        return dict(type='mmdet.RandomFlip', prob=1.0, **kwargs)
    return dict(
        type='FXRandomFlip',
        prob=1.0,
        seg_swap_pairs=[(0, 1)],
        box_swap_pairs=[(0, 1)],
        **kwargs)


def test_fx_flip_swaps_left_and_right(lungs):
    seg, loc = lungs
    flipped_right = [W - LEFT_SIDE[2], 20, W - LEFT_SIDE[0], 44]  # 56..72
    flipped_left = [W - RIGHT_SIDE[2], 20, W - RIGHT_SIDE[0], 44]  # 8..28
    flipped_heart = [W - HEART[2], 30, W - HEART[0], 50]

    plain = run([_flip_cfg('mmdet')], seg)
    image = plain['inputs'].numpy()[0]
    masks = plain['data_samples'].gt_sem_seg.data.numpy()
    # mmdet's flip: 'left_lung' now lies on the image's LEFT
    assert region_box(masks[0]) == flipped_left
    assert region_box(image == 160) == flipped_left

    aware = run([_flip_cfg('fx')], seg)
    image = aware['inputs'].numpy()[0]
    masks = aware['data_samples'].gt_sem_seg.data.numpy()
    # FXRandomFlip: 'left_lung' is the lung on the image's right again,
    # the mirrored right lung (drawn with 80), and each mask still lies on
    # its image region
    assert region_box(masks[0]) == flipped_right
    np.testing.assert_array_equal(masks[0], image == 80)
    np.testing.assert_array_equal(masks[1], image == 160)
    np.testing.assert_array_equal(masks[2], image == 240)
    assert region_box(masks[2]) == flipped_heart

    boxes = run([_flip_cfg('fx')], loc)['data_samples'].gt_instances
    by_label = dict(zip(boxes.labels.tolist(), boxes.bboxes.tensor.tolist()))
    assert by_label == {0: flipped_right, 1: flipped_left, 2: flipped_heart}
    boxes = run([_flip_cfg('mmdet')], loc)['data_samples'].gt_instances
    assert boxes.labels.tolist() == [0, 1, 2]
    assert boxes.bboxes.tensor.tolist()[0] == flipped_left


def test_fx_flip_vertical_keeps_sides(lungs):
    seg, _ = lungs
    out = run([_flip_cfg('fx', direction='vertical')], seg)
    masks = out['data_samples'].gt_sem_seg.data.numpy()
    image = out['inputs'].numpy()[0]
    np.testing.assert_array_equal(masks[0], image == 160)
    assert region_box(masks[0]) == [52, H - 44, 72, H - 20]


def test_fx_flip_and_pad_arguments(lungs):
    seg, _ = lungs
    with pytest.raises(ValueError, match='not a pair'):
        FXRandomFlip(prob=1.0, seg_swap_pairs=[(1, 1)])
    with pytest.raises(ValueError, match='appears in two pairs'):
        FXRandomFlip(prob=1.0, box_swap_pairs=[(0, 1), (1, 2)])
    with pytest.raises(
            ValueError,
            match=r'lungs.png: seg_swap_pairs '
            r'\(1, 5\) but gt_seg_map has 3 channel'):
        run([dict(type='FXRandomFlip', prob=1.0, seg_swap_pairs=[(1, 5)])],
            seg)
    with pytest.raises(ValueError, match='pad them with 0'):
        FXPad(size=(96, 72), pad_val=dict(img=0, seg=255))
    assert FXPad(size=(96, 72), pad_val=7).pad_val == dict(img=7, seg=0)
