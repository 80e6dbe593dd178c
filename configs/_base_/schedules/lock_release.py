# AdamW; lr 1e-4 for the seg decoder/heads and the loc encoder/decoders,
# 1e-5 (lr_mults 0.1) for the backbone and the cls heads; weight decay 1e-4,
# none on norms, biases of norms and embeddings. Schedulers step once per
# CYCLE (one mmengine epoch = one cycle of the CyclicLockReleaseLoop).
max_cycles = 100
warmup_cycles = 20

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='FXOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(
        lr_mults=dict(backbone=0.1, cls_branch=0.1),
        norm_decay_mult=0.0,
        custom_keys=dict(
            absolute_pos_embed=dict(decay_mult=0.0),
            relative_position_bias_table=dict(decay_mult=0.0),
            level_embed=dict(decay_mult=0.0),
            query_embedding=dict(decay_mult=0.0),
            label_embedding=dict(decay_mult=0.0))))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_cycles),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=warmup_cycles,
        end=max_cycles,
        T_max=max_cycles - warmup_cycles,
        eta_min=1e-7),
]

# The paper's Cyclic & Lock-Release loop: per slot a lock phase of half a
# pass over its data, then a release phase of one full pass. The paper
# evaluates student and teacher after every slot on THAT slot's val set:
# val_scope='slots' does exactly that (one pass over all val sets per cycle
# in total), with no extra all-slot validation at the cycle end (it would
# repeat the same evaluations). The slots are the dataset config's: the
# leaf config sets `slots` (`_base_.train_slots`, ...), as a base cannot
# read another base.
train_cfg = dict(
    type='CyclicLockReleaseLoop',
    max_cycles=max_cycles,
    lock_fraction=0.5,
    release_fraction=1.0,
    val_interval=1,
    val_scope='slots',
    val_at_cycle_end=False)
val_cfg = dict(type='MultiSlotValLoop', predict_on=['student', 'teacher'])
test_cfg = dict(type='MultiSlotTestLoop')
