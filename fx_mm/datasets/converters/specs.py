# Copyright (c) fx_mm contributors. All rights reserved.
"""What the converters read: one :class:`ConverterSpec` per public
dataset, in :data:`CONVERTERS`."""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class ConverterSpec:
    """How to read one public dataset for conversion.

    Args:
        name (str): Converter name (file prefix, script name).
        dataset_type (str): Registered fx_mm dataset class.
        tasks (tuple[str]): Tasks the converter writes by default.
        splits (dict): split name -> dataset keyword arguments (relative to
            the data root, as the publisher lays the files out).
        task_splits (dict): task -> splits, for tasks whose annotations do
            not follow the splits above (NIH's boxes).
        layout (str): One line on the expected native layout.
    """

    name: str
    dataset_type: str
    tasks: Tuple[str, ...]
    splits: Dict[str, dict]
    task_splits: Dict[str, Dict[str, dict]] = field(default_factory=dict)
    layout: str = ''

    def splits_for(self, task: str) -> Dict[str, dict]:
        return self.task_splits.get(task, self.splits)


CONVERTERS: Dict[str, ConverterSpec] = OrderedDict()


def _register(spec: ConverterSpec) -> None:
    CONVERTERS[spec.name] = spec


_register(
    ConverterSpec(
        'nih',
        'NIHChestXray14Dataset', ('cls', 'loc'),
        OrderedDict(
            train_val=dict(split_file='train_val_list.txt'),
            test=dict(split_file='test_list.txt')),
        task_splits=dict(loc=OrderedDict(all=dict())),
        layout='Data_Entry_2017*.csv, BBox_List_2017.csv, split lists, '
        'images/ or images_0NN/images/'))
_register(
    ConverterSpec(
        'vindr_cxr',
        'VinDrCXRDataset', ('cls', 'loc'),
        OrderedDict(train=dict()),
        layout='train.csv, image_labels_train.csv, train/<id>.dicom'))
_register(
    ConverterSpec(
        'tbx11k',
        'TBX11KDataset', ('cls', 'loc'),
        OrderedDict(
            train=dict(ann_file='annotations/json/TBX11K_train.json'),
            val=dict(ann_file='annotations/json/TBX11K_val.json')),
        layout='annotations/json/TBX11K_{train,val}.json, imgs/'))
_register(
    ConverterSpec(
        'node21',
        'NODE21Dataset', ('cls', 'loc'),
        OrderedDict(train=dict()),
        layout='metadata.csv, images/<name>.mha'))
_register(
    ConverterSpec(
        'rsna',
        'RSNAPneumoniaDataset', ('cls', 'loc'),
        OrderedDict(train=dict()),
        layout='stage_2_train_labels.csv, stage_2_detailed_class_info.csv, '
        'stage_2_train_images/<patientId>.dcm'))
_register(
    ConverterSpec(
        'chestx_det',
        'ChestXDetDataset', ('cls', 'loc', 'seg'),
        OrderedDict(
            train=dict(
                ann_file='ChestX_Det_train.json',
                data_prefix=dict(img_path='train')),
            test=dict(
                ann_file='ChestX_Det_test.json',
                data_prefix=dict(img_path='test'))),
        layout='ChestX_Det_{train,test}.json, {train,test}/<name>.png'))
_register(
    ConverterSpec(
        'siim_acr',
        'SIIMACRDataset', ('cls', 'loc', 'seg'),
        OrderedDict(train=dict()),
        layout='train-rle.csv, dicom-images-train/<study>/<series>/'
        '<ImageId>.dcm'))
_register(
    ConverterSpec(
        'candid_ptx',
        'CANDIDPTXDataset', ('cls', 'loc', 'seg'),
        OrderedDict(all=dict()),
        layout='Pneumothorax_reports.csv, <SOPInstanceUID>.<ext> anywhere '
        'below the root'))
_register(
    ConverterSpec(
        'chexmask',
        'CheXmaskDataset', ('loc', 'seg'),
        OrderedDict(all=dict()),
        layout='VinDr-CXR.csv(.gz), {train,test}/<image_id>.dicom'))
_register(
    ConverterSpec(
        'vindr_ribcxr',
        'VinDrRibCXRDataset', ('seg', ),
        OrderedDict(
            train=dict(ann_file='Vindr_RibCXR_train_mask.json'),
            val=dict(ann_file='Vindr_RibCXR_val_mask.json')),
        layout='Vindr_RibCXR_{train,val}_mask.json, data/<split>/img/'))
_register(
    ConverterSpec(
        'montgomery',
        'MontgomeryDataset', ('cls', 'seg'),
        OrderedDict(all=dict()),
        layout='CXR_png/MCUCXR_nnnn_<0|1>.png, ManualMask/{left,right}Mask/'))
_register(
    ConverterSpec(
        'jsrt',
        'JSRTDataset', ('cls', 'loc', 'seg'),
        OrderedDict((s, dict(split=s)) for s in ('train', 'val', 'test')),
        layout='images/, scr_masks/<organ>/, CLNDAT_EN.txt, CNNDAT_EN.TXT, '
        'splits/'))
_register(
    ConverterSpec(
        'shenzhen',
        'ShenzhenDataset', ('cls', ),
        OrderedDict(all=dict()),
        layout='CXR_png/CHNCXR_nnnn_<0|1>.png'))
_register(
    ConverterSpec(
        'chexpert',
        'CheXpertDataset', ('cls', ),
        OrderedDict(
            train=dict(ann_file='train.csv'),
            valid=dict(ann_file='valid.csv')),
        layout='CheXpert-v1.0*/{train,valid}.csv and the image folders'))
_register(
    ConverterSpec(
        'mimic_cxr',
        'MIMICCXRDataset', ('cls', ),
        OrderedDict((s, dict(split=s)) for s in ('train', 'validate', 'test')),
        layout='mimic-cxr-2.0.0-{chexpert,metadata,split}.csv.gz, files/'))
