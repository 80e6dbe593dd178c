# Synthetic CXR phantoms (fx_mm/datasets/synthetic/): generated on first
# use into `synthetic_root`, deterministic by seed, no downloads.
synthetic_root = 'work_dirs/synthetic_cxr'
synthetic_num_images = 200
image_size = 192

# The phantom family is not augmented (a fixed, learnable demo), so it
# does not inherit ./cxr_pipelines.py, whose train pipelines
# would stand unused in its config; its test pipeline is the same form.
resize = dict(
    type='mmdet.Resize', scale=(image_size, image_size), keep_ratio=False)
train_pipeline = [
    dict(type='LoadCXRImage'),
    dict(type='LoadCXRAnnotations'), resize,
    dict(type='PackFXInputs')
]
# annotations are loaded AFTER Resize: ground truth stays in original
# pixels, where predictions are rescaled to
test_pipeline = [
    dict(type='LoadCXRImage'), resize,
    dict(type='LoadCXRAnnotations'),
    dict(type='PackFXInputs')
]


def phantom(variant, task, split, pipeline):
    return dict(
        type='SyntheticCXRDataset',
        data_root=synthetic_root,
        variant=variant,
        split=split,
        task=task,
        num_images=synthetic_num_images,
        image_size=256,
        pipeline=pipeline)


variants = ('phantom_a', 'phantom_b')
tasks = ('cls', 'loc', 'seg')
train_slots = [
    dict(dataset=phantom(v, t, 'train', train_pipeline)) for v in variants
    for t in tasks
]
val_slots = [
    dict(dataset=phantom(v, t, 'val', test_pipeline)) for v in variants
    for t in tasks
]
test_slots = [
    dict(dataset=phantom(v, t, 'test', test_pipeline)) for v in variants
    for t in tasks
]

class_names = dict(
    phantom_a=dict(
        cls=['nodule', 'cardiomegaly'],
        loc=['nodule'],
        seg=['heart', 'left_lung', 'right_lung']),
    phantom_b=dict(
        cls=['opacity', 'cardiomegaly'],
        loc=['opacity'],
        seg=['left_clavicle', 'right_clavicle']))
# the model's heads, {task: {dataset_name: number of classes}}, from the
# class table (configs/foundation_x/fx_swin-t_synthetic_demo.py)
head_sizes = {
    task: {
        variant: len(class_names[variant][task])
        for variant in variants
    }
    for task in tasks
}
metric_types = dict(cls='MultiLabelAUC', loc='DetectionMAP', seg='DiceMetric')
val_evaluator = [
    dict(type=metric_types[t], dataset_name=v, class_names=class_names[v][t])
    for v in variants for t in tasks
]
test_evaluator = val_evaluator

train_dataloader = dict(
    batch_size=8, num_workers=0, collate_fn=dict(type='pseudo_collate'))
val_dataloader = dict(
    batch_size=8, num_workers=0, collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
