# Copyright (c) fx_mm contributors. All rights reserved.
"""The synthetic phantoms' variants (each a dataset of its own) and organs."""
from typing import Dict

from ..base_cxr import CXRDatasetError

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
