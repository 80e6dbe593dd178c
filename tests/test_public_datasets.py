# Copyright (c) fx_mm contributors. All rights reserved.
"""Native-layout loaders of the public CXR datasets.

Every test writes a miniature copy of a dataset in the publisher's layout
(same file names, headers, separators, RLE conventions and JSON keys) and
checks the parsed targets against values worked out by hand.
"""
import gzip
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from fx_mm.datasets import CXRDatasetError
from fx_mm.datasets.public import (CHEXPERT_CLASSES, COMPETITION_CLASSES,
                                   MIMIC_CLASSES, CANDIDPTXDataset,
                                   ChestXDetDataset, CheXmaskDataset,
                                   CheXpertDataset, MIMICCXRDataset,
                                   MontgomeryDataset, NIHChestXray14Dataset,
                                   NODE21Dataset, RSNAPneumoniaDataset,
                                   ShenzhenDataset, SIIMACRDataset,
                                   TBX11KDataset, VinDrCXRDataset,
                                   VinDrRibCXRDataset, fuse_reader_boxes)
from fx_mm.datasets.public.rle import (parse_rle, row_major_rle_to_coco,
                                       runs_bbox, runs_to_coco)
from fx_mm.datasets.transforms import LoadCXRAnnotations, LoadCXRImage
from fx_mm.registry import DATASETS

# A hand-drawn 4 x 5 (H x W) mask used by the RLE tests:
HAND_MASK = np.array([[0, 1, 1, 0, 0],
                      [0, 1, 1, 0, 0],
                      [0, 0, 0, 0, 1],
                      [0, 0, 0, 0, 1]], dtype=np.uint8)  # yapf: disable
# column-major indices (col * 4 + row): 4, 5, 8, 9, 18, 19
# SIIM relative pairs (skip since the previous run's end, length):
SIIM_HAND = '4 2 2 2 8 2'
# column-major, 1-indexed absolute starts:
ABS_F_HAND = '5 2 9 2 19 2'
# row-major indices (row * 5 + col): 1, 2, 6, 7, 14, 19, 1-indexed:
CHEXMASK_HAND = '2 2 7 2 15 1 20 1'
HAND_BOX = [1, 0, 5, 4]  # xyxy, pixel edges


# ---------------------------------------------------------------------------
# file writers
def write_image(path, size=(32, 32), value=100):
    """A tiny gray PNG / JPEG (format from the suffix); size is (W, H)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new('L', size, value).save(path)


def write_dicom(path, rows=32, cols=32, photometric='MONOCHROME2'):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (ExplicitVRLittleEndian,
                             SecondaryCaptureImageStorage, generate_uid)
    os.makedirs(osp.dirname(path), exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'CR'
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    pixels = (np.arange(rows * cols) % 4096).astype('<u2')
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_text(path, text, gz=False):
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    if gz:
        with gzip.open(path, 'wt', encoding='utf-8') as f:
            f.write(text)
    else:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)


def decode(rle):
    return mask_utils.decode(rle).astype(np.uint8)


# ---------------------------------------------------------------------------
# RLE conventions
def test_siim_relative_rle_to_hand_mask_and_box():
    starts, lengths = parse_rle(SIIM_HAND, 4, 5, 'relative')
    assert starts.tolist() == [4, 8, 18] and lengths.tolist() == [2, 2, 2]
    rle = runs_to_coco(starts, lengths, 4, 5)
    assert rle['size'] == [4, 5]
    np.testing.assert_array_equal(decode(rle), HAND_MASK)
    assert runs_bbox(starts, lengths, 4, 5, 'F') == HAND_BOX
    # the same mask written with 1-indexed absolute starts
    starts2, lengths2 = parse_rle(ABS_F_HAND, 4, 5, 'absolute')
    assert starts2.tolist() == starts.tolist()


def test_chexmask_row_major_rle_to_hand_mask_and_box():
    np.testing.assert_array_equal(
        decode(row_major_rle_to_coco(CHEXMASK_HAND, 4, 5)), HAND_MASK)
    starts, lengths = parse_rle(CHEXMASK_HAND, 4, 5, 'absolute')
    assert runs_bbox(starts, lengths, 4, 5, 'C') == HAND_BOX
    assert row_major_rle_to_coco(' -1', 4, 5) is None


def test_rle_runs_crossing_a_column_and_touching_runs():
    # indices 2..5 column-major on H=4: (2,0) (3,0) (0,1) (1,1)
    starts, lengths = parse_rle('2 4', 4, 5, 'relative')
    assert runs_bbox(starts, lengths, 4, 5, 'F') == [0, 0, 2, 4]
    # a run starting right where the previous one ended is merged
    starts, lengths = parse_rle('4 2 0 2', 4, 5, 'relative')
    assert starts.tolist() == [4] and lengths.tolist() == [4]
    expected = np.zeros((4, 5), np.uint8)
    expected[:, 1] = 1
    np.testing.assert_array_equal(
        decode(runs_to_coco(starts, lengths, 4, 5)), expected)


@pytest.mark.parametrize('text, convention, message', [
    ('4 2 2', 'relative', 'odd number'),
    ('18 3', 'relative', 'runs past the end of the 4x5'),
    ('2 3 3 1', 'absolute', 'unsorted or overlap'),
    ('0 2', 'absolute', '1-indexed'),
    ('4 x', 'relative', 'not an integer'),
    ('4 0', 'relative', 'length <= 0'),
])
def test_bad_rle_strings(text, convention, message):
    with pytest.raises(CXRDatasetError, match=message):
        parse_rle(text, 4, 5, convention, where='f.csv line 7')
    with pytest.raises(CXRDatasetError, match='f.csv line 7'):
        parse_rle(text, 4, 5, convention, where='f.csv line 7')


# ---------------------------------------------------------------------------
# CheXpert
CHEXPERT_HEADER = 'Path,Sex,Age,Frontal/Lateral,AP/PA,' + ','.join(
    CHEXPERT_CLASSES)
# label order: NF EC Card LO LL Edema Cons Pneu Atel Ptx PE PO Frac SD
ROW2_LABELS = ',,-1.0,1.0,,-1.0,-1.0,,-1.0,,-1.0,,1.0,'
UNCERTAIN = [2, 5, 6, 8, 10]  # Card, Edema, Cons, Atel, PE
BLANK = [0, 1, 4, 7, 9, 11, 13]


@pytest.fixture
def chexpert_root(tmp_path):
    rows = [
        'CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,'
        'Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0',
        'CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,'
        'Female,87,Frontal,AP' + ',' + ROW2_LABELS,
        'CheXpert-v1.0-small/train/patient00002/study2/view2_lateral.jpg,'
        'Female,87,Lateral,,,,,1.0,,,,,,,,,1.0,',
    ]
    folder = tmp_path / 'CheXpert-v1.0-small'
    write_text(
        str(folder / 'train.csv'), '\n'.join([CHEXPERT_HEADER] + rows) + '\n')
    for row in rows:
        write_image(str(tmp_path / row.split(',')[0]))
    return tmp_path


def test_chexpert_uncertainty_policies(chexpert_root):
    root = str(chexpert_root / 'CheXpert-v1.0-small')
    ones = CheXpertDataset(data_root=root, uncertainty='ones')
    assert len(ones) == 3
    first = ones.get_data_info(0)
    # NF 1, Ptx 0, SD 1, blanks -> 0
    assert np.flatnonzero(first['gt_score']).tolist() == [0, 13]
    assert first['gt_label_mask'].all()
    assert first['img_id'].endswith('patient00001/study1/view1_frontal.jpg')
    assert osp.isfile(first['img_path'])  # leading folder dropped

    expect_lo_frac = [3, 12]
    info = ones.get_data_info(1)
    assert np.flatnonzero(info['gt_score']).tolist() == sorted(UNCERTAIN +
                                                               expect_lo_frac)
    assert info['gt_label_mask'].all()

    zeros = CheXpertDataset(data_root=root, uncertainty='zeros')
    info = zeros.get_data_info(1)
    assert np.flatnonzero(info['gt_score']).tolist() == expect_lo_frac
    assert info['gt_label_mask'].all()

    ignore = CheXpertDataset(data_root=root, uncertainty='ignore')
    info = ignore.get_data_info(1)
    assert np.flatnonzero(info['gt_score']).tolist() == expect_lo_frac
    assert np.flatnonzero(~info['gt_label_mask']).tolist() == UNCERTAIN

    blank = CheXpertDataset(data_root=root, blank='ignore')
    info = blank.get_data_info(1)
    assert np.flatnonzero(~info['gt_label_mask']).tolist() == BLANK
    assert np.flatnonzero(info['gt_score']).tolist() == sorted(UNCERTAIN +
                                                               expect_lo_frac)

    mixed = CheXpertDataset(
        data_root=root,
        uncertainty=dict(Atelectasis='ones', Edema='ones', default='zeros'))
    info = mixed.get_data_info(1)
    assert np.flatnonzero(info['gt_score']).tolist() == [3, 5, 8, 12]


def test_chexpert_frontal_only_and_layouts(chexpert_root):
    frontal = CheXpertDataset(
        data_root=str(chexpert_root),
        ann_file='CheXpert-v1.0-small/train.csv',
        frontal_only=True)
    assert len(frontal) == 2
    inner = CheXpertDataset(
        data_root=str(chexpert_root / 'CheXpert-v1.0-small'),
        frontal_only=True)
    assert [frontal.get_data_info(i)['img_path'] for i in range(2)
            ] == [inner.get_data_info(i)['img_path'] for i in range(2)]
    assert frontal.dataset_name == 'chexpert'
    assert set(COMPETITION_CLASSES) <= set(CHEXPERT_CLASSES)
    assert set(COMPETITION_CLASSES) <= set(MIMIC_CLASSES)
    built = DATASETS.build(
        dict(
            type='CheXpertDataset',
            data_root=str(chexpert_root / 'CheXpert-v1.0-small')))
    assert isinstance(built, CheXpertDataset) and len(built) == 3


def test_chexpert_bad_records(chexpert_root):
    root = chexpert_root / 'CheXpert-v1.0-small'
    csv_path = root / 'train.csv'
    text = csv_path.read_text()
    csv_path.write_text(
        text.replace(ROW2_LABELS, ROW2_LABELS.replace('-1.0', '2.0', 1)))
    with pytest.raises(
            CXRDatasetError,
            match=r"train.csv line 3: column 'Cardiomegaly' is "
            r"'2.0'"):
        CheXpertDataset(data_root=str(root))
    csv_path.write_text(text.replace(',Edema,', ',Oedema,'))
    with pytest.raises(CXRDatasetError, match=r"missing column.*'Edema'"):
        CheXpertDataset(data_root=str(root))
    csv_path.write_text(text)
    os.remove(root / 'train/patient00002/study2/view2_lateral.jpg')
    with pytest.raises(FileNotFoundError, match='view2_lateral.jpg'):
        CheXpertDataset(data_root=str(root))
    # the lateral view is not needed with frontal_only
    assert len(CheXpertDataset(data_root=str(root), frontal_only=True)) == 2


# ---------------------------------------------------------------------------
# MIMIC-CXR-JPG
MIMIC_DICOMS = [
    ('02aa804e-bde0afdd-112c0b34-7bc16630-4e384014', '10000032', '50414267',
     'PA'),
    ('174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962', '10000032', '50414267',
     'LATERAL'),
    ('2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab', '10000032', '53189527',
     'AP'),
    ('096052b7-d256dc40-453a102b-fa7d01c6-1b22c6b4', '10000764', '57375967',
     'AP'),
]


@pytest.fixture
def mimic_root(tmp_path):
    header = 'subject_id,study_id,' + ','.join(MIMIC_CLASSES)
    # Atel Card Cons Edema EC Frac LL LO NF PE PO Pneu Ptx SD
    rows = [
        '10000032,50414267,,,,,,,,,1.0,,,,,',
        '10000032,53189527,,,,,,,,,1.0,,,,,',
        '10000764,57375967,-1.0,,1.0,,,,,,,,,-1.0,,',
    ]
    write_text(
        str(tmp_path / 'mimic-cxr-2.0.0-chexpert.csv.gz'),
        '\n'.join([header] + rows) + '\n',
        gz=True)
    meta = [
        'dicom_id,subject_id,study_id,PerformedProcedureStepDescription,'
        'ViewPosition,Rows,Columns,StudyDate,StudyTime,'
        'ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,'
        'PatientOrientationCodeSequence_CodeMeaning'
    ]
    split = ['dicom_id,study_id,subject_id,split']
    for k, (dicom, subject, study, view) in enumerate(MIMIC_DICOMS):
        meta.append(f'{dicom},{subject},{study},CHEST (PA AND LAT),{view},'
                    '3056,2544,21800506,213014.531,CHEST (PA AND LAT),'
                    'postero-anterior,Erect')
        split.append(f'{dicom},{study},{subject},'
                     f'{"test" if k == 3 else "train"}')
        write_image(
            str(tmp_path / 'files' / f'p{subject[:2]}' / f'p{subject}' /
                f's{study}' / f'{dicom}.jpg'))
    write_text(
        str(tmp_path / 'mimic-cxr-2.0.0-metadata.csv.gz'),
        '\n'.join(meta) + '\n',
        gz=True)
    write_text(
        str(tmp_path / 'mimic-cxr-2.0.0-split.csv.gz'),
        '\n'.join(split) + '\n',
        gz=True)
    return tmp_path


def test_mimic_joins_labels_metadata_and_paths(mimic_root):
    ds = MIMICCXRDataset(data_root=str(mimic_root), uncertainty='zeros')
    assert len(ds) == 4
    infos = [ds.get_data_info(i) for i in range(4)]
    assert infos[0]['img_path'] == str(mimic_root /
                                       'files/p10/p10000032/s50414267' /
                                       (MIMIC_DICOMS[0][0] + '.jpg'))
    no_finding = MIMIC_CLASSES.index('No Finding')
    for info in infos[:3]:
        assert np.flatnonzero(info['gt_score']).tolist() == [no_finding]
    # Atelectasis -1 -> 0, Consolidation 1, Pneumonia -1 -> 0
    assert np.flatnonzero(infos[3]['gt_score']).tolist() == [
        MIMIC_CLASSES.index('Consolidation')
    ]
    ignore = MIMICCXRDataset(data_root=str(mimic_root), uncertainty='ignore')
    assert np.flatnonzero(
        ~ignore.get_data_info(3)['gt_label_mask']).tolist() == [
            MIMIC_CLASSES.index('Atelectasis'),
            MIMIC_CLASSES.index('Pneumonia')
        ]

    frontal = MIMICCXRDataset(data_root=str(mimic_root), frontal_only=True)
    assert [frontal.get_data_info(i)['img_id']
            for i in range(3)] == [MIMIC_DICOMS[i][0] for i in (0, 2, 3)]
    test = MIMICCXRDataset(data_root=str(mimic_root), split='test')
    assert len(test) == 1 and test.get_data_info(0)['img_id'] == \
        MIMIC_DICOMS[3][0]
    listed = MIMICCXRDataset(data_root=str(mimic_root), meta_file=None)
    assert sorted(listed.get_data_info(i)['img_id']
                  for i in range(4)) == sorted(d[0] for d in MIMIC_DICOMS)
    with pytest.raises(CXRDatasetError, match='needs meta_file'):
        MIMICCXRDataset(
            data_root=str(mimic_root), meta_file=None, frontal_only=True)


# ---------------------------------------------------------------------------
# NIH ChestX-ray14
NIH_HEADER = ('Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,'
              'Patient Gender,View Position,OriginalImage[Width,Height],'
              'OriginalImagePixelSpacing[x,y],')
NIH_ROWS = [
    ('00000001_000.png', 'Cardiomegaly'),
    ('00000001_001.png', 'Cardiomegaly|Emphysema'),
    ('00000003_000.png', 'Hernia'),
    ('00000013_005.png', 'No Finding'),
    ('00000013_006.png', 'Effusion|Infiltration|Pleural_Thickening'),
]
BBOX_HEADER = 'Image Index,Finding Label,Bbox [x,y,w,h],,,'


@pytest.fixture
def nih_root(tmp_path):
    lines = [NIH_HEADER] + [
        f'{name},{labels},0,1,58,M,PA,2682,2749,0.143,0.143,'
        for name, labels in NIH_ROWS
    ]
    write_text(str(tmp_path / 'Data_Entry_2017.csv'), '\n'.join(lines) + '\n')
    for k, (name, _) in enumerate(NIH_ROWS):
        folder = 'images_001' if k < 2 else 'images_002'
        write_image(str(tmp_path / folder / 'images' / name))
    write_text(
        str(tmp_path / 'train_val_list.txt'),
        '00000001_000.png\n00000001_001.png\n00000013_005.png\n')
    write_text(
        str(tmp_path / 'test_list.txt'),
        '00000003_000.png\n00000013_006.png\n')
    write_text(
        str(tmp_path / 'BBox_List_2017.csv'), '\n'.join([
            BBOX_HEADER,
            '00000003_000.png,Atelectasis,225.084745762712,547.019216763771,'
            '86.7796610169491,79.1864406779661,,,',
            '00000013_006.png,Infiltrate,10,20,30,40,,,',
            '00000013_006.png,Effusion,1.5,2.5,3,4,,,',
        ]) + '\n')
    return tmp_path


def test_nih_labels_split_and_image_folders(nih_root):
    ds = NIHChestXray14Dataset(data_root=str(nih_root))
    classes = ds.task_classes
    assert len(ds) == 5 and len(classes) == 14
    scores = {
        ds.get_data_info(i)['img_id']: ds.get_data_info(i)['gt_score']
        for i in range(5)
    }
    assert np.flatnonzero(scores['00000001_001.png']).tolist() == [
        classes.index('Cardiomegaly'),
        classes.index('Emphysema')
    ]
    assert not scores['00000013_005.png'].any()  # No Finding
    assert np.flatnonzero(scores['00000013_006.png']).tolist() == [
        classes.index('Effusion'),
        classes.index('Infiltration'),
        classes.index('Pleural_Thickening')
    ]
    assert ds.get_data_info(4)['img_path'] == str(
        nih_root / 'images_002/images/00000013_006.png')
    test = NIHChestXray14Dataset(
        data_root=str(nih_root), split_file='test_list.txt')
    assert [test.get_data_info(i)['img_id']
            for i in range(2)] == ['00000003_000.png', '00000013_006.png']


def test_nih_boxes_xywh_to_xyxy(nih_root):
    ds = NIHChestXray14Dataset(task='loc', data_root=str(nih_root))
    assert len(ds) == 2
    first = ds.get_data_info(0)['instances']
    assert first[0]['bbox_label'] == 0  # Atelectasis
    np.testing.assert_allclose(first[0]['bbox'], [
        225.084745762712, 547.019216763771, 311.864406779661, 626.205657742737
    ])
    second = ds.get_data_info(1)['instances']
    assert [i['bbox'] for i in second] == [[10, 20, 40, 60],
                                           [1.5, 2.5, 4.5, 6.5]]
    assert [i['bbox_label'] for i in second] == [3, 2]  # Infiltrate, Effusion


def test_nih_bad_records(nih_root):
    bbox = nih_root / 'BBox_List_2017.csv'
    bbox.write_text(bbox.read_text().replace('Infiltrate,', 'Infiltration,'))
    with pytest.raises(
            CXRDatasetError,
            match="BBox_List_2017.csv line 3: unknown class name "
            "'Infiltration'"):
        NIHChestXray14Dataset(task='loc', data_root=str(nih_root))
    bbox.write_text(BBOX_HEADER + '\n00000013_006.png,Mass,10,20,-5,40,,,\n')
    with pytest.raises(CXRDatasetError, match='line 2.*non-positive width'):
        NIHChestXray14Dataset(task='loc', data_root=str(nih_root))
    entry = nih_root / 'Data_Entry_2017.csv'
    entry.write_text(entry.read_text().replace('No Finding',
                                               'No Finding|Mass'))
    with pytest.raises(CXRDatasetError, match='line 5.*mixes No Finding'):
        NIHChestXray14Dataset(data_root=str(nih_root))
    entry.write_text(entry.read_text().replace('No Finding|Mass', 'Flu'))
    with pytest.raises(CXRDatasetError, match="line 5: unknown class.*'Flu'"):
        NIHChestXray14Dataset(data_root=str(nih_root))
    entry.write_text(entry.read_text().replace('Flu', 'No Finding'))
    os.remove(nih_root / 'images_002/images/00000003_000.png')
    with pytest.raises(FileNotFoundError, match='00000003_000.png'):
        NIHChestXray14Dataset(data_root=str(nih_root))


# ---------------------------------------------------------------------------
# VinDr-CXR
VINDR_HEADER = 'image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max'
VINDR_ROWS = [
    'aaa,Cardiomegaly,3,R8,100,200,300,400',
    'aaa,Cardiomegaly,3,R9,110,210,310,410',
    'aaa,Cardiomegaly,3,R10,500,500,600,600',
    'aaa,Nodule/Mass,8,R8,10,10,20,20',
    'bbb,No finding,14,R8,,,,',
    'bbb,No finding,14,R9,,,,',
    'bbb,No finding,14,R10,,,,',
    'ccc,Aortic enlargement,0,R1,50,50,60,60',
    'ccc,Aortic enlargement,0,R2,51,51,61,61',
    'ccc,Aortic enlargement,0,R3,50,50,60,60',
    'ccc,Pleural effusion,10,R3,0,0,5,5',
]
VINDR_LABELS = [
    'image_id,rad_ID,Aortic enlargement,Atelectasis,COPD,Lung tumor,'
    'Pneumonia,Tuberculosis,Other diseases,No finding',
    'aaa,R8,0,0,1,0,1,0,0,0',
    'aaa,R9,0,0,1,0,0,0,0,0',
    'aaa,R10,0,0,0,0,0,0,1,0',
    'bbb,R8,0,0,0,0,0,0,0,1',
    'bbb,R9,0,0,0,0,0,0,0,1',
    'bbb,R10,0,0,0,0,0,0,0,1',
    'ccc,R1,1,0,0,0,0,1,0,0',
    'ccc,R2,0,0,0,0,0,1,0,0',
    'ccc,R3,0,0,0,0,0,0,0,1',
]


@pytest.fixture
def vindr_root(tmp_path):
    write_text(
        str(tmp_path / 'train.csv'), '\n'.join([VINDR_HEADER] + VINDR_ROWS))
    write_text(
        str(tmp_path / 'image_labels_train.csv'),
        '\n'.join(VINDR_LABELS) + '\n')
    for image_id in ('aaa', 'bbb', 'ccc'):
        write_dicom(str(tmp_path / 'train' / f'{image_id}.dicom'), 8, 8)
    return tmp_path


def _boxes(ds, idx):
    info = ds.get_data_info(idx)
    return [(i['bbox_label'], np.round(i['bbox'], 4).tolist())
            for i in info['instances']]


def test_vindr_box_fusion(vindr_root):
    third = 50 + 1 / 3
    all_boxes = VinDrCXRDataset(task='loc', data_root=str(vindr_root))
    assert len(all_boxes) == 3
    assert _boxes(all_boxes, 0) == [(3, [100, 200, 300, 400]),
                                    (3, [110, 210, 310, 410]),
                                    (3, [500, 500, 600, 600]),
                                    (8, [10, 10, 20, 20])]
    assert _boxes(all_boxes, 1) == []  # No finding
    assert len(_boxes(all_boxes, 2)) == 4
    assert all_boxes.get_data_info(0)['img_path'] == str(vindr_root / 'train' /
                                                         'aaa.dicom')

    majority = VinDrCXRDataset(
        task='loc', data_root=str(vindr_root), box_fusion='majority')
    assert _boxes(majority, 0) == [(3, [105, 205, 305, 405])]
    assert _boxes(majority, 1) == []
    assert _boxes(majority,
                  2) == [(0, np.round([third, third, third + 10, third + 10],
                                      4).tolist())]
    wbf = VinDrCXRDataset(
        task='loc', data_root=str(vindr_root), box_fusion='wbf')
    assert _boxes(wbf, 0) == [(3, [105, 205, 305, 405]),
                              (3, [500, 500, 600, 600]), (8, [10, 10, 20, 20])]
    assert _boxes(wbf,
                  2) == [(0, np.round([third, third, third + 10, third + 10],
                                      4).tolist()), (10, [0, 0, 5, 5])]


def test_fuse_reader_boxes_same_reader_never_clusters():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 11, 11.]])
    fused = fuse_reader_boxes(boxes, ['R1', 'R1', 'R2'], 'majority')
    # R1's two boxes stay apart; R2 joins the first cluster
    np.testing.assert_allclose(fused, [[0.5, 0.5, 10.5, 10.5]])
    assert len(fuse_reader_boxes(boxes, ['R1', 'R1', 'R2'], 'wbf')) == 2


def test_vindr_global_labels_majority(vindr_root):
    ds = VinDrCXRDataset(data_root=str(vindr_root))
    assert ds.task_classes == ('COPD', 'Lung tumor', 'Pneumonia',
                               'Tuberculosis', 'Other diseases', 'No finding')
    scores = [ds.get_data_info(i)['gt_score'].tolist() for i in range(3)]
    assert scores == [[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1],
                      [0, 0, 0, 1, 0, 0]]


@pytest.mark.parametrize('row, message', [
    ('bbb,No finding,14,R8,1,1,2,2', 'No finding" row with a box'),
    ('aaa,Cardiomegaly,5,R8,100,200,300,400', 'class_id .5. does not match'),
    ('aaa,Cardiomegaly,3,R8,300,200,100,400', r'x_max <= x_min'),
    ('aaa,Flu,3,R8,100,200,300,400', "unknown class name 'Flu'"),
    ('aaa,Cardiomegaly,3,R8,100,,300,400', 'without a complete box'),
])
def test_vindr_bad_rows(vindr_root, row, message):
    write_text(
        str(vindr_root / 'train.csv'),
        '\n'.join([VINDR_HEADER, VINDR_ROWS[0], row]))
    with pytest.raises(
            CXRDatasetError, match='train.csv line 3: .*' + message):
        VinDrCXRDataset(task='loc', data_root=str(vindr_root))


def test_vindr_bad_label_value(vindr_root):
    write_text(
        str(vindr_root / 'image_labels_train.csv'),
        '\n'.join(VINDR_LABELS[:2] + ['aaa,R9,0,0,2,0,0,0,0,0']))
    with pytest.raises(
            CXRDatasetError,
            match="line 3: column 'COPD' is '2'; expected 0 or 1"):
        VinDrCXRDataset(data_root=str(vindr_root))


# ---------------------------------------------------------------------------
# Shenzhen / Montgomery
def test_shenzhen_labels_from_suffix(tmp_path):
    for name in ('CHNCXR_0001_0.png', 'CHNCXR_0002_1.png',
                 'CHNCXR_0003_1.png'):
        write_image(str(tmp_path / 'CXR_png' / name))
    ds = ShenzhenDataset(data_root=str(tmp_path))
    assert [ds.get_data_info(i)['gt_score'].tolist()
            for i in range(3)] == [[0], [1], [1]]
    assert ds.get_data_info(1)['img_id'] == 'CHNCXR_0002_1'
    write_text(str(tmp_path / 'test.txt'), 'CHNCXR_0003_1.png\n')
    assert len(ShenzhenDataset(data_root=str(tmp_path),
                               ann_file='test.txt')) == 1
    write_image(str(tmp_path / 'CXR_png' / 'CHNCXR_0004.png'))
    with pytest.raises(
            CXRDatasetError, match='CHNCXR_0004.png: file name does not end'):
        ShenzhenDataset(data_root=str(tmp_path))


@pytest.fixture
def montgomery_root(tmp_path):
    left = np.zeros((8, 10), np.uint8)
    left[1:7, 6:9] = 255
    right = np.zeros((8, 10), np.uint8)
    right[1:7, 1:4] = 255
    for name in ('MCUCXR_0001_0.png', 'MCUCXR_0002_1.png'):
        write_image(str(tmp_path / 'CXR_png' / name), size=(10, 8))
        for side, mask in (('leftMask', left), ('rightMask', right)):
            os.makedirs(tmp_path / 'ManualMask' / side, exist_ok=True)
            Image.fromarray(mask).save(tmp_path / 'ManualMask' / side / name)
    return tmp_path, ((left | right) > 0).astype(np.uint8)


def test_montgomery_cls_and_lung_masks(montgomery_root):
    root, union = montgomery_root
    cls = MontgomeryDataset(data_root=str(root))
    assert [cls.get_data_info(i)['gt_score'].tolist()
            for i in range(2)] == [[0], [1]]
    merged = MontgomeryDataset(task='seg', data_root=str(root))
    assert merged.task_classes == ('lungs', )
    info = merged.get_data_info(0)
    assert len(info['seg_rles']) == 1
    np.testing.assert_array_equal(decode(info['seg_rles'][0]), union)
    # through the lead's loading transforms
    results = LoadCXRAnnotations()(LoadCXRImage()(info))
    assert results['gt_seg_map'].shape == (8, 10, 1)
    np.testing.assert_array_equal(results['gt_seg_map'][..., 0], union)

    split = MontgomeryDataset(
        task='seg', data_root=str(root), merge_lungs=False)
    assert split.task_classes == ('left_lung', 'right_lung')
    paths = split.get_data_info(1)['seg_map_paths']
    assert paths == [
        str(root / 'ManualMask' / side / 'MCUCXR_0002_1.png')
        for side in ('leftMask', 'rightMask')
    ]
    os.remove(root / 'ManualMask/rightMask/MCUCXR_0002_1.png')
    with pytest.raises(FileNotFoundError, match='rightMask/MCUCXR_0002_1'):
        MontgomeryDataset(task='seg', data_root=str(root))


# ---------------------------------------------------------------------------
# TBX11K
def _tbx_json(anns):
    categories = [
        dict(id=1, name='ActiveTuberculosis', supercategory='Tuberculosis'),
        dict(
            id=2,
            name='ObsoletePulmonaryTuberculosis',
            supercategory='Tuberculosis'),
        dict(id=3, name='PulmonaryTuberculosis', supercategory='Tuberculosis')
    ]
    images = [
        dict(id=i, file_name=name, width=32, height=32)
        for i, name in enumerate([
            'tb/tb0001.png', 'health/h0001.png', 'sick/s0001.png',
            'tb/tb0002.png'
        ], 1)
    ]
    return dict(categories=categories, images=images, annotations=anns)


TBX_ANNS = [
    dict(id=1, image_id=1, category_id=1, iscrowd=0, bbox=[1.5, 2, 10, 5]),
    dict(id=2, image_id=1, category_id=2, iscrowd=0, bbox=[20, 20, 4, 6]),
]


@pytest.fixture
def tbx_root(tmp_path):
    write_text(
        str(tmp_path / 'annotations/json/TBX11K_train.json'),
        json.dumps(_tbx_json(TBX_ANNS)))
    for name in ('tb/tb0001.png', 'health/h0001.png', 'sick/s0001.png',
                 'tb/tb0002.png'):
        write_image(str(tmp_path / 'imgs' / name))
    return tmp_path


def test_tbx11k_coco(tbx_root):
    loc = TBX11KDataset(task='loc', data_root=str(tbx_root))
    assert len(loc) == 4
    first = loc.get_data_info(0)
    assert [i['bbox'] for i in first['instances']] == [[1.5, 2, 11.5, 7],
                                                       [20, 20, 24, 26]]
    assert [i['bbox_label'] for i in first['instances']] == [0, 1]
    assert first['img_size'] == (32, 32)
    assert first['img_path'] == str(tbx_root / 'imgs/tb/tb0001.png')
    assert all(not loc.get_data_info(i)['instances'] for i in (1, 2, 3))
    cls = TBX11KDataset(data_root=str(tbx_root))
    # box -> 1; healthy, sick (non-TB) -> 0; tb folder without box -> 1
    assert [cls.get_data_info(i)['gt_score'].tolist()
            for i in range(4)] == [[1], [0], [0], [1]]
    merged = TBX11KDataset(
        task='loc', data_root=str(tbx_root), merge_box_classes=True)
    assert merged.task_classes == ('tuberculosis', )
    assert [i['bbox_label']
            for i in merged.get_data_info(0)['instances']] == [0, 0]


def test_tbx11k_bad_annotations(tbx_root):
    path = str(tbx_root / 'annotations/json/TBX11K_train.json')
    bad = _tbx_json(TBX_ANNS[:1] + [dict(TBX_ANNS[1], bbox=[20, 20, 0, 6])])
    write_text(path, json.dumps(bad))
    with pytest.raises(CXRDatasetError, match='annotation id 2: box'):
        TBX11KDataset(task='loc', data_root=str(tbx_root))
    bad = _tbx_json(TBX_ANNS)
    bad['categories'][2]['name'] = 'LatentTB'
    write_text(path, json.dumps(bad))
    with pytest.raises(CXRDatasetError, match="unknown category name"):
        TBX11KDataset(task='loc', data_root=str(tbx_root))


# ---------------------------------------------------------------------------
# NODE21
def _write_mha(path):
    import SimpleITK as sitk
    os.makedirs(osp.dirname(path), exist_ok=True)
    sitk.WriteImage(
        sitk.GetImageFromArray(np.full((32, 32), 300, np.int16)), path)


def test_node21_metadata(tmp_path):
    write_text(
        str(tmp_path / 'metadata.csv'), 'img_name,x,y,width,height,label\n'
        'n0001.mha,10,12,5,6,1\n'
        'n0001.mha,20,22,4,4,1\n'
        'c0001.mha,0,0,0,0,0\n'
        'c0002.mha,,,,,0\n')
    for name in ('n0001', 'c0001', 'c0002'):
        _write_mha(str(tmp_path / 'images' / f'{name}.mha'))
    loc = NODE21Dataset(task='loc', data_root=str(tmp_path))
    assert [i['bbox']
            for i in loc.get_data_info(0)['instances']] == [[10, 12, 15, 18],
                                                            [20, 22, 24, 26]]
    assert loc.get_data_info(1)['instances'] == []
    cls = NODE21Dataset(data_root=str(tmp_path))
    assert [cls.get_data_info(i)['gt_score'].tolist()
            for i in range(3)] == [[1], [0], [0]]
    image = LoadCXRImage(to_rgb=False)(loc.get_data_info(0))['img']
    assert image.shape == (32, 32)
    write_text(
        str(tmp_path / 'metadata.csv'), 'img_name,x,y,width,height,label\n'
        'n0001.mha,10,12,5,6,1\nn0001.mha,0,0,0,0,0\n')
    with pytest.raises(CXRDatasetError, match='line 3: .*label 0 and label 1'):
        NODE21Dataset(data_root=str(tmp_path))
    write_text(
        str(tmp_path / 'metadata.csv'), 'img_name,x,y,width,height,label\n'
        'c0001.mha,3,3,2,2,0\n')
    with pytest.raises(CXRDatasetError, match='line 2: label 0 .* with a box'):
        NODE21Dataset(data_root=str(tmp_path))


# ---------------------------------------------------------------------------
# RSNA Pneumonia
RSNA_IDS = ('0004cfab-14fd-4e49-80ba-63a80b6bddd6',
            '00436515-870c-4b36-a041-de91049b9ab4',
            '003d8fa0-6bf1-40ed-b54c-ac657f8495c5')


@pytest.fixture
def rsna_root(tmp_path):
    a, b, c = RSNA_IDS
    write_text(
        str(tmp_path / 'stage_2_train_labels.csv'),
        'patientId,x,y,width,height,Target\n'
        f'{a},,,,,0\n{b},264.0,152.0,213.0,379.0,1\n'
        f'{b},562.0,152.0,256.0,453.0,1\n{c},,,,,0\n')
    write_text(
        str(tmp_path / 'stage_2_detailed_class_info.csv'), 'patientId,class\n'
        f'{a},No Lung Opacity / Not Normal\n{b},Lung Opacity\n'
        f'{b},Lung Opacity\n{c},Normal\n')
    for pid in RSNA_IDS:
        write_dicom(
            str(tmp_path / 'stage_2_train_images' / f'{pid}.dcm'), 8, 8)
    return tmp_path


def test_rsna_one_hot_and_boxes(rsna_root):
    cls = RSNAPneumoniaDataset(data_root=str(rsna_root))
    assert [cls.get_data_info(i)['gt_score'].tolist()
            for i in range(3)] == [[0, 1, 0], [1, 0, 0], [0, 0, 1]]
    loc = RSNAPneumoniaDataset(task='loc', data_root=str(rsna_root))
    assert [i['bbox'] for i in loc.get_data_info(1)['instances']
            ] == [[264, 152, 477, 531], [562, 152, 818, 605]]
    assert loc.get_data_info(0)['instances'] == []
    assert loc.get_data_info(1)['img_path'].endswith(
        f'stage_2_train_images/{RSNA_IDS[1]}.dcm')


def test_rsna_inconsistent_files(rsna_root):
    info = rsna_root / 'stage_2_detailed_class_info.csv'
    info.write_text(info.read_text().replace(f'{RSNA_IDS[2]},Normal',
                                             f'{RSNA_IDS[2]},Pneumonia'))
    with pytest.raises(
            CXRDatasetError,
            match="class_info.csv line 5: unknown class name"):
        RSNAPneumoniaDataset(data_root=str(rsna_root))
    info.write_text(info.read_text().replace(f'{RSNA_IDS[2]},Pneumonia',
                                             f'{RSNA_IDS[2]},Lung Opacity'))
    with pytest.raises(
            CXRDatasetError, match='labels.csv line 5: Target 0 disagrees'):
        RSNAPneumoniaDataset(data_root=str(rsna_root))


# ---------------------------------------------------------------------------
# ChestX-Det
CHESTX_DET = [
    dict(file_name='36199.png', syms=[], boxes=[], polygons=[]),
    dict(
        file_name='36302.png',
        syms=['Effusion', 'Nodule', 'Effusion'],
        boxes=[[2, 3, 12, 9], [20, 20, 25, 26], [0, 0, 4, 4]],
        polygons=[[[2, 3], [12, 3], [12, 9], [2, 9]],
                  [[20, 20], [25, 20], [25, 26], [20, 26]],
                  [[0, 0], [4, 0], [4, 4], [0, 4]]]),
]


@pytest.fixture
def chestx_det_root(tmp_path):
    write_text(str(tmp_path / 'ChestX_Det_train.json'), json.dumps(CHESTX_DET))
    for entry in CHESTX_DET:
        write_image(str(tmp_path / 'train' / entry['file_name']))
    return tmp_path


def test_chestx_det_cls_loc(chestx_det_root):
    cls = ChestXDetDataset(data_root=str(chestx_det_root))
    classes = cls.task_classes
    assert len(classes) == 13
    assert not cls.get_data_info(0)['gt_score'].any()
    assert np.flatnonzero(cls.get_data_info(1)['gt_score']).tolist() == [
        classes.index('Effusion'),
        classes.index('Nodule')
    ]
    loc = ChestXDetDataset(task='loc', data_root=str(chestx_det_root))
    instances = loc.get_data_info(1)['instances']
    assert [i['bbox'] for i in instances] == CHESTX_DET[1]['boxes']
    assert [i['bbox_label'] for i in instances] == [5, 10, 5]


def test_chestx_det_polygons_rasterised_lazily(chestx_det_root):
    ds = ChestXDetDataset(
        task='seg', data_root=str(chestx_det_root), serialize_data=False)
    stored = ds.data_list[1]
    assert 'seg_rles' not in stored  # the data list keeps polygons only
    assert stored['seg_sources'][5]['polygons'][0] == [
        2., 3., 12., 3., 12., 9., 2., 9.
    ]
    info = ds.get_data_info(1)
    rles = info['seg_rles']
    assert len(rles) == 13
    assert [k for k, r in enumerate(rles) if r is not None] == [5, 10]
    assert rles[5]['size'] == [32, 32]  # from the PNG header
    assert isinstance(rles[5]['counts'], bytes)  # compact RLE
    # union of a 10 x 6 and a 4 x 4 rectangle; a 5 x 6 rectangle
    assert mask_utils.area(rles[5]) == pytest.approx(76, rel=0.15)
    assert mask_utils.area(rles[10]) == pytest.approx(30, rel=0.15)
    mask = decode(rles[5])
    assert mask[5, 5] == 1 and mask[2, 2] == 1 and mask[20, 20] == 0
    assert ds.get_data_info(0)['seg_rles'] == [None] * 13
    results = LoadCXRAnnotations()(LoadCXRImage()(info))
    assert results['gt_seg_map'].shape == (32, 32, 13)
    assert results['gt_seg_map'][..., 10].sum() == mask_utils.area(rles[10])


@pytest.mark.parametrize('change, message', [
    (dict(polygons=[[[2, 3], [12, 3]], [[20, 20], [25, 20], [25, 26]],
                    [[0, 0], [4, 0], [4, 4]]]),
     r'entry 1 \(36302.png\) polygon 0: polygon with 2 point'),
    (dict(boxes=[[12, 3, 2, 9], [20, 20, 25, 26], [0, 0, 4, 4]]),
     r'entry 1 \(36302.png\) box 0: box .* x_max <= x_min'),
    (dict(syms=['Effusion', 'Flu', 'Effusion']),
     r"entry 1 \(36302.png\): unknown class name 'Flu'"),
    (dict(boxes=[[2, 3, 12, 9]]), '3 syms, 1 boxes'),
])
def test_chestx_det_bad_entries(chestx_det_root, change, message):
    entries = [CHESTX_DET[0], dict(CHESTX_DET[1], **change)]
    write_text(
        str(chestx_det_root / 'ChestX_Det_train.json'), json.dumps(entries))
    task = 'seg' if 'polygons' in change else 'loc'
    with pytest.raises(CXRDatasetError, match=message):
        ChestXDetDataset(task=task, data_root=str(chestx_det_root))


# ---------------------------------------------------------------------------
# SIIM-ACR and CANDID-PTX
SIIM_NEG = '1.2.276.0.7230010.3.1.4.8323329.5597.1517875188.959090'
SIIM_POS = '1.2.276.0.7230010.3.1.4.8323329.12743.1517875241.599591'
# the second mask row of SIIM_POS: pixel (row 3, col 0) = index 3
UNION_MASK = HAND_MASK.copy()
UNION_MASK[3, 0] = 1


@pytest.fixture
def siim_root(tmp_path):
    write_text(
        str(tmp_path / 'train-rle.csv'), 'ImageId, EncodedPixels\n'
        f'{SIIM_NEG}, -1\n'
        f'{SIIM_POS}, {SIIM_HAND}\n'
        f'{SIIM_POS}, 3 1\n')
    for k, uid in enumerate((SIIM_NEG, SIIM_POS)):
        write_dicom(
            str(tmp_path / 'dicom-images-train' / f'1.2.{k}' / f'1.2.{k}.1' /
                f'{uid}.dcm'),
            rows=4,
            cols=5)
    return tmp_path


def test_siim_cls_loc_seg(siim_root):
    kw = dict(data_root=str(siim_root), mask_size=(4, 5))
    cls = SIIMACRDataset(**kw)
    assert [cls.get_data_info(i)['gt_score'].tolist()
            for i in range(2)] == [[0], [1]]
    assert cls.get_data_info(1)['img_path'].endswith(
        f'1.2.1/1.2.1.1/{SIIM_POS}.dcm')
    loc = SIIMACRDataset(task='loc', **kw)
    assert loc.get_data_info(0)['instances'] == []
    assert [i['bbox'] for i in loc.get_data_info(1)['instances']
            ] == [HAND_BOX, [0, 3, 1, 4]]
    seg = SIIMACRDataset(task='seg', **kw)
    assert seg.get_data_info(0)['seg_rles'] == [None]
    info = seg.get_data_info(1)
    np.testing.assert_array_equal(decode(info['seg_rles'][0]), UNION_MASK)
    results = LoadCXRAnnotations()(LoadCXRImage()(info))
    np.testing.assert_array_equal(results['gt_seg_map'][..., 0], UNION_MASK)
    results = LoadCXRAnnotations()(LoadCXRImage()(loc.get_data_info(1)))
    np.testing.assert_array_equal(results['gt_bboxes'].numpy(),
                                  [HAND_BOX, [0, 3, 1, 4]])


def test_siim_default_1024_grid(siim_root):
    write_text(
        str(siim_root / 'train-rle.csv'),
        f'ImageId, EncodedPixels\n{SIIM_POS}, 1 2\n')
    loc = SIIMACRDataset(task='loc', data_root=str(siim_root))
    # pixels 1 and 2 of column 0 (column-major on 1024 x 1024)
    assert loc.get_data_info(0)['instances'][0]['bbox'] == [0, 1, 1, 3]
    seg = SIIMACRDataset(task='seg', data_root=str(siim_root))
    rle = seg.get_data_info(0)['seg_rles'][0]
    assert rle['size'] == [1024, 1024]
    assert mask_utils.toBbox(rle).tolist() == [0, 1, 1, 2]  # x, y, w, h


@pytest.mark.parametrize('rows, error, message', [
    (f'{SIIM_POS}, -1\n{SIIM_POS}, 3 1\n', CXRDatasetError,
     'line 2: image .* has both -1'),
    (f'{SIIM_POS}, 18 3\n', CXRDatasetError,
     r'line 2 \(EncodedPixels\): RLE runs past the end of the 4x5'),
    (f'{SIIM_POS}, 3 1\n1.2.3.4, -1\n', FileNotFoundError,
     '1.2.3.4: image not found'),
])
def test_siim_bad_rows(siim_root, rows, error, message):
    write_text(
        str(siim_root / 'train-rle.csv'), 'ImageId, EncodedPixels\n' + rows)
    with pytest.raises(error, match=message):
        SIIMACRDataset(data_root=str(siim_root), mask_size=(4, 5))


def test_candid_ptx(tmp_path):
    write_text(
        str(tmp_path / 'Pneumothorax_reports.csv'),
        'SOPInstanceUID,EncodedPixels\n'
        f'1.2.3.4,-1\n1.2.3.5,{SIIM_HAND}\n')
    write_dicom(str(tmp_path / 'images' / 'a' / '1.2.3.4.dcm'), 4, 5)
    write_image(str(tmp_path / 'images' / '1.2.3.5.jpg'), size=(5, 4))
    kw = dict(data_root=str(tmp_path), mask_size=(4, 5))
    cls = CANDIDPTXDataset(**kw)
    assert [cls.get_data_info(i)['gt_score'].tolist()
            for i in range(2)] == [[0], [1]]
    assert cls.get_data_info(1)['img_path'] == str(tmp_path / 'images' /
                                                   '1.2.3.5.jpg')
    seg = CANDIDPTXDataset(task='seg', **kw)
    np.testing.assert_array_equal(
        decode(seg.get_data_info(1)['seg_rles'][0]), HAND_MASK)
    write_text(
        str(tmp_path / 'Pneumothorax_reports.csv'),
        'SOPInstanceUID,EncodedPixels\n'
        f'1.2.3.4,-1\n1.2.3.5,{ABS_F_HAND}\n')
    absolute = CANDIDPTXDataset(task='loc', rle_convention='absolute', **kw)
    assert absolute.get_data_info(1)['instances'][0]['bbox'] == HAND_BOX


# ---------------------------------------------------------------------------
# CheXmask
CHEXMASK_HEADER = ('image_id,Dice RCA (Mean),Dice RCA (Max),Landmarks,'
                   'Left Lung,Right Lung,Heart,Height,Width')


@pytest.fixture
def chexmask_root(tmp_path):
    write_text(
        str(tmp_path / 'VinDr-CXR.csv'), CHEXMASK_HEADER + '\n'
        f'aaa,0.85,0.9,"[[1, 2], [3, 4]]",{CHEXMASK_HAND},1 1,,4,5\n'
        'bbb,0.6,0.7,"[[0, 0]]",1 1,2 1,3 2,4,5\n')
    write_dicom(str(tmp_path / 'train' / 'aaa.dicom'), 4, 5)
    write_dicom(str(tmp_path / 'test' / 'bbb.dicom'), 4, 5)
    return tmp_path


def test_chexmask_organ_boxes_and_masks(chexmask_root):
    loc = CheXmaskDataset(task='loc', data_root=str(chexmask_root))
    assert loc.task_classes == ('Left Lung', 'Right Lung', 'Heart')
    assert [(i['bbox_label'], i['bbox'])
            for i in loc.get_data_info(0)['instances']] == [(0, HAND_BOX),
                                                            (1, [0, 0, 1, 1])]
    assert [(i['bbox_label'], i['bbox'])
            for i in loc.get_data_info(1)['instances']] == [(0, [0, 0, 1, 1]),
                                                            (1, [1, 0, 2, 1]),
                                                            (2, [2, 0, 4, 1])]
    assert loc.get_data_info(1)['img_path'] == str(chexmask_root / 'test' /
                                                   'bbb.dicom')
    assert loc.get_data_info(0)['img_size'] == (5, 4)
    seg = CheXmaskDataset(
        task='seg', data_root=str(chexmask_root), min_dice_rca=0.7)
    assert len(seg) == 1
    info = seg.get_data_info(0)
    left, right, heart = info['seg_rles']
    np.testing.assert_array_equal(decode(left), HAND_MASK)
    expected = np.zeros((4, 5), np.uint8)
    expected[0, 0] = 1
    np.testing.assert_array_equal(decode(right), expected)
    assert heart is None
    results = LoadCXRAnnotations()(LoadCXRImage()(info))
    assert results['gt_seg_map'].shape == (4, 5, 3)


def test_chexmask_bad_rows(chexmask_root):
    path = str(chexmask_root / 'VinDr-CXR.csv')
    write_text(path, CHEXMASK_HEADER + '\naaa,0.85,0.9,[],20 2,,,4,5\n')
    with pytest.raises(
            CXRDatasetError,
            match=r'line 2 \(Left Lung\): RLE runs past the end'):
        CheXmaskDataset(task='seg', data_root=str(chexmask_root))
    write_text(path, CHEXMASK_HEADER + '\naaa,0.85,0.9,[],1 1,,,4.5,5\n')
    with pytest.raises(CXRDatasetError, match="'Height' is '4.5'"):
        CheXmaskDataset(task='loc', data_root=str(chexmask_root))
    write_text(path, 'image_id,Left Lung,Height,Width\naaa,1 1,4,5\n')
    with pytest.raises(CXRDatasetError, match=r"missing column.*'Heart'"):
        CheXmaskDataset(task='loc', data_root=str(chexmask_root))


# ---------------------------------------------------------------------------
# VinDr-RibCXR
def _rib_table(first_r1):
    table = {
        'img': {
            '0': 'data/train/img/VinDr_RibCXR_train_000.png',
            '1': 'data/train/img/VinDr_RibCXR_train_001.png'
        }
    }
    for rib in [f'R{i}'
                for i in range(1, 11)] + [f'L{i}' for i in range(1, 11)]:
        table[rib] = {'0': 'None', '1': 'None'}
    table['R1']['0'] = first_r1
    table['L10']['1'] = [dict(x=0, y=0), dict(x=4, y=0), dict(x=4, y=4)]
    return table


RECT = [dict(x=2, y=3), dict(x=12, y=3), dict(x=12, y=9), dict(x=2, y=9)]


def test_vindr_ribcxr_polygons(tmp_path):
    write_text(
        str(tmp_path / 'Vindr_RibCXR_train_mask.json'),
        json.dumps(_rib_table(RECT)))
    for k in range(2):
        write_image(
            str(tmp_path / 'data/train/img' / f'VinDr_RibCXR_train_00{k}.png'))
    ds = VinDrRibCXRDataset(task='seg', data_root=str(tmp_path))
    assert len(ds.task_classes) == 20
    assert ds.task_classes[0] == 'R1' and ds.task_classes[-1] == 'L10'
    first = ds.get_data_info(0)
    assert first['img_id'] == 'VinDr_RibCXR_train_000'
    assert [k for k, r in enumerate(first['seg_rles']) if r] == [0]
    assert mask_utils.area(first['seg_rles'][0]) == pytest.approx(60, rel=0.15)
    second = ds.get_data_info(1)['seg_rles']
    assert [k for k, r in enumerate(second) if r] == [19]
    # a right triangle with legs of 4 px
    assert mask_utils.area(second[19]) == pytest.approx(8, abs=4)

    write_text(
        str(tmp_path / 'Vindr_RibCXR_train_mask.json'),
        json.dumps(_rib_table(RECT[:2])))
    with pytest.raises(
            CXRDatasetError, match='row 0 .* R1: polygon with 2 point'):
        VinDrRibCXRDataset(task='seg', data_root=str(tmp_path))
    table = _rib_table(RECT)
    del table['L10']
    write_text(
        str(tmp_path / 'Vindr_RibCXR_train_mask.json'), json.dumps(table))
    with pytest.raises(CXRDatasetError, match=r"missing key\(s\) \['L10'\]"):
        VinDrRibCXRDataset(task='seg', data_root=str(tmp_path))


def test_unsupported_task_is_a_clear_error(tmp_path):
    with pytest.raises(CXRDatasetError, match="no classes for task 'seg'"):
        ShenzhenDataset(task='seg', data_root=str(tmp_path))
