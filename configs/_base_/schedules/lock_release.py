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
