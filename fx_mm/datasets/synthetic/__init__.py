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

Renderer: :mod:`.phantom`; disk cache: :mod:`.generate`; dataset:
:mod:`.dataset`; label sets: :mod:`.variants`.
"""
from .dataset import SPLITS, SyntheticCXRDataset
from .generate import GENERATOR_VERSION, generate_synthetic_cxr
from .phantom import render_phantom
from .variants import ORGANS, VARIANTS, variant_metainfo

__all__ = [
    'SyntheticCXRDataset', 'generate_synthetic_cxr', 'render_phantom',
    'variant_metainfo', 'VARIANTS', 'ORGANS', 'SPLITS', 'GENERATOR_VERSION'
]
