# The public chest X-ray datasets of Foundation X (WACV 2025) as the 20
# (dataset, task) slots of its Cyclic & Lock-Release pretraining, each read
# by its fx_mm loader (fx_mm/datasets/public) from the files its publisher
# ships. docs/training.md lists the layouts and how to prepare the splits.
# The pipelines (the paper's 224 px input) are those of ./cxr_pipelines.py.
_base_ = ['./cxr_pipelines.py']

# ---------------------------------------------------------------------------
# Data roots: edit them here or set the environment variable named in each
# (mmengine replaces `{{$VAR:default}}` when it loads the config), e.g.
#   FX_CHEXPERT_ROOT=/data/CheXpert-v1.0 bash tools/dist_train.sh ...
chexpert_root = '{{$FX_CHEXPERT_ROOT:data/CheXpert-v1.0}}'
nih_root = '{{$FX_NIH_ROOT:data/ChestX-ray14}}'
vindr_root = '{{$FX_VINDR_ROOT:data/vindr-cxr/1.0.0}}'
shenzhen_root = '{{$FX_SHENZHEN_ROOT:data/ChinaSet_AllFiles}}'
mimic_root = '{{$FX_MIMIC_ROOT:data/mimic-cxr-jpg/2.0.0}}'
tbx11k_root = '{{$FX_TBX11K_ROOT:data/TBX11K}}'
# NODE21: the folder that holds metadata.csv and images/
node21_root = '{{$FX_NODE21_ROOT:data/node21}}'
candid_root = '{{$FX_CANDID_ROOT:data/CANDID-PTX}}'
rsna_root = '{{$FX_RSNA_ROOT:data/rsna-pneumonia-detection-challenge}}'
chestx_det_root = '{{$FX_CHESTX_DET_ROOT:data/ChestX-Det}}'
siim_root = '{{$FX_SIIM_ROOT:data/siim-acr-pneumothorax}}'

# ---------------------------------------------------------------------------
# Datasets: the loader arguments shared by all splits, then those of each
# split. "official": the publisher's split. Where the publisher has no
# validation split (NIH, VinDr-CXR, ChestX-Det) the val slot reads the
# official test split; TBX11K's test labels are not public, so its val split
# serves as val and test. "ours": the publisher ships no split (Shenzhen,
# NODE21, CANDID-PTX, RSNA, SIIM-ACR); fx_mm's split is a seeded 80/10/10 by
# image of the publisher's file, written into `<root>/fx_splits/` by the
# script in docs/training.md, in the publisher's own format.
chexpert = dict(
    type='CheXpertDataset',
    data_root=chexpert_root,
    # uncertain (-1) -> 1 (U-Ones), blank -> 0 (CheXpert's convention)
    uncertainty='ones',
    blank='zeros')
chexpert_splits = dict(  # official; the 500-image test set ships apart
    train=dict(ann_file='train.csv'),
    val=dict(ann_file='valid.csv'),
    test=dict(ann_file='valid.csv'))

nih = dict(type='NIHChestXray14Dataset', data_root=nih_root)
nih_splits = dict(  # official (no val list: val = test)
    train=dict(split_file='train_val_list.txt'),
    val=dict(split_file='test_list.txt'),
    test=dict(split_file='test_list.txt'))

# PhysioNet's layout: the global labels in annotations/ (3 readers per
# training image, majority vote; one consensus row per test image)
vindr = dict(type='VinDrCXRDataset', data_root=vindr_root)
vindr_splits = dict(  # official (no val split: val = test)
    train=dict(
        ann_file='annotations/image_labels_train.csv',
        data_prefix=dict(img_path='train')),
    val=dict(
        ann_file='annotations/image_labels_test.csv',
        data_prefix=dict(img_path='test')),
    test=dict(
        ann_file='annotations/image_labels_test.csv',
        data_prefix=dict(img_path='test')))

shenzhen = dict(type='ShenzhenDataset', data_root=shenzhen_root)
shenzhen_splits = dict(  # ours: image-name lists
    train=dict(ann_file='fx_splits/shenzhen_train.txt'),
    val=dict(ann_file='fx_splits/shenzhen_val.txt'),
    test=dict(ann_file='fx_splits/shenzhen_test.txt'))

mimic = dict(
    type='MIMICCXRDataset',
    data_root=mimic_root,
    uncertainty='ones',
    blank='zeros')
mimic_splits = dict(  # official (mimic-cxr-2.0.0-split.csv.gz)
    train=dict(split='train'),
    val=dict(split='validate'),
    test=dict(split='test'))

# one box class "tuberculosis" (the model's single TBX11K loc output)
tbx11k = dict(
    type='TBX11KDataset', data_root=tbx11k_root, merge_box_classes=True)
tbx11k_splits = dict(  # official (test labels not public: test = val)
    train=dict(ann_file='annotations/json/TBX11K_train.json'),
    val=dict(ann_file='annotations/json/TBX11K_val.json'),
    test=dict(ann_file='annotations/json/TBX11K_val.json'))

node21 = dict(type='NODE21Dataset', data_root=node21_root)
node21_splits = dict(  # ours
    train=dict(ann_file='fx_splits/metadata_train.csv'),
    val=dict(ann_file='fx_splits/metadata_val.csv'),
    test=dict(ann_file='fx_splits/metadata_test.csv'))

candid = dict(type='CANDIDPTXDataset', data_root=candid_root)
candid_splits = dict(  # ours
    train=dict(ann_file='fx_splits/Pneumothorax_reports_train.csv'),
    val=dict(ann_file='fx_splits/Pneumothorax_reports_val.csv'),
    test=dict(ann_file='fx_splits/Pneumothorax_reports_test.csv'))

rsna = dict(type='RSNAPneumoniaDataset', data_root=rsna_root)
rsna_splits = {  # ours (both files split by patientId)
    split:
    dict(
        ann_file=f'fx_splits/stage_2_train_labels_{split}.csv',
        class_file=f'fx_splits/stage_2_detailed_class_info_{split}.csv')
    for split in ('train', 'val', 'test')
}

chestx_det = dict(type='ChestXDetDataset', data_root=chestx_det_root)
chestx_det_splits = dict(  # official (no val split: val = test)
    train=dict(
        ann_file='ChestX_Det_train.json', data_prefix=dict(img_path='train')),
    val=dict(
        ann_file='ChestX_Det_test.json', data_prefix=dict(img_path='test')),
    test=dict(
        ann_file='ChestX_Det_test.json', data_prefix=dict(img_path='test')))

siim = dict(type='SIIMACRDataset', data_root=siim_root)
siim_splits = dict(  # ours
    train=dict(ann_file='fx_splits/train-rle_train.csv'),
    val=dict(ann_file='fx_splits/train-rle_val.csv'),
    test=dict(ann_file='fx_splits/train-rle_test.csv'))

# ---------------------------------------------------------------------------
# Class names of each head (the loaders' METAINFO; tests/test_configs.py
# checks them against the loaders)
chexpert_classes = ('No Finding', 'Enlarged Cardiomediastinum', 'Cardiomegaly',
                    'Lung Opacity', 'Lung Lesion', 'Edema', 'Consolidation',
                    'Pneumonia', 'Atelectasis', 'Pneumothorax',
                    'Pleural Effusion', 'Pleural Other', 'Fracture',
                    'Support Devices')
mimic_classes = ('Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema',
                 'Enlarged Cardiomediastinum', 'Fracture', 'Lung Lesion',
                 'Lung Opacity', 'No Finding', 'Pleural Effusion',
                 'Pleural Other', 'Pneumonia', 'Pneumothorax',
                 'Support Devices')
# the paper's CheXpert / MIMIC AUC: mean over the 5 competition diseases
competition_classes = ('Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema',
                       'Pleural Effusion')
nih_classes = ('Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltration',
               'Mass', 'Nodule', 'Pneumonia', 'Pneumothorax', 'Consolidation',
               'Edema', 'Emphysema', 'Fibrosis', 'Pleural_Thickening',
               'Hernia')
vindr_classes = ('COPD', 'Lung tumor', 'Pneumonia', 'Tuberculosis',
                 'Other diseases', 'No finding')
rsna_classes = ('Lung Opacity', 'No Lung Opacity / Not Normal', 'Normal')
chestx_det_classes = ('Atelectasis', 'Calcification', 'Cardiomegaly',
                      'Consolidation', 'Diffuse Nodule', 'Effusion',
                      'Emphysema', 'Fibrosis', 'Fracture', 'Mass', 'Nodule',
                      'Pleural Thickening', 'Pneumothorax')
tb = ('tuberculosis', )
ptx = ('pneumothorax', )

# ---------------------------------------------------------------------------
# The slots in the paper's visiting order:
# (head key = the loader's dataset_name, loader, splits, {task: classes})
slot_table = [
    ('chexpert', chexpert, chexpert_splits, dict(cls=chexpert_classes)),
    ('nih_chestxray14', nih, nih_splits, dict(cls=nih_classes)),
    ('vindr_cxr', vindr, vindr_splits, dict(cls=vindr_classes)),
    ('shenzhen', shenzhen, shenzhen_splits, dict(cls=tb)),
    ('mimic_cxr', mimic, mimic_splits, dict(cls=mimic_classes)),
    ('tbx11k', tbx11k, tbx11k_splits, dict(cls=tb, loc=tb)),
    ('node21', node21, node21_splits, dict(cls=('nodule', ),
                                           loc=('nodule', ))),
    ('candid_ptx', candid, candid_splits, dict(cls=ptx, loc=ptx, seg=ptx)),
    ('rsna_pneumonia', rsna, rsna_splits,
     dict(cls=rsna_classes, loc=('Lung Opacity', ))),
    ('chestx_det', chestx_det, chestx_det_splits,
     dict(
         cls=chestx_det_classes,
         loc=chestx_det_classes,
         seg=chestx_det_classes)),
    ('siim_acr', siim, siim_splits, dict(cls=ptx, loc=ptx, seg=ptx)),
]


def make_slots(split, pipelines):
    return [
        dict(
            dataset=dict(
                **loader,
                **loader_splits[split],
                task=task,
                pipeline=pipelines[task],
                test_mode=split != 'train'))
        for _, loader, loader_splits, tasks in slot_table for task in tasks
    ]


train_slots = make_slots('train', _base_.train_pipelines)
val_slots = make_slots(
    'val', {t: _base_.test_pipeline
            for t in _base_.train_pipelines})
test_slots = make_slots(
    'test', {t: _base_.test_pipeline
             for t in _base_.train_pipelines})

metric_types = dict(cls='MultiLabelAUC', loc='DetectionMAP', seg='DiceMetric')
mean_over = dict(chexpert=competition_classes, mimic_cxr=competition_classes)
val_evaluator = [
    dict(
        type=metric_types[task],
        dataset_name=name,
        class_names=classes,
        **(dict(mean_over=mean_over[name])
           if task == 'cls' and name in mean_over else {}))
    for name, _, _, tasks in slot_table for task, classes in tasks.items()
]
test_evaluator = val_evaluator

# batch 24 per task (the paper, 1 GPU); with N GPUs each GPU takes 24
train_dataloader = dict(
    batch_size=24, num_workers=4, collate_fn=dict(type='pseudo_collate'))
val_dataloader = dict(
    batch_size=24, num_workers=4, collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
