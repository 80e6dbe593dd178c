# JSRT (247 PA radiographs) with the SCR organ masks, read as distributed
# (fx_mm/datasets/public/jsrt.py): nodule classification (154 with / 93
# without), nodule boxes and five organ masks, on the standard 173 / 25 / 49
# split (`<jsrt_root>/splits/{train,val,test}.txt`).
#
# Root: edit it or set FX_JSRT_ROOT (mmengine replaces `{{$VAR:default}}`
# when it loads the config); in the fx_mm development checkout the data lie
# in ../shared/data/jsrt.
jsrt_root = '{{$FX_JSRT_ROOT:data/jsrt}}'
image_size = 256

# Train-time augmentation per task, after the research code's (what differs
# and why: docs/datasets.md, "Augmentation"). FXRandomFlip swaps the classes
# named left / right (mask channels, box labels) when it flips.
load = [dict(type='LoadCXRImage'), dict(type='LoadCXRAnnotations')]
resize = dict(
    type='mmdet.Resize', scale=(image_size, image_size), keep_ratio=False)
brightness_contrast = dict(
    type='RandomApply',
    prob=0.5,
    transforms=[
        dict(type='mmpretrain.ColorJitter', brightness=0.2, contrast=0.2)
    ])
train_pipelines = dict(
    cls=load + [
        dict(type='mmpretrain.RandomResizedCrop', scale=image_size),
        dict(type='FXRandomFlip', prob=0.5),
        dict(type='mmseg.RandomRotate', prob=1.0, degree=7, pad_val=0),
        dict(type='PackFXInputs'),
    ],
    loc=load + [
        resize,
        dict(type='FXRandomFlip', prob=0.5),
        dict(type='PackFXInputs'),
    ],
    seg=load + [
        resize,
        dict(type='FXRandomFlip', prob=0.5),
        dict(
            type='mmseg.RandomRotate',
            prob=0.5,
            degree=10,
            pad_val=0,
            seg_pad_val=0),
        brightness_contrast,
        dict(type='PackFXInputs'),
    ])
# annotations are loaded AFTER Resize: ground truth stays in original
# pixels, where predictions are rescaled to
test_pipeline = [
    dict(type='LoadCXRImage'),
    dict(type='mmdet.Resize', scale=(image_size, image_size),
         keep_ratio=False),
    dict(type='LoadCXRAnnotations'),
    dict(type='PackFXInputs'),
]

# heart, lungs (patient's left / right) and clavicles, one channel each
jsrt_seg_classes = ('heart', 'left_lung', 'right_lung', 'left_clavicle',
                    'right_clavicle')
jsrt_classes = dict(cls=('nodule', ), loc=('nodule', ), seg=jsrt_seg_classes)
tasks = ('cls', 'loc', 'seg')


def jsrt(task, split, pipeline):
    return dict(
        type='JSRTDataset',
        data_root=jsrt_root,
        split=split,
        task=task,
        seg_classes=jsrt_seg_classes,
        pipeline=pipeline,
        test_mode=split != 'train')


train_slots = [
    dict(dataset=jsrt(t, 'train', train_pipelines[t])) for t in tasks
]
val_slots = [dict(dataset=jsrt(t, 'val', test_pipeline)) for t in tasks]
test_slots = [dict(dataset=jsrt(t, 'test', test_pipeline)) for t in tasks]

# Organ localization (JSRTDataset loc_target='organs'): one box per SCR organ
# mask, a loc slot of its own (head `jsrt_organs`) beside the nodule boxes;
# configs/foundation_x/fx_swin-t_jsrt_multitask_organ-loc.py trains it.
organ_loc_slots = {
    split: dict(
        dataset=dict(
            jsrt('loc', split,
                 train_pipelines['loc'] if split == 'train' else test_pipeline),
            dataset_name='jsrt_organs',
            loc_target='organs'))
    for split in ('train', 'val', 'test')
}
organ_loc_evaluator = dict(
    type='DetectionMAP',
    dataset_name='jsrt_organs',
    class_names=jsrt_seg_classes)

metric_types = dict(cls='MultiLabelAUC', loc='DetectionMAP', seg='DiceMetric')
val_evaluator = [
    dict(type=metric_types[t], dataset_name='jsrt', class_names=jsrt_classes[t])
    for t in tasks
]
test_evaluator = val_evaluator

train_dataloader = dict(
    batch_size=8, num_workers=2, collate_fn=dict(type='pseudo_collate'))
val_dataloader = dict(
    batch_size=8, num_workers=2, collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
