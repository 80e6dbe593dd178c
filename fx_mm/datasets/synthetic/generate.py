# Copyright (c) fx_mm contributors. All rights reserved.
"""Generation of the phantoms on disk, reused while unchanged.

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
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmengine.logging import print_log

from ..base_cxr import CXRDatasetError
from .phantom import render_phantom
from .variants import ORGANS, VARIANTS, variant_metainfo

GENERATOR_VERSION = 3
MANIFEST = 'manifest.json'
ANNOTATIONS = 'annotations.json'


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


def read_json(path: str) -> Optional[dict]:
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
        drawn = render_phantom(rng, image_size, spec['finding_prob'])
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
        if not force and read_json(manifest_path) == wanted and \
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
            if read_json(manifest_path) != wanted:
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
