# Copyright (c) fx_mm contributors. All rights reserved.
"""Synthetic chest X-ray phantoms: the embedded default data of fx_mm.

:func:`generate_synthetic_cxr` draws deterministic (by seed) posterior-
anterior chest radiograph phantoms with findings and organ masks, so that
every task (cls / loc / seg) runs end to end without downloading a dataset.
Each *variant* acts as a separate dataset with its own label sets (its own
heads in the multi-task model):

==========  ========================  ==============  ======================
variant     cls classes               box classes     seg classes
==========  ========================  ==============  ======================
phantom_a   nodule, cardiomegaly      nodule          heart, left_lung,
                                                      right_lung
phantom_b   opacity, cardiomegaly     opacity         left_clavicle,
                                                      right_clavicle
==========  ========================  ==============  ======================

Anatomy (patient's left = image right, as on a PA radiograph): dark lung
fields, a bright heart right of the image centre and a mediastinum/spine
band, clavicles, ribs, soft tissue, air outside the body, smooth intensity
variation and noise; per image a random pose (rotation, scale, shift) and
anatomy jitter. Findings (each present in about half of the images):
nodules (1-3 bright round blobs of radius 5-12 px at 256 px, inside a lung,
one box each), opacities (1-2 larger diffuse mottled patches confined to a
lung, one box each: the extent of the visible patch) and cardiomegaly (a
heart scaled 1.3-1.45x instead of 0.95-1.08x; image-level only). Image
labels are derived from what was drawn: ``nodule`` is 1 iff the image has a
nodule box. A small CNN trained from scratch on 128 px images for ~1.5 min
on CPU reaches a held-out AUC of ~0.85-0.93 for nodules (140-210 training
images) and > 0.97 for opacity and cardiomegaly.

Layout of ``<root>/<variant>/``::

    manifest.json            generation parameters + generator version
    annotations.json         per image: split, labels, boxes, mask files
    images/<id>.png          8-bit grayscale
    masks/<seg class>/<id>.png   0/255, all five organ classes

The directory is written once and reused while ``manifest.json`` matches the
requested parameters; a mismatch regenerates it. Generation writes into a
temporary directory and renames it, so concurrent processes (distributed
training) never read a half-written dataset.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
import time
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from .base_cxr import BaseCXRDataset, CXRDatasetError

GENERATOR_VERSION = 3
MANIFEST = 'manifest.json'
ANNOTATIONS = 'annotations.json'
SPLITS = ('train', 'val', 'test')
ORGANS = ('heart', 'left_lung', 'right_lung', 'left_clavicle',
          'right_clavicle')

#: Label sets and finding probabilities of each variant.
VARIANTS: Dict[str, dict] = dict(
    phantom_a=dict(
        classes=('nodule', 'cardiomegaly'),
        box_classes=('nodule', ),
        seg_classes=('heart', 'left_lung', 'right_lung'),
        finding_prob=dict(nodule=0.5, cardiomegaly=0.45)),
    phantom_b=dict(
        classes=('opacity', 'cardiomegaly'),
        box_classes=('opacity', ),
        seg_classes=('left_clavicle', 'right_clavicle'),
        finding_prob=dict(opacity=0.5, cardiomegaly=0.45)),
)


def variant_metainfo(variant: str) -> dict:
    """``METAINFO`` of a variant (``dataset_name`` = the variant name)."""
    if variant not in VARIANTS:
        raise CXRDatasetError(f'unknown synthetic CXR variant {variant!r}; '
                              f'available: {sorted(VARIANTS)}')
    spec = VARIANTS[variant]
    return dict(
        dataset_name=variant,
        classes=tuple(spec['classes']),
        box_classes=tuple(spec['box_classes']),
        seg_classes=tuple(spec['seg_classes']))


# ----------------------------------------------------------------------
# Drawing helpers. Geometry is defined in normalised image coordinates
# ([0, 1] x [0, 1], y down) and mapped to pixels by a per-image pose.
# ----------------------------------------------------------------------
class _Pose:
    """Similarity transform about the image centre, then to pixels."""

    def __init__(self, size: int, angle_deg: float, scale: float,
                 shift: Tuple[float, float]) -> None:
        theta = np.deg2rad(angle_deg)
        self.rot = scale * np.array([[np.cos(theta), -np.sin(theta)],
                                     [np.sin(theta),
                                      np.cos(theta)]])
        self.shift = np.asarray(shift, dtype=np.float64)
        self.size = size
        self.scale = scale

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) normalised -> (N, 2) pixel coordinates (continuous)."""
        points = np.asarray(points, dtype=np.float64) - 0.5
        return (points @ self.rot.T + 0.5 + self.shift) * self.size


def _ellipse(center: Sequence[float],
             axes: Sequence[float],
             angle_deg: float = 0.0,
             egg: float = 0.0,
             num: int = 72) -> np.ndarray:
    """(num, 2) outline of an ellipse; ``egg`` > 0 widens its lower half."""
    t = np.linspace(0, 2 * np.pi, num, endpoint=False)
    x = axes[0] * np.cos(t) * (1 + egg * np.sin(t))
    y = axes[1] * np.sin(t)
    theta = np.deg2rad(angle_deg)
    xr = x * np.cos(theta) - y * np.sin(theta)
    yr = x * np.sin(theta) + y * np.cos(theta)
    return np.stack([xr + center[0], yr + center[1]], axis=1)


def _fixed(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates -> cv2 fixed point with 4 fractional bits."""
    return np.round(points * 16).astype(np.int32)


def _fill(size: int, pixel_points: np.ndarray) -> np.ndarray:
    """Binary (size, size) uint8 mask of a filled polygon."""
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.fillPoly(mask, [_fixed(pixel_points)], 1, cv2.LINE_8, shift=4)
    return mask


def _polyline(size: int, pixel_points: np.ndarray,
              thickness: int) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.polylines(
        mask, [_fixed(pixel_points)],
        False,
        1,
        thickness=max(1, int(thickness)),
        lineType=cv2.LINE_8,
        shift=4)
    return mask


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Blurred float32 copy of a binary mask (soft organ borders)."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def _smooth_noise(rng: np.random.Generator, size: int,
                  grid: int) -> np.ndarray:
    """(size, size) float32 smooth random field with values ~N(0, 1)."""
    coarse = rng.standard_normal((grid, grid)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def _sample_inside(rng: np.random.Generator, region: np.ndarray,
                   margin: float) -> Optional[Tuple[float, float]]:
    """A random point (x, y) at least ``margin`` px inside ``region``."""
    dist = cv2.distanceTransform(region, cv2.DIST_L2, 5)
    candidates = np.flatnonzero(dist >= margin)
    if candidates.size == 0:
        return None
    idx = int(candidates[rng.integers(candidates.size)])
    row, col = divmod(idx, region.shape[1])
    return (col + rng.uniform(0.0, 1.0), row + rng.uniform(0.0, 1.0))


def _render_phantom(rng: np.random.Generator, size: int,
                    finding_prob: Dict[str, float]) -> dict:
    """Draw one phantom.

    Returns:
        dict: ``image`` (size, size) uint8, ``masks`` {organ: (size, size)
        uint8 {0, 1}}, ``labels`` {finding: 0/1}, ``boxes`` list of
        ``(finding, [x1, y1, x2, y2])`` in pixels.
    """
    unit = size / 256.0  # finding sizes are specified at 256 px
    pose = _Pose(size, rng.uniform(-4, 4), rng.uniform(0.92, 1.06),
                 rng.uniform(-0.03, 0.03, size=2))
    px = pose.scale * size  # pixels per normalised unit after the pose
    labels = {
        name: int(rng.uniform() < prob)
        for name, prob in sorted(finding_prob.items())
    }

    # --- anatomy -------------------------------------------------------
    def jit(value: float, amount: float) -> float:
        return value + rng.uniform(-amount, amount)

    body = _fill(size, pose(_ellipse((0.5, 0.6), (jit(0.48, 0.02), 0.75))))
    lung_r = _fill(
        size,
        pose(
            _ellipse((jit(0.31, 0.01), jit(0.46, 0.01)),
                     (jit(0.14, 0.01), jit(0.28, 0.015)), jit(4, 2), 0.22)))
    lung_l = _fill(
        size,
        pose(
            _ellipse((jit(0.69, 0.01), jit(0.46, 0.01)),
                     (jit(0.13, 0.01), jit(0.275, 0.015)), jit(-4, 2), 0.22)))
    heart_factor = rng.uniform(1.3, 1.45) if labels.get('cardiomegaly') \
        else rng.uniform(0.95, 1.08)
    heart = _fill(
        size,
        pose(
            _ellipse((jit(0.56, 0.01), jit(0.65, 0.01)),
                     (0.12 * heart_factor, 0.10 * heart_factor), jit(-20, 5))))
    top_w, mid_w = jit(0.06, 0.01), jit(0.07, 0.01)
    mediastinum = _fill(
        size,
        pose(
            np.array([(0.5 - top_w, -0.05), (0.5 + top_w, -0.05),
                      (0.5 + mid_w, 0.35), (0.6, 0.6), (0.42, 0.6),
                      (0.5 - mid_w, 0.35)])))
    not_central = (1 - heart) * (1 - mediastinum)
    masks = dict(
        heart=heart,
        right_lung=lung_r * not_central,
        left_lung=lung_l * not_central)
    # ~5 % of the image width, as adult clavicles on a PA radiograph (and
    # thick enough to be learnt in a few CPU minutes at 128-192 px)
    clavicle_px = 0.05 * px
    for name, side in (('right_clavicle', -1), ('left_clavicle', 1)):
        y_med, y_lat = jit(0.2, 0.015), jit(0.13, 0.015)
        points = np.array([(0.5 + side * 0.045, y_med),
                           (0.5 + side * 0.18, y_med - 0.01),
                           (0.5 + side * jit(0.31, 0.02), y_lat)])
        masks[name] = _polyline(size, pose(points), clavicle_px) * body

    ribs = np.zeros((size, size), dtype=np.uint8)
    u = np.linspace(0.0, 1.0, 24)
    for k in range(9):
        y0 = 0.16 + 0.072 * k + rng.uniform(-0.008, 0.008)
        for side in (-1, 1):
            x = 0.5 + side * (0.035 + 0.37 * u)
            y = y0 + 0.07 * u - 0.035 * np.sin(np.pi * u)
            ribs |= _polyline(size, pose(np.stack([x, y], 1)), 0.016 * px)

    sigma = 1.2 * unit
    lungs = np.maximum(masks['left_lung'], masks['right_lung'])
    soft_lungs = _soft(lungs, sigma)
    image = 0.05 + 0.5 * _soft(body, 2 * sigma)
    image -= 0.32 * soft_lungs
    image += 0.2 * _soft(heart, sigma) + 0.16 * _soft(
        mediastinum * (1 - heart), sigma)
    spine = np.zeros((size, size), dtype=np.uint8)
    top, bottom = _fixed(pose([(0.5, -0.1), (0.5, 1.1)])).tolist()
    cv2.line(spine, tuple(top), tuple(bottom), 1, max(1, int(0.05 * px)),
             cv2.LINE_8, 4)
    image += 0.06 * _soft(spine, sigma) * _soft(body, sigma)
    # air in the trachea: a dark stripe down the upper mediastinum
    trachea = _polyline(size, pose([(0.5, -0.05), (0.5, 0.3)]), 0.028 * px)
    image -= 0.1 * _soft(trachea, 1.5 * sigma)
    # lung markings: hilar vessels (brighter medially) and fine texture
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    hila = np.zeros((size, size), dtype=np.float32)
    for hx, hy in pose([(0.41, 0.46), (0.6, 0.46)]):
        dist2 = (cols - hx)**2 + (rows - hy)**2
        hila += np.exp(-dist2 / (2 * (0.07 * px)**2))
    markings = 0.07 * hila + 0.025 * _smooth_noise(rng, size, 40)
    image += markings * soft_lungs
    image += 0.08 * _soft(ribs, 0.8 * unit) * _soft(body, 2 * sigma)
    clavicles = np.maximum(masks['left_clavicle'], masks['right_clavicle'])
    image += 0.18 * _soft(clavicles, 0.8 * unit)

    # --- findings ------------------------------------------------------
    boxes: List[Tuple[str, List[float]]] = []
    lung_sides = [masks['right_lung'], masks['left_lung']]
    if labels.get('nodule'):
        centers: List[Tuple[float, float, float]] = []
        for _ in range(int(rng.choice(3, p=(0.5, 0.35, 0.15))) + 1):
            radius = rng.uniform(5.0, 12.0) * unit
            for _attempt in range(20):
                side = lung_sides[int(rng.integers(2))]
                center = _sample_inside(rng, side, radius + 2)
                if center is None:
                    continue
                if all(
                        np.hypot(center[0] - cx, center[1] - cy) > 2.5 *
                        max(radius, r) for cx, cy, r in centers):
                    break
            else:  # pragma: no cover - the lungs always have room
                continue
            cx, cy = center
            centers.append((cx, cy, radius))
            dist2 = ((cols - cx)**2 + (rows - cy)**2) / radius**2
            image += rng.uniform(0.45, 0.6) * np.sqrt(
                np.clip(1.0 - dist2, 0.0, 1.0))
            boxes.append(('nodule',
                          [cx - radius, cy - radius, cx + radius,
                           cy + radius]))
        labels['nodule'] = int(bool(centers))
    if labels.get('opacity'):
        num = 1 if rng.uniform() < 0.7 else 2
        for _ in range(num):
            side = lung_sides[int(rng.integers(2))]
            center = _sample_inside(rng, side, 12 * unit)
            if center is None:  # pragma: no cover
                continue
            axes = rng.uniform(16.0, 32.0, size=2) * unit
            theta = rng.uniform(0, np.pi)
            dx, dy = cols - center[0], rows - center[1]
            along = (dx * np.cos(theta) + dy * np.sin(theta)) / axes[0]
            across = (-dx * np.sin(theta) + dy * np.cos(theta)) / axes[1]
            texture = np.clip(0.85 + 0.25 * _smooth_noise(rng, size, 24), 0.55,
                              1.3)
            amplitude = rng.uniform(0.28, 0.38)
            patch = amplitude * np.exp(-2.0 * (along**2 + across**2)**2) \
                * _soft(side, sigma) * texture
            visible = patch >= 0.2 * amplitude
            if not visible.any():  # pragma: no cover
                continue
            image += patch
            ys, xs = np.nonzero(visible)
            boxes.append(('opacity', [
                float(xs.min()),
                float(ys.min()),
                float(xs.max() + 1),
                float(ys.max() + 1)
            ]))
        labels['opacity'] = int(any(b[0] == 'opacity' for b in boxes))

    # --- acquisition: smooth shading, contrast, noise -------------------
    image *= 1.0 + 0.05 * _smooth_noise(rng, size, 5)
    image += np.linspace(-1, 1, size, dtype=np.float32)[:, None] \
        * rng.uniform(-0.04, 0.04)
    image = image * rng.uniform(0.9, 1.1) + rng.uniform(-0.04, 0.04)
    image += rng.normal(0.0, 0.022, size=(size, size))
    image = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)

    clipped = []
    for name, (x1, y1, x2, y2) in boxes:
        clipped.append((name, [
            float(np.clip(x1, 0, size)),
            float(np.clip(y1, 0, size)),
            float(np.clip(x2, 0, size)),
            float(np.clip(y2, 0, size))
        ]))
    return dict(image=image, masks=masks, labels=labels, boxes=clipped)


# ----------------------------------------------------------------------
def _manifest(variant: str, num_images: int, image_size: int, seed: int,
              split_ratios: Sequence[float]) -> dict:
    return dict(
        generator='fx_mm.datasets.synthetic',
        version=GENERATOR_VERSION,
        variant=variant,
        num_images=int(num_images),
        image_size=int(image_size),
        seed=int(seed),
        split_ratios=[float(r) for r in split_ratios])


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _split_names(rng: np.random.Generator, num_images: int,
                 split_ratios: Sequence[float]) -> List[str]:
    """Deterministic split of ``num_images`` by a seeded permutation."""
    order = rng.permutation(num_images)
    total = float(sum(split_ratios))
    n_train = int(round(num_images * split_ratios[0] / total))
    n_val = int(round(num_images * split_ratios[1] / total))
    splits = [''] * num_images
    for rank, idx in enumerate(order):
        splits[idx] = 'train' if rank < n_train else \
            'val' if rank < n_train + n_val else 'test'
    return splits


def _write_variant(out_dir: str, variant: str, num_images: int,
                   image_size: int, seed: int,
                   split_ratios: Sequence[float]) -> None:
    spec = VARIANTS[variant]
    key = zlib.crc32(variant.encode())
    splits = _split_names(
        np.random.default_rng([seed, key, num_images]), num_images,
        split_ratios)
    os.makedirs(osp.join(out_dir, 'images'))
    for organ in ORGANS:
        os.makedirs(osp.join(out_dir, 'masks', organ))
    records = []
    for index in range(num_images):
        # One stream per image: image i does not depend on num_images.
        rng = np.random.default_rng([seed, key, index])
        drawn = _render_phantom(rng, image_size, spec['finding_prob'])
        img_id = f'{variant}_{index:05d}'
        file = osp.join('images', f'{img_id}.png')
        cv2.imwrite(osp.join(out_dir, file), drawn['image'])
        mask_files = {}
        for organ in ORGANS:
            mask_files[organ] = osp.join('masks', organ, f'{img_id}.png')
            cv2.imwrite(
                osp.join(out_dir, mask_files[organ]),
                drawn['masks'][organ] * np.uint8(255))
        records.append(
            dict(
                id=img_id,
                file=file,
                width=image_size,
                height=image_size,
                split=splits[index],
                labels=drawn['labels'],
                boxes=[dict(label=n, bbox=b) for n, b in drawn['boxes']],
                masks=mask_files))
    with open(osp.join(out_dir, ANNOTATIONS), 'w', encoding='utf-8') as f:
        json.dump(dict(metainfo=variant_metainfo(variant), images=records), f)


def generate_synthetic_cxr(root: str,
                           num_images: int,
                           image_size: int = 256,
                           seed: int = 0,
                           variant: str = 'phantom_a',
                           split_ratios: Sequence[float] = (0.7, 0.15, 0.15),
                           force: bool = False) -> str:
    """Generate (or reuse) the phantoms of one variant under ``root``.

    Args:
        root (str): Parent directory; the variant lives in
            ``<root>/<variant>``.
        num_images (int): Number of images over all splits.
        image_size (int): Width = height in pixels. Defaults to 256.
        seed (int): Random seed; the same arguments give identical files.
            Defaults to 0.
        variant (str): One of :data:`VARIANTS`. Defaults to ``'phantom_a'``.
        split_ratios (Sequence[float]): Relative sizes of train / val /
            test. Defaults to (0.7, 0.15, 0.15).
        force (bool): Regenerate even when the manifest matches.

    Returns:
        str: The variant directory ``<root>/<variant>``.
    """
    variant_metainfo(variant)  # validates the name
    if num_images < 1 or image_size < 64:
        raise ValueError(f'generate_synthetic_cxr: need num_images >= 1 and '
                         f'image_size >= 64, got {num_images}, {image_size}')
    if len(split_ratios) != 3 or min(split_ratios) < 0 or \
            sum(split_ratios) <= 0:
        raise ValueError('generate_synthetic_cxr: split_ratios must be 3 '
                         f'non-negative numbers, got {split_ratios}')
    target = osp.join(root, variant)
    wanted = _manifest(variant, num_images, image_size, seed, split_ratios)
    manifest_path = osp.join(target, MANIFEST)
    if osp.isdir(target):
        if not osp.isfile(manifest_path):
            raise CXRDatasetError(
                f'{target} exists but is not a synthetic CXR directory (no '
                f'{MANIFEST}); remove it or choose another data_root')
        if not force and _read_json(manifest_path) == wanted and \
                osp.isfile(osp.join(target, ANNOTATIONS)):
            return target

    os.makedirs(root, exist_ok=True)
    start = time.perf_counter()
    tmp_dir = tempfile.mkdtemp(prefix=f'.{variant}.tmp-', dir=root)
    try:
        _write_variant(tmp_dir, variant, num_images, image_size, seed,
                       split_ratios)
        with open(osp.join(tmp_dir, MANIFEST), 'w', encoding='utf-8') as f:
            json.dump(wanted, f, indent=2)
        if osp.isdir(target):
            # Ours (it has a manifest) but stale or forced: replace it.
            shutil.rmtree(target)
        try:
            os.rename(tmp_dir, target)
        except OSError:
            # Another process finished the same generation first.
            if _read_json(manifest_path) != wanted:
                raise
    finally:
        if osp.isdir(tmp_dir):
            shutil.rmtree(tmp_dir)
    print_log(
        f'generated {num_images} synthetic CXR images ({variant}, '
        f'{image_size}px, seed {seed}) in {target} in '
        f'{time.perf_counter() - start:.1f}s',
        logger='current')
    return target


@DATASETS.register_module()
class SyntheticCXRDataset(BaseCXRDataset):
    """Synthetic chest X-ray phantoms, generated on first use.

    Args:
        data_root (str): Where the variants are generated
            (``<data_root>/<variant>``). Defaults to
            ``'work_dirs/synthetic_cxr'``.
        variant (str): ``'phantom_a'`` or ``'phantom_b'`` (see the module
            doc); each variant is a separate dataset with its own classes.
        split (str): ``'train'``, ``'val'``, ``'test'`` or ``'all'``.
        num_images (int): Images generated over all splits. Defaults to
            200.
        image_size (int): Side of the square images. Defaults to 256.
        seed (int): Generation seed. Defaults to 0.
        split_ratios (Sequence[float]): train / val / test proportions.
        task (str): ``'cls'``, ``'loc'`` or ``'seg'``.
        **kwargs: Passed to :class:`BaseCXRDataset` (``pipeline``,
            ``dataset_name``, ``test_mode``, ``indices`` ...).
    """

    METAINFO = variant_metainfo('phantom_a')

    def __init__(self,
                 data_root: str = 'work_dirs/synthetic_cxr',
                 variant: str = 'phantom_a',
                 split: str = 'train',
                 num_images: int = 200,
                 image_size: int = 256,
                 seed: int = 0,
                 split_ratios: Sequence[float] = (0.7, 0.15, 0.15),
                 task: str = 'cls',
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if split not in SPLITS + ('all', ):
            raise CXRDatasetError(
                f'SyntheticCXRDataset: unknown split {split!r}; expected one '
                f'of {SPLITS + ("all", )}')
        meta = variant_metainfo(variant)
        meta.update(metainfo or {})
        self.variant = variant
        self.split = split
        self.num_images = num_images
        self.image_size = image_size
        self.seed = seed
        self.split_ratios = tuple(split_ratios)
        super().__init__(
            task=task, data_root=data_root, metainfo=meta, **kwargs)

    def load_records(self) -> List[dict]:
        root = generate_synthetic_cxr(
            self.data_root,
            self.num_images,
            image_size=self.image_size,
            seed=self.seed,
            variant=self.variant,
            split_ratios=self.split_ratios)
        ann_path = osp.join(root, ANNOTATIONS)
        annotations = _read_json(ann_path)
        if annotations is None or 'images' not in annotations:
            raise CXRDatasetError(f'{ann_path}: unreadable annotation file; '
                                  'delete the directory to regenerate it')
        box_ids = {
            name: i
            for i, name in enumerate(self._metainfo['box_classes'])
        }
        records = []
        for k, image in enumerate(annotations['images']):
            if self.split != 'all' and image['split'] != self.split:
                continue
            where = f'{ann_path}: image {k} ({image["id"]})'
            info = dict(
                img_path=osp.join(root, image['file']),
                img_id=image['id'],
                img_size=(image['width'], image['height']))
            if self.task == 'cls':
                missing = [
                    c for c in self.task_classes if c not in image['labels']
                ]
                if missing:
                    raise CXRDatasetError(f'{where}: no label for {missing}')
                info['gt_score'] = np.array(
                    [image['labels'][c] for c in self.task_classes],
                    dtype=np.float32)
            elif self.task == 'loc':
                instances = []
                for box in image['boxes']:
                    if box['label'] not in box_ids:
                        raise CXRDatasetError(
                            f'{where}: box class {box["label"]!r} is not '
                            f'one of {tuple(box_ids)}')
                    instances.append(
                        dict(
                            bbox=list(box['bbox']),
                            bbox_label=box_ids[box['label']],
                            ignore_flag=0))
                info['instances'] = instances
            else:
                info['seg_map_paths'] = [
                    osp.join(root, image['masks'][c])
                    for c in self.task_classes
                ]
            records.append(info)
        return records
