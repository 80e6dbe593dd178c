# The data pipelines of the chest X-ray datasets at the paper's 224 px
# input: one train pipeline per task, `train_pipelines['cls' | 'loc' |
# 'seg']`, and the test pipeline. The dataset configs (./cxr15.py,
# ./jsrt.py, ./synthetic_cxr.py) and the finetuning runtime
# (configs/finetune/_base_/finetune_runtime.py) inherit them.
#
# mmengine parses a base config on its own, so a child's `image_size` cannot
# reach into these lists. A child at another size redefines what differs in
# size, as mmdet configs do: the `scale` of the two resizing transforms
# (mmdet.Resize, mmpretrain.RandomResizedCrop); the transforms stay these
# (./jsrt.py, ./synthetic_cxr.py).
image_size = 224

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
    resize,
    dict(type='LoadCXRAnnotations'),
    dict(type='PackFXInputs'),
]
