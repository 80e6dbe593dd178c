# Finetuning a Foundation X checkpoint on one (dataset, task): the model,
# pipelines (../../_base_/datasets/cxr_pipelines.py, 224 px) and runtime
# shared by configs/finetune/*. The model is FoundationX with ONE head, no
# mean teacher and no consistency loss, trained by the CyclicLockReleaseLoop
# with a single slot and no lock phase (plain training: one "cycle" = one
# epoch). The leaf config sets the data, the head and which parts of the
# Foundation X checkpoint its branch loads (docs/finetune.md).
_base_ = [
    '../../_base_/models/foundation_x_swin-b_research.py',
    '../../_base_/datasets/cxr_pipelines.py', '../../_base_/default_runtime.py'
]

max_epochs = 50

# ---------------------------------------------------------------------------
# The Foundation X checkpoint and what to take from it (docs/finetune.md):
# the converted official weights, or a checkpoint of a research-compatible
# fx_mm run (configs/foundation_x/fx_swin-b_cxr15_research.py). The
# research-compatible architecture (../../_base_/models/
# foundation_x_swin-b_research.py) is the one those weights load into.
fx_checkpoint = '{{$FX_CHECKPOINT:weights/foundation_x_fxmm.pth}}'
# 'teacher': the mean teacher (the released network); 'student': the
# student, or the network of a publish_model.py file (stored under
# `student.`)
fx_network = '{{$FX_NETWORK:teacher}}'

# one network (no teacher, no consistency loss), its backbone from the
# checkpoint; the leaf config drops the branches it does not train and
# loads the shared part of the one it trains
model = dict(
    with_teacher=False,
    task_weight=1.0,
    consistency_weight=0.0,
    predict_on='student',
    backbone=dict(
        with_cp=False,
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint=fx_checkpoint,
            prefix=fx_network + '.backbone.')))

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
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
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
default_hooks = dict(checkpoint=dict(slot_interval=1, max_keep_ckpts=1))

train_dataloader = dict(
    batch_size=8, num_workers=2, collate_fn=dict(type='pseudo_collate'))
val_dataloader = dict(
    batch_size=8, num_workers=2, collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
