# JSRT (247 PA radiographs) with the SCR organ masks, read as distributed
# (fx_mm/datasets/public/jsrt.py): nodule classification (154 with / 93
# without), nodule boxes and five organ masks, on the standard 173 / 25 / 49
# split (`<jsrt_root>/splits/{train,val,test}.txt`). The root (set
# FX_JSRT_ROOT) and the organ classes are those of ./jsrt_meta.py.
_base_ = ['./cxr_pipelines.py', './jsrt_meta.py']

# The pipelines of ./cxr_pipelines.py at 256 px: a base cannot take this
# file's size, so the `scale` of its resizing transforms is set anew here
# (mmdet's way of redefining what differs in size); the transforms are the
# base's.
image_size = 256
resize_scales = {
    'mmdet.Resize': (image_size, image_size),
    'mmpretrain.RandomResizedCrop': image_size
}


def at_image_size(pipeline):
    return [
        dict(t, scale=resize_scales[t.type]) if t.type in resize_scales else t
        for t in pipeline
    ]


train_pipelines = {
    task: at_image_size(pipeline)
    for task, pipeline in _base_.train_pipelines.items()
}
test_pipeline = at_image_size(_base_.test_pipeline)
# the base's `resize` (a helper that print_config shows) at this size too
resize = dict(scale=resize_scales['mmdet.Resize'])

jsrt_classes = dict(
    cls=('nodule', ), loc=('nodule', ), seg=_base_.jsrt_seg_classes)
tasks = ('cls', 'loc', 'seg')
# the model's heads, {task: {dataset_name: number of classes}}, from the
# class table: a config that trains these slots sets each branch's
# `datasets` to them (configs/foundation_x/fx_swin-t_jsrt_multitask.py)
head_sizes = {
    task: dict(jsrt=len(classes))
    for task, classes in jsrt_classes.items()
}


def jsrt(task, split, pipeline):
    return dict(
        type='JSRTDataset',
        data_root=_base_.jsrt_root,
        split=split,
        task=task,
        seg_classes=_base_.jsrt_seg_classes,
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
    split:
    dict(
        dataset=dict(
            jsrt('loc', split, train_pipelines['loc'] if split ==
                 'train' else test_pipeline),
            dataset_name='jsrt_organs',
            loc_target='organs'))
    for split in ('train', 'val', 'test')
}
organ_loc_evaluator = dict(
    type='DetectionMAP',
    dataset_name='jsrt_organs',
    class_names=_base_.jsrt_seg_classes)

metric_types = dict(cls='MultiLabelAUC', loc='DetectionMAP', seg='DiceMetric')
val_evaluator = [
    dict(
        type=metric_types[t], dataset_name='jsrt', class_names=jsrt_classes[t])
    for t in tasks
]
test_evaluator = val_evaluator

train_dataloader = dict(
    batch_size=8, num_workers=2, collate_fn=dict(type='pseudo_collate'))
val_dataloader = dict(
    batch_size=8, num_workers=2, collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
