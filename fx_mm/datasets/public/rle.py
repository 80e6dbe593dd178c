# Copyright (c) fx_mm contributors. All rights reserved.
"""Run-length encoded masks as the CXR publishers write them.

A mask string is ``'a0 b0 a1 b1 ...'``: pairs of (position, run length) over
the flattened H x W grid. Publishers differ in three ways:

============  ==========================  ==========================  =======
dataset       position                    flattening                  empty
============  ==========================  ==========================  =======
SIIM-ACR      RELATIVE: pixels skipped    column-major (Fortran,      ``-1``
              since the end of the        top-to-bottom, then left-
              previous run (0-based)      to-right); 1024 x 1024
CANDID-PTX    same as SIIM by default     column-major                ``-1``
CheXmask      ABSOLUTE 1-indexed start    row-major (C order) at the  --
              pixel                       CSV's Height x Width
============  ==========================  ==========================  =======

Sources: SIIM-ACR's ``mask_functions.py`` (``rle2mask`` adds each first
number to the running position, then ``reshape(width, height).T``);
CheXmask's ``DataPostprocessing/utils.py`` (``get_mask_from_RLE`` subtracts
1 from each start, ``reshape(height, width)``); CANDID-PTX's data descriptor
does not spell its encoding out, and public loaders of its
``Pneumothorax_reports.csv`` decode it exactly like SIIM (relative,
column-major, 1024 x 1024), hence the default; ``'absolute'`` is available.

COCO RLE (pycocotools) is column-major with alternating background /
foreground run lengths, so column-major runs convert to it without decoding
(fast enough for 12k images at load time). Row-major runs need a dense
transpose and are converted lazily, one sample at a time.
"""
from typing import List, Optional, Tuple

import numpy as np
from pycocotools import mask as mask_utils

from ..base_cxr import CXRDatasetError

CONVENTIONS = ('relative', 'absolute')
EMPTY_TOKENS = ('', '-1')


def is_empty_rle(text: Optional[str]) -> bool:
    """True for an empty mask (``'-1'``, blank or missing)."""
    return text is None or text.strip() in EMPTY_TOKENS


def parse_rle(text: str,
              height: int,
              width: int,
              convention: str = 'relative',
              where: str = '') -> Tuple[np.ndarray, np.ndarray]:
    """Parse an RLE string into absolute 0-based runs.

    Args:
        text (str): ``'p0 l0 p1 l1 ...'``.
        height (int): Grid height H.
        width (int): Grid width W.
        convention (str): ``'relative'`` (SIIM: each position counts the
            pixels skipped since the previous run ended) or ``'absolute'``
            (1-indexed start pixel of each run).
        where (str): File and record, for error messages.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``starts`` (N,) and ``lengths`` (N,),
        int64, sorted, non-overlapping, adjacent runs merged; positions index
        the flattened grid of H * W pixels.

    Raises:
        CXRDatasetError: Odd number of values, non-integers, zero or negative
            lengths, overlapping runs, or runs past the end of the grid.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f'unknown RLE convention {convention!r}; expected '
                         f'one of {CONVENTIONS}')
    tokens = text.split()
    if len(tokens) % 2:
        raise CXRDatasetError(
            f'{where}: RLE has an odd number of values ({len(tokens)})')
    try:
        pairs = np.array(tokens, dtype=np.int64).reshape(-1, 2)
    except ValueError:
        raise CXRDatasetError(
            f'{where}: RLE contains a value that is not an integer') from None
    if pairs.size == 0:
        raise CXRDatasetError(f'{where}: empty RLE (use -1 for no mask)')
    positions, lengths = pairs[:, 0], pairs[:, 1]
    if (lengths <= 0).any():
        raise CXRDatasetError(f'{where}: RLE has a run of length <= 0')
    if convention == 'relative':
        if (positions < 0).any():
            raise CXRDatasetError(f'{where}: RLE has a negative offset')
        ends = np.cumsum(positions + lengths)
        starts = ends - lengths
    else:
        if (positions < 1).any():
            raise CXRDatasetError(
                f'{where}: RLE start < 1 (starts are 1-indexed)')
        starts = positions - 1
        ends = starts + lengths
        if (starts[1:] < ends[:-1]).any():
            raise CXRDatasetError(f'{where}: RLE runs are unsorted or overlap')
    total = height * width
    if ends[-1] > total:
        raise CXRDatasetError(
            f'{where}: RLE runs past the end of the {height}x{width} '
            f'(HxW) image: last run ends at pixel {int(ends[-1])} > '
            f'{total}')
    # merge touching runs (gap 0) so that COCO counts stay canonical
    touching = np.flatnonzero(starts[1:] == ends[:-1]) + 1
    if touching.size:
        keep = np.ones(len(starts), dtype=bool)
        keep[touching] = False
        ends = np.maximum.reduceat(ends, np.flatnonzero(keep))
        starts = starts[keep]
        lengths = ends - starts
    return starts, lengths


def coco_rle_counts(counts) -> np.ndarray:
    """The run lengths of a COCO RLE's ``counts``: a list of ints
    (uncompressed) or pycocotools' compressed text (str / bytes: 6 bits per
    character, offset 48, a continuation bit, a sign bit, and from the
    fourth run on a difference to the run two places before).

    Raises:
        ValueError: The text is cut off inside a number.
    """
    if not isinstance(counts, (str, bytes)):
        return np.asarray(list(counts), dtype=np.int64)
    data = counts.encode('ascii') if isinstance(counts, str) else counts
    codes = np.frombuffer(data, dtype=np.uint8).astype(np.int64) - 48
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (codes & 0x20) == 0  # the last character of each number
    if not last[-1]:
        raise ValueError('the compressed counts end inside a number')
    starts = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    number = np.cumsum(np.concatenate([[0], last[:-1]]))
    shift = 5 * (np.arange(codes.size) - starts[number])
    values = np.add.reduceat((codes & 0x1f) << shift, starts)
    negative = (codes[last] & 0x10) != 0  # sign bit of the last character
    values[negative] -= 1 << (shift[last][negative] + 5)
    # from the fourth run on, each value is a difference to the run two
    # places before: a running sum over each parity
    values[1::2] = np.cumsum(values[1::2])
    values[2::2] = np.cumsum(values[2::2])
    return values


def check_coco_rle(rle, where: str) -> None:
    """Check a COCO RLE (compressed or not) before pycocotools decodes it.

    pycocotools trusts ``counts``: runs that cover fewer pixels than
    ``size`` leave the rest of the mask as uninitialised memory, runs that
    cover more write past it (or fail with a bare traceback). Here the runs
    must be non-negative integers that cover exactly H x W pixels.

    Raises:
        CXRDatasetError: Naming ``where`` and the problem.
    """
    if not isinstance(rle, dict) or 'size' not in rle or 'counts' not in rle:
        raise CXRDatasetError(
            f'{where}: an RLE must be a dict with "size" and "counts"')
    size = rle['size']
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(
            isinstance(v, (int, np.integer)) and v > 0 for v in size)):
        raise CXRDatasetError(f'{where}: RLE size {size!r} is not [H, W]')
    counts = rle['counts']
    if not isinstance(counts, (str, bytes)) and not (isinstance(
            counts, (list, tuple)) and all(
                isinstance(v, (int, np.integer)) for v in counts)):
        raise CXRDatasetError(
            f'{where}: RLE counts must be a list of integers or '
            f'compressed text, got {type(counts).__name__}')
    try:
        runs = coco_rle_counts(counts)
    except (ValueError, UnicodeEncodeError) as err:
        raise CXRDatasetError(
            f'{where}: RLE counts are not valid compressed text: {err}') \
            from None
    kind = 'compressed' if isinstance(counts, (str, bytes)) \
        else 'uncompressed'
    if (runs < 0).any():
        raise CXRDatasetError(
            f'{where}: {kind} RLE has a negative run length')
    height, width = int(size[0]), int(size[1])
    total = int(runs.sum())
    if total != height * width:
        raise CXRDatasetError(
            f'{where}: {kind} RLE runs cover {total} pixels but its size '
            f'{height}x{width} (HxW) has {height * width} '
            f'({"too short" if total < height * width else "overruns"})')


def runs_to_coco(starts: np.ndarray, lengths: np.ndarray, height: int,
                 width: int) -> dict:
    """Column-major runs -> compressed COCO RLE, without decoding.

    Args:
        starts (np.ndarray): (N,) 0-based sorted run starts.
        lengths (np.ndarray): (N,) run lengths.
        height (int): H.
        width (int): W.

    Returns:
        dict: ``{'size': [H, W], 'counts': bytes}``.
    """
    ends = starts + lengths
    gaps = starts - np.concatenate([[0], ends[:-1]])
    counts = np.empty(2 * len(starts) + 1, dtype=np.int64)
    counts[0:-1:2] = gaps
    counts[1::2] = lengths
    counts[-1] = height * width - ends[-1]
    return mask_utils.frPyObjects(
        {
            'counts': counts.tolist(),
            'size': [height, width]
        }, height, width)


def runs_to_dense(starts: np.ndarray, lengths: np.ndarray, height: int,
                  width: int, order: str) -> np.ndarray:
    """Decode runs to a (H, W) uint8 {0, 1} mask.

    Args:
        order (str): ``'F'`` (column-major) or ``'C'`` (row-major).
    """
    flat = np.zeros(height * width, dtype=np.uint8)
    for start, length in zip(starts.tolist(), lengths.tolist()):
        flat[start:start + length] = 1
    return flat.reshape((height, width), order=order)


def runs_bbox(starts: np.ndarray, lengths: np.ndarray, height: int, width: int,
              order: str) -> List[float]:
    """Bounding box of the pixels covered by runs, from the runs alone.

    Args:
        order (str): ``'F'`` (column-major) or ``'C'`` (row-major).

    Returns:
        list[float]: ``[x1, y1, x2, y2]`` in pixel-edge coordinates (a
        single pixel (r, c) gives ``[c, r, c + 1, r + 1]``).
    """
    minor = height if order == 'F' else width
    last = starts + lengths - 1
    major0, major1 = starts // minor, last // minor
    wraps = major1 > major0  # a run crossing a column (row) boundary
    minor0 = np.where(wraps, 0, starts % minor).min()
    minor1 = np.where(wraps, minor - 1, last % minor).max()
    lo = [int(major0.min()), int(minor0)]
    hi = [int(major1.max()), int(minor1)]
    if order == 'F':  # major = column = x
        return [lo[0], lo[1], hi[0] + 1.0, hi[1] + 1.0]
    return [lo[1], lo[0], hi[1] + 1.0, hi[0] + 1.0]


def row_major_rle_to_coco(text: str,
                          height: int,
                          width: int,
                          where: str = '') -> Optional[dict]:
    """CheXmask's row-major, 1-indexed absolute RLE -> COCO RLE.

    Decodes densely (a transpose is unavoidable); use per sample.
    Returns None for an empty mask.
    """
    if is_empty_rle(text):
        return None
    starts, lengths = parse_rle(text, height, width, 'absolute', where)
    mask = runs_to_dense(starts, lengths, height, width, order='C')
    return mask_utils.encode(np.asfortranarray(mask))
