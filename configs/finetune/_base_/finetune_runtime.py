# Finetuning a Foundation X checkpoint on one (dataset, task): the runtime
# shared by configs/finetune/*. The model is FoundationX with ONE head, no
# mean teacher and no consistency loss, trained by the CyclicLockReleaseLoop
# with a single slot and no lock phase (plain training: one "cycle" = one
# epoch). The leaf config sets the data, the head and which parts of the
# Foundation X checkpoint are loaded (docs/finetune.md).
_base_ = ['../../_base_/default_runtime.py']

max_epochs = 50
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
    dict(type='mmdet.Resize', scale=(image_size, image_size),
         keep_ratio=False),
    dict(type='LoadCXRAnnotations'),
    dict(type='PackFXInputs'),
]

# one slot, no lock phase: plain training, validation after every epoch
train_cfg = dict(
    type='CyclicLockReleaseLoop',
    max_cycles=max_epochs,
    lock_fraction=0.0,
    release_fraction=1.0,
    val_interval=0,
    val_at_cycle_end=True)
val_cfg = dict(type='MultiSlotValLoop')
test_cfg = dict(type='MultiSlotTestLoop')

# AdamW, backbone at 0.1 x lr (as in pretraining); no decay on norms,
# biases of norms and embeddings. Frozen modules (head-only variants) are
# left out of the optimizer by FXOptimWrapperConstructor.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='FXOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(
        lr_mults=dict(backbone=0.1),
        norm_decay_mult=0.0,
        custom_keys=dict(
            absolute_pos_embed=dict(decay_mult=0.0),
            relative_position_bias_table=dict(decay_mult=0.0),
            level_embed=dict(decay_mult=0.0),
            query_embedding=dict(decay_mult=0.0),
            label_embedding=dict(decay_mult=0.0))))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        eta_min=1e-7),
]

# the pretraining hooks without LockReleaseHook (it would unfreeze the
# frozen modules) and MeanTeacherHook (no teacher)
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='TaskGradClipHook', clip_grad=dict(loc=dict(max_norm=0.1))),
    dict(type='RankConsistencyHook', at=('slot_end', 'train_end')),
    dict(type='PreemptionHook', signals=('SIGTERM', 'SIGUSR1')),
    dict(type='NaNGuardHook', action='skip', max_consecutive_skips=20),
    dict(type='BadSampleHook'),
]
# a checkpoint per epoch, the last one kept
default_hooks = dict(
    checkpoint=dict(slot_interval=1, max_keep_ckpts=1),
    logger=dict(interval=10))

train_dataloader = dict(
    batch_size=8, num_workers=2, collate_fn=dict(type='pseudo_collate'))
val_dataloader = dict(
    batch_size=8, num_workers=2, collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
