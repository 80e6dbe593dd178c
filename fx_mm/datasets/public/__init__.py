# Copyright (c) fx_mm contributors. All rights reserved.
"""Loaders for the public CXR datasets in the layout their publishers ship.
"""
from .chestx_det import CHESTX_DET_CLASSES, ChestXDetDataset
from .chexmask import CheXmaskDataset
from .chexpert import (CHEXPERT_CLASSES, COMPETITION_CLASSES, MIMIC_CLASSES,
                       CheXpertDataset, MIMICCXRDataset)
from .nih import (NIH_BOX_CLASSES, NIH_CLASSES, NIH_FOUR_FINDINGS,
                  NIHChestXray14Dataset, NIHFourFindingsDataset)
from .jsrt import JSRT_SEG_CLASSES, JSRTDataset
from .node21 import NODE21Dataset
from .pneumothorax import CANDIDPTXDataset, SIIMACRDataset
from .rsna import RSNA_CLASSES, RSNAPneumoniaDataset
from .tb import MontgomeryDataset, ShenzhenDataset, TBX11KDataset
from .vindr import (VINDR_GLOBAL_CLASSES, VINDR_LOCAL_CLASSES, VinDrCXRDataset,
                    fuse_reader_boxes)
from .vindr_rib import RIB_CLASSES, VinDrRibCXRDataset

__all__ = [
    'CheXpertDataset', 'MIMICCXRDataset', 'NIHChestXray14Dataset',
    'NIHFourFindingsDataset', 'NIH_FOUR_FINDINGS', 'VinDrCXRDataset',
    'ShenzhenDataset', 'MontgomeryDataset', 'TBX11KDataset', 'NODE21Dataset',
    'RSNAPneumoniaDataset', 'ChestXDetDataset', 'SIIMACRDataset',
    'CANDIDPTXDataset', 'CheXmaskDataset', 'VinDrRibCXRDataset',
    'fuse_reader_boxes', 'CHEXPERT_CLASSES', 'MIMIC_CLASSES',
    'COMPETITION_CLASSES', 'NIH_CLASSES', 'NIH_BOX_CLASSES',
    'VINDR_GLOBAL_CLASSES', 'VINDR_LOCAL_CLASSES', 'RSNA_CLASSES',
    'CHESTX_DET_CLASSES', 'RIB_CLASSES', 'JSRTDataset', 'JSRT_SEG_CLASSES'
]
