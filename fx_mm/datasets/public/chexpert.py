# Copyright (c) fx_mm contributors. All rights reserved.
"""CheXpert and MIMIC-CXR-JPG: CheXpert-labeler CSVs (1 / 0 / -1 / blank).

Label values: ``1`` positive, ``0`` negative, ``-1`` uncertain, blank = not
mentioned in the report. ``uncertainty`` maps -1 to 1 (``'ones'``), 0
(``'zeros'``) or leaves it out of the loss and metrics (``'ignore'``:
``gt_label_mask`` False); it may also be a dict ``{class: policy}`` (with an
optional ``'default'`` entry), e.g. U-Ones for Atelectasis and Edema and
U-Zeros for the rest. Blanks become 0 (CheXpert's convention, ``blank=
'zeros'``) or are ignored (``blank='ignore'``).
"""
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import print_log

from fx_mm.registry import DATASETS
from ..base_cxr import CXRDatasetError
from .annotation_files import iter_csv
from .public_dataset import PublicCXRDataset

CHEXPERT_CLASSES = ('No Finding', 'Enlarged Cardiomediastinum', 'Cardiomegaly',
                    'Lung Opacity', 'Lung Lesion', 'Edema', 'Consolidation',
                    'Pneumonia', 'Atelectasis', 'Pneumothorax',
                    'Pleural Effusion', 'Pleural Other', 'Fracture',
                    'Support Devices')
# mimic-cxr-2.0.0-chexpert.csv lists the same 14 labels alphabetically
MIMIC_CLASSES = ('Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema',
                 'Enlarged Cardiomediastinum', 'Fracture', 'Lung Lesion',
                 'Lung Opacity', 'No Finding', 'Pleural Effusion',
                 'Pleural Other', 'Pneumonia', 'Pneumothorax',
                 'Support Devices')
# the 5 diseases of the CheXpert competition (mean AUC in the paper)
COMPETITION_CLASSES = ('Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema',
                       'Pleural Effusion')
UNCERTAINTY_POLICIES = ('ones', 'zeros', 'ignore')
BLANK_POLICIES = ('zeros', 'ignore')
_VALUES = {'1': 1, '1.0': 1, '0': 0, '0.0': 0, '-1': -1, '-1.0': -1, '': None}


def _uncertainty_table(policy: Union[str, Dict[str, str]],
                       classes: Sequence[str]) -> Dict[str, str]:
    if isinstance(policy, str):
        policy = dict(default=policy)
    policy = dict(policy)
    default = policy.pop('default', None)
    unknown = set(policy) - set(classes)
    if unknown:
        raise CXRDatasetError(f'uncertainty policy for unknown classes '
                              f'{sorted(unknown)}; classes: {classes}')
    table = {c: policy.get(c, default) for c in classes}
    for name, value in table.items():
        if value not in UNCERTAINTY_POLICIES:
            raise CXRDatasetError(
                f'uncertainty policy {value!r} for {name!r}; expected one '
                f'of {UNCERTAINTY_POLICIES} (or a "default" entry)')
    return table


class _CheXpertLabels(PublicCXRDataset):
    """Shared label parsing of the CheXpert-labeler CSVs."""

    def __init__(self,
                 uncertainty: Union[str, Dict[str, str]] = 'ones',
                 blank: str = 'zeros',
                 frontal_only: bool = False,
                 **kwargs) -> None:
        classes = self.METAINFO['classes']
        self.uncertainty = _uncertainty_table(uncertainty, classes)
        if blank not in BLANK_POLICIES:
            raise CXRDatasetError(
                f'blank={blank!r}; expected one of {BLANK_POLICIES}')
        self.blank = blank
        self.frontal_only = frontal_only
        super().__init__(**kwargs)

    def _labels(self, row: dict, where: str) -> Tuple[np.ndarray, np.ndarray]:
        classes = self.task_classes
        score = np.zeros(len(classes), dtype=np.float32)
        mask = np.ones(len(classes), dtype=bool)
        for k, name in enumerate(classes):
            text = row[name]
            if text not in _VALUES:
                raise CXRDatasetError(
                    f'{where}: column {name!r} is {text!r}; expected 1, 0, '
                    '-1 (uncertain) or blank')
            value = _VALUES[text]
            if value is None:
                policy = self.blank
            elif value == -1:
                policy = self.uncertainty[name]
            else:
                score[k] = value
                continue
            if policy == 'ones':
                score[k] = 1.0
            elif policy == 'ignore':
                mask[k] = False
        return score, mask


@DATASETS.register_module()
class CheXpertDataset(_CheXpertLabels):
    """CheXpert (``train.csv`` / ``valid.csv`` as distributed).

    Columns: ``Path`` (e.g. ``CheXpert-v1.0-small/train/patient00001/
    study1/view1_frontal.jpg``, relative to the folder that holds the
    ``CheXpert-v1.0*`` folder), ``Frontal/Lateral``, ``AP/PA`` and the 14
    labels. Paths are resolved against ``data_prefix['img_path']``
    (default ``data_root``); if that folder is the ``CheXpert-v1.0*`` folder
    itself, the leading component of ``Path`` is dropped (decided from the
    first image that exists in either form).

    Args:
        uncertainty (str | dict): Policy for -1: ``'ones'``, ``'zeros'``,
            ``'ignore'`` or ``{class: policy, 'default': policy}``.
            Defaults to ``'ones'``.
        blank (str): ``'zeros'`` (CheXpert's convention) or ``'ignore'``.
        frontal_only (bool): Keep frontal views only (``Frontal/Lateral``).
        **kwargs: See :class:`BaseCXRDataset`.
    """

    METAINFO = dict(dataset_name='chexpert', classes=CHEXPERT_CLASSES)
    DEFAULT_ANN_FILE = dict(cls='train.csv')

    def load_records(self) -> List[dict]:
        required = ('Path', ) + tuple(self.task_classes)
        if self.frontal_only:
            required += ('Frontal/Lateral', )
        records, lateral, strip = [], 0, None
        for where, row in iter_csv(self.ann_file, required):
            if self.frontal_only:
                view = row['Frontal/Lateral']
                if view not in ('Frontal', 'Lateral'):
                    raise CXRDatasetError(
                        f'{where}: Frontal/Lateral is {view!r}; expected '
                        'Frontal or Lateral')
                if view == 'Lateral':
                    lateral += 1
                    continue
            with self.record_guard():
                rel = row['Path']
                if not rel:
                    raise CXRDatasetError(f'{where}: empty Path')
                if strip is None:
                    # decided once, from the first image found in either
                    # form; rows before it (missing images) keep their
                    # path and are reported missing
                    if osp.exists(osp.join(self.img_dir, rel)):
                        strip = False
                    elif osp.exists(osp.join(self.img_dir, _drop_first(rel))):
                        strip = True
                score, mask = self._labels(row, where)
                records.append(
                    dict(
                        img_path=osp.join(self.img_dir,
                                          _drop_first(rel) if strip else rel),
                        img_id=rel,
                        gt_score=score,
                        gt_label_mask=mask))
        if self.frontal_only:
            print_log(
                f'{type(self).__name__}: left out {lateral} lateral views '
                '(frontal_only=True)',
                logger='current')
        return records


def _drop_first(rel: str) -> str:
    parts = rel.replace('\\', '/').split('/', 1)
    return parts[1] if len(parts) == 2 else rel


@DATASETS.register_module()
class MIMICCXRDataset(_CheXpertLabels):
    """MIMIC-CXR-JPG (v2): labels per study, images per DICOM id.

    ``ann_file`` is ``mimic-cxr-2.0.0-chexpert.csv(.gz)`` (``subject_id``,
    ``study_id``, 14 labels); ``meta_file`` is
    ``mimic-cxr-2.0.0-metadata.csv(.gz)`` (``dicom_id``, ``subject_id``,
    ``study_id``, ``ViewPosition``, ...). Every image of a study gets the
    study's labels. Images live at ``files/p10/p10000032/s50414267/
    <dicom_id>.jpg`` under ``data_prefix['img_path']`` (default
    ``data_root``). Without ``meta_file`` the images are found by listing
    each study folder (no view filter possible then).

    Args:
        meta_file (str, optional): Metadata CSV, relative to ``data_root``.
        split (str, optional): ``'train'``, ``'validate'`` or ``'test'``
            from ``split_file`` (the official split); None keeps all.
        split_file (str): ``mimic-cxr-2.0.0-split.csv(.gz)``.
        frontal_only (bool): Keep ``ViewPosition`` in ``frontal_views``.
        frontal_views (Sequence[str]): Defaults to ``('PA', 'AP')``.
        uncertainty, blank: As :class:`CheXpertDataset`.
    """

    METAINFO = dict(dataset_name='mimic_cxr', classes=MIMIC_CLASSES)
    DEFAULT_ANN_FILE = dict(cls='mimic-cxr-2.0.0-chexpert.csv.gz')

    def __init__(self,
                 meta_file: Optional[str] = 'mimic-cxr-2.0.0-metadata.csv.gz',
                 split: Optional[str] = None,
                 split_file: str = 'mimic-cxr-2.0.0-split.csv.gz',
                 frontal_views: Sequence[str] = ('PA', 'AP'),
                 img_suffix: str = '.jpg',
                 **kwargs) -> None:
        self.meta_file = meta_file
        self.split = split
        self.split_file = split_file
        self.frontal_views = tuple(frontal_views)
        self.img_suffix = img_suffix
        super().__init__(**kwargs)

    def _study_dir(self, subject: str, study: str) -> str:
        return osp.join(self.img_dir, 'files', f'p{subject[:2]}',
                        f'p{subject}', f's{study}')

    def load_records(self) -> List[dict]:
        labels: Dict[Tuple[str, str], Tuple] = {}
        for where, row in iter_csv(self.ann_file, ('subject_id', 'study_id') +
                                   tuple(self.task_classes)):
            key = (row['subject_id'], row['study_id'])
            if key in labels:
                raise CXRDatasetError(
                    f'{where}: study {key} listed twice (first at '
                    f'{labels[key][0]})')
            labels[key] = (where, ) + self._labels(row, where)
        if self.frontal_only and not self.meta_file:
            raise CXRDatasetError(
                'MIMICCXRDataset: frontal_only needs meta_file (the '
                'ViewPosition column)')
        images = self._images_from_meta() if self.meta_file else \
            self._images_from_folders(labels)
        allowed = self._split_ids() if self.split else None
        records, missing = [], 0
        left_out = defaultdict(int)
        for dicom_id, key, view in images:
            if allowed is not None and dicom_id not in allowed:
                left_out['other split'] += 1
                continue
            if self.frontal_only and view not in self.frontal_views:
                left_out[f'view {view or "(blank)"}'] += 1
                continue
            if key not in labels:
                missing += 1
                continue
            _, score, mask = labels[key]
            records.append(
                dict(
                    img_path=osp.join(
                        self._study_dir(*key), dicom_id + self.img_suffix),
                    img_id=dicom_id,
                    gt_score=score.copy(),
                    gt_label_mask=mask.copy()))
        if left_out:
            print_log(
                f'MIMICCXRDataset: left out {dict(left_out)}',
                logger='current')
        if missing:
            print_log(
                f'MIMICCXRDataset: {missing} images belong to studies '
                f'without labels in {self.ann_file}; left out',
                logger='current',
                level=30)
        return records

    def _images_from_meta(self) -> List[Tuple[str, Tuple[str, str], str]]:
        required = ('dicom_id', 'subject_id', 'study_id')
        if self.frontal_only:
            required += ('ViewPosition', )
        return [
            (row['dicom_id'], (row['subject_id'], row['study_id']),
             row.get('ViewPosition', ''))
            for _, row in iter_csv(self.root_path(self.meta_file), required)
        ]

    def _images_from_folders(self, labels: dict) -> List[Tuple]:
        images = []
        for key in labels:
            folder = self._study_dir(*key)
            if not osp.isdir(folder):
                if self.check_files:
                    raise FileNotFoundError(
                        f'{folder}: study folder not found (study {key} of '
                        f'{self.ann_file})')
                continue
            for name in sorted(os.listdir(folder)):
                if name.endswith(self.img_suffix):
                    images.append((name[:-len(self.img_suffix)], key, ''))
        return images

    def _split_ids(self) -> set:
        splits = ('train', 'validate', 'test')
        if self.split not in splits:
            raise CXRDatasetError(
                f'MIMICCXRDataset: split={self.split!r}; expected one of '
                f'{splits}')
        return {
            row['dicom_id']
            for _, row in iter_csv(
                self.root_path(self.split_file), ('dicom_id', 'split'))
            if row['split'] == self.split
        }
