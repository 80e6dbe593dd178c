# Copyright (c) fx_mm contributors. All rights reserved.
"""Geometric transforms for fx_mm's stacked binary masks.

fx_mm keeps a seg sample's masks as ``gt_seg_map`` of shape (H, W, C), one
independent 0/1 channel per seg class (:class:`LoadCXRAnnotations`).
mmdet's ``Resize``, ``RandomFlip`` and ``RandomCrop`` handle that stack as
they handle an image (note: OpenCV returns (H, W) for C = 1 after a resize;
:class:`PackFXInputs` restores the channel axis). Two things need fx_mm's
own transforms:

- padding: mmcv/mmdet ``Pad`` pads ``gt_seg_map`` with 255 (mmseg's ignore
  label, not a binary value) and fails for more than 4 channels (OpenCV's
  border value holds 4 numbers); :class:`FXPad` pads with 0 (or 1) for any
  channel count;
- left/right classes: a horizontal flip mirrors the anatomy, so the mask
  drawn as ``left_lung`` lies where the right lung is drawn after the flip.
  mmdet's ``RandomFlip`` is not label-aware (and ignores mmcv's
  ``swap_seg_labels``, which swaps label values of a label map, not
  channels); :class:`FXRandomFlip` swaps mask channels and box labels,
  by default the pairs of classes named after a side (:func:`side_pairs`).
"""
import re
from numbers import Number
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.datasets.transforms import Pad as MMDetPad
from mmdet.datasets.transforms import RandomFlip as MMDetRandomFlip

from fx_mm.registry import TRANSFORMS

PairList = Optional[Sequence[Tuple[int, int]]]


def _check_pairs(pairs: PairList, name: str) -> List[Tuple[int, int]]:
    pairs = [tuple(p) for p in pairs or ()]
    used: List[int] = []
    for pair in pairs:
        if len(pair) != 2 or not all(
                isinstance(i, int) and i >= 0 for i in pair) or \
                pair[0] == pair[1]:
            raise ValueError(f'{name}: {pair!r} is not a pair of two '
                             'different non-negative indices')
        used += pair
    if len(used) != len(set(used)):
        raise ValueError(f'{name}: an index appears in two pairs: {pairs}')
    return pairs


_SIDE_WORD = re.compile(r'(?<![a-z])(left|right)(?![a-z])', re.IGNORECASE)
_SIDE_CODE = re.compile(r'^([LR])(\d+)$')  # VinDr-RibCXR: R1..R10, L1..L10
_OTHER_SIDE = dict(
    left='right', right='left', Left='Right', Right='Left', LEFT='RIGHT',
    RIGHT='LEFT', L='R', R='L')


def _counterpart(name: str) -> Optional[str]:
    """The class name of the other side, or None for a class without a
    side. ``left_lung`` <-> ``right_lung``, ``Left Lung`` <-> ``Right
    Lung``, ``L3`` <-> ``R3``."""
    code = _SIDE_CODE.match(name)
    if code:
        return _OTHER_SIDE[code.group(1)] + code.group(2)
    if not _SIDE_WORD.search(name):
        return None
    return _SIDE_WORD.sub(
        lambda m: _OTHER_SIDE.get(m.group(1), m.group(1).swapcase()), name)


def side_pairs(classes: Sequence[str],
               where: str = '') -> List[Tuple[int, int]]:
    """Index pairs of the classes that trade places in a horizontal flip.

    A class is sided when its name holds the word ``left`` or ``right``
    (any case, words split by ``_``, ``-``, space...) or is a rib code
    ``L<n>`` / ``R<n>``; its counterpart is the same name with the other
    side.

    Raises:
        ValueError: A sided class without its counterpart among
            ``classes``: a flip cannot keep its meaning (leave the flip
            out of that set's pipeline).
    """
    classes = list(classes)
    pairs = []
    for i, name in enumerate(classes):
        other = _counterpart(name)
        if other is None:
            continue
        if other not in classes:
            raise ValueError(
                f'{where}: class {name!r} names a side but {other!r} is not '
                f'a class ({classes}); a horizontal flip would make it '
                'wrong: remove the flip from this pipeline')
        j = classes.index(other)
        if i < j:
            pairs.append((i, j))
    return pairs


@TRANSFORMS.register_module()
class FXRandomFlip(MMDetRandomFlip):
    """mmdet's ``RandomFlip`` that also swaps left/right classes.

    A horizontal (or diagonal) flip mirrors the patient, so a channel or box
    class named after a body side must trade places with its counterpart to
    keep its meaning (after the swap, ``left_lung`` is again the lung on the
    image's right, where a PA radiograph shows the patient's left). A
    vertical flip keeps the sides. Plain ``mmdet.RandomFlip`` is NOT
    label-aware: with side-specific classes it teaches the model that
    either side is either label.

    Without explicit pairs, the pairs come from the sample's class names
    (``task_classes``, which fx_mm's datasets put in every sample):
    :func:`side_pairs` pairs ``left_lung`` with ``right_lung``, ``Left
    Lung`` with ``Right Lung``, ``L3`` with ``R3``; a sided class without a
    counterpart is an error. Classes without a side are left alone, so the
    one transform serves every set.

    Required Keys: as ``mmdet.RandomFlip`` (``img``, optional
    ``gt_bboxes``, ``gt_bboxes_labels``, ``gt_seg_map``), optional
    ``task_classes`` (the class names of the sample's task).

    Modified Keys: as ``mmdet.RandomFlip``; ``gt_seg_map`` (H, W, C)
    channels and ``gt_bboxes_labels`` values are swapped per pair.

    Args:
        prob (float | list[float]): Flip probability.
        direction (str | list[str]): ``'horizontal'``, ``'vertical'``,
            ``'diagonal'``. Defaults to ``'horizontal'``.
        seg_swap_pairs (Sequence[tuple[int, int]], optional): Channel
            index pairs of ``gt_seg_map`` to swap, e.g. ``[(1, 2), (3, 4)]``
            for JSRT's (heart, left_lung, right_lung, left_clavicle,
            right_clavicle). Defaults to the pairs of ``task_classes``.
        box_swap_pairs (Sequence[tuple[int, int]], optional): Box label
            pairs to swap, e.g. ``[(0, 1)]`` for CheXmask's (Left Lung,
            Right Lung, Heart). Defaults to the pairs of ``task_classes``.
    """

    def __init__(self,
                 prob: Union[float, Sequence[float]],
                 direction: Union[str, Sequence[str]] = 'horizontal',
                 seg_swap_pairs: PairList = None,
                 box_swap_pairs: PairList = None) -> None:
        super().__init__(prob=prob, direction=direction)
        self.seg_swap_pairs = None if seg_swap_pairs is None else \
            _check_pairs(seg_swap_pairs, 'seg_swap_pairs')
        self.box_swap_pairs = None if box_swap_pairs is None else \
            _check_pairs(box_swap_pairs, 'box_swap_pairs')

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        if results['flip_direction'] not in ('horizontal', 'diagonal'):
            return
        by_name = None
        if results.get('task_classes') is not None and (
                self.seg_swap_pairs is None or self.box_swap_pairs is None):
            by_name = side_pairs(results['task_classes'],
                                 results.get('img_path', 'FXRandomFlip'))
        seg_pairs = by_name if self.seg_swap_pairs is None \
            else self.seg_swap_pairs
        box_pairs = by_name if self.box_swap_pairs is None \
            else self.box_swap_pairs
        seg = results.get('gt_seg_map')
        if seg is not None and seg_pairs:
            channels = 1 if seg.ndim == 2 else seg.shape[2]
            order = list(range(channels))
            for i, j in seg_pairs:
                if max(i, j) >= channels:
                    raise ValueError(
                        f'{results.get("img_path")}: seg_swap_pairs '
                        f'({i}, {j}) but gt_seg_map has {channels} '
                        'channel(s)')
                order[i], order[j] = j, i
            results['gt_seg_map'] = np.ascontiguousarray(seg[..., order])
        labels = results.get('gt_bboxes_labels')
        if labels is not None and box_pairs:
            swapped = labels.copy()
            for i, j in box_pairs:
                swapped[labels == i] = j
                swapped[labels == j] = i
            results['gt_bboxes_labels'] = swapped

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'direction={self.direction}, '
                f'seg_swap_pairs={self.seg_swap_pairs}, '
                f'box_swap_pairs={self.box_swap_pairs})')


@TRANSFORMS.register_module()
class FXPad(MMDetPad):
    """mmdet's ``Pad`` for fx_mm's (H, W, C) binary mask stacks.

    The image (and ``gt_masks``) are padded by mmdet's ``Pad``;
    ``gt_seg_map`` is padded at the bottom and right to ``pad_shape`` with
    ``pad_val['seg']`` (0 by default: padding is background, as in fx_mm's
    data preprocessor), for any number of channels.

    Args:
        size, size_divisor, pad_to_square, padding_mode: As mmdet's
            ``Pad``.
        pad_val (Number | dict): A number pads the image; a dict may hold
            ``img`` and ``seg`` (0 or 1). Defaults to
            ``dict(img=0, seg=0)``.
    """

    _NP_MODES = dict(
        constant='constant',
        edge='edge',
        reflect='reflect',
        symmetric='symmetric')

    def __init__(self,
                 size: Optional[Tuple[int, int]] = None,
                 size_divisor: Optional[int] = None,
                 pad_to_square: bool = False,
                 pad_val: Union[Number, dict] = dict(img=0, seg=0),
                 padding_mode: str = 'constant') -> None:
        if isinstance(pad_val, Number):
            pad_val = dict(img=pad_val, seg=0)
        pad_val = dict(pad_val)
        pad_val.setdefault('seg', 0)
        if pad_val['seg'] not in (0, 1):
            raise ValueError(
                f'FXPad: pad_val["seg"] = {pad_val["seg"]!r}; fx_mm masks '
                'are binary channels, pad them with 0 (or 1)')
        super().__init__(
            size=size,
            size_divisor=size_divisor,
            pad_to_square=pad_to_square,
            pad_val=pad_val,
            padding_mode=padding_mode)

    def _pad_seg(self, results: dict) -> None:
        seg = results.get('gt_seg_map')
        if seg is None:
            return
        height, width = results['pad_shape'][:2]
        extra = ((0, height - seg.shape[0]), (0, width - seg.shape[1]))
        if min(extra[0][1], extra[1][1]) < 0:
            raise ValueError(
                f'{results.get("img_path")}: gt_seg_map {seg.shape[:2]} is '
                f'larger than the padded image {(height, width)}')
        extra += ((0, 0), ) * (seg.ndim - 2)
        mode = self._NP_MODES[self.padding_mode]
        kwargs = dict(constant_values=self.pad_val['seg']) \
            if mode == 'constant' else {}
        results['gt_seg_map'] = np.pad(seg, extra, mode=mode, **kwargs)
