# Copyright (c) fx_mm contributors. All rights reserved.
"""fx_mm images <-> torchxrayvision's convention (1 channel, [-1024, 1024],
central square crop)."""
import os.path as osp

import numpy as np
import pytest

from fx_mm.datasets import (from_xrv, read_cxr_image, to_xrv,
                            xrv_center_crop_box)


def every_gray_level(height: int, width: int) -> np.ndarray:
    return (np.arange(height * width) % 256).astype(np.uint8).reshape(
        height, width)


@pytest.mark.parametrize('shape,box', [((6, 10), (2, 0, 6)),
                                       ((10, 6), (0, 2, 6)),
                                       ((7, 10), (2, 0, 7)),
                                       ((9, 9), (0, 0, 9))])
def test_center_crop_box_keeps_the_central_square(shape, box):
    assert xrv_center_crop_box(*shape) == box


def test_value_range_shape_and_crop():
    image = every_gray_level(20, 32)  # H 20 x W 32: crop columns 6..25
    out = to_xrv(image)
    assert out.shape == (1, 20, 20) and out.dtype == np.float32
    assert to_xrv(np.zeros((4, 4), np.uint8)).max() == -1024
    assert to_xrv(np.full((4, 4), 255, np.uint8)).min() == 1024
    # linear in the gray value, and the central columns
    expected = image[:, 6:26].astype(np.float64) / 255 * 2048 - 1024
    np.testing.assert_allclose(out[0], expected, atol=1e-3)
    assert to_xrv(image, center_crop=False).shape == (1, 20, 32)


def test_round_trip_is_exact_for_every_gray_level():
    image = every_gray_level(16, 40)
    x0, y0, side = xrv_center_crop_box(16, 40)
    crop = image[y0:y0 + side, x0:x0 + side]
    assert len(np.unique(image)) == 256
    np.testing.assert_array_equal(from_xrv(to_xrv(image)), crop)
    np.testing.assert_array_equal(
        from_xrv(to_xrv(image, center_crop=False)), image)
    # (H, W) input works as well, and the RGB fx_mm loads (replicated gray)
    np.testing.assert_array_equal(from_xrv(to_xrv(image)[0]), crop)
    rgb = np.repeat(image[..., None], 3, axis=2)
    np.testing.assert_array_equal(to_xrv(rgb), to_xrv(image))


def test_real_non_square_radiograph(shared_data):
    path = osp.join(shared_data, 'misc', '16747_3_1.jpg')  # 1036 x 885
    if not osp.isfile(path):
        pytest.skip('16747_3_1.jpg is not in ../shared/data/misc')
    image = read_cxr_image(path)
    height, width = image.shape
    out = to_xrv(image)
    assert out.shape == (1, height, height) and width > height
    assert -1024 <= out.min() < out.max() <= 1024
    x0 = width // 2 - height // 2
    np.testing.assert_array_equal(from_xrv(out), image[:, x0:x0 + height])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match='uint8'):
        to_xrv(np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match=r'shape \(4, 4, 2\)'):
        to_xrv(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match=r'outside torchxrayvision'):
        from_xrv(np.full((1, 4, 4), 2000.0))
    with pytest.raises(ValueError, match=r'shape \(2, 4, 4\)'):
        from_xrv(np.zeros((2, 4, 4)))
    # a resize may overshoot the range a little: clipped, not an error
    assert from_xrv(np.full((4, 4), 1024.5)).min() == 255
