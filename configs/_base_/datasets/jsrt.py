# JSRT (247 PA radiographs) with the SCR organ masks, read as distributed
# (fx_mm/datasets/jsrt.py): nodule classification (154 with / 93 without),
# nodule boxes and five organ masks, on the standard 173 / 25 / 49 split
# (`<jsrt_root>/splits/{train,val,test}.txt`).
#
# Root: edit it or set FX_JSRT_ROOT (mmengine replaces `{{$VAR:default}}`
# when it loads the config); in the fx_mm development checkout the data lie
# in ../shared/data/jsrt.
jsrt_root = '{{$FX_JSRT_ROOT:data/jsrt}}'
image_size = 256

train_pipeline = [
    dict(type='LoadCXRImage'),
    dict(type='LoadCXRAnnotations'),
    dict(type='mmdet.Resize', scale=(image_size, image_size),
         keep_ratio=False),
    dict(type='PackFXInputs'),
]
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


train_slots = [dict(dataset=jsrt(t, 'train', train_pipeline)) for t in tasks]
val_slots = [dict(dataset=jsrt(t, 'val', test_pipeline)) for t in tasks]
test_slots = [dict(dataset=jsrt(t, 'test', test_pipeline)) for t in tasks]

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
