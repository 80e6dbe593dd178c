# CPU-sized variant of fx_swin-b_jsrt-organ_finetune.py on fx_mm's DEFAULT
# architecture (the official weights need the research-compatible one of
# the Swin-B config): the small Foundation X (Swin-T layout at reduced width,
# 64-channel UperNet; the sizes of configs/_base_/models/foundation_x_swin-t.py),
# e.g. finetuning a checkpoint of configs/foundation_x/fx_swin-t_jsrt_multitask.py.
#
#   FX_CHECKPOINT=work_dirs/fx_swin-t_jsrt_multitask/iter_N.pth \
#   FX_JSRT_ROOT=../shared/data/jsrt python tools/train.py \
#       configs/finetune/fx_swin-t_jsrt-organ_finetune_cpu.py
_base_ = ['./fx_swin-b_jsrt-organ_finetune.py']

max_epochs = 10
model = dict(
    backbone=dict(
        # with its output norms: mmdet's Swin
        out_norms=True,
        embed_dims=32,
        depths=[2, 2, 2, 2],
        num_heads=[1, 2, 4, 8],
        drop_path_rate=0.1),
    seg_branch=dict(
        _delete_=True,
        type='MultiDatasetUPerHead',
        datasets=_base_.model.seg_branch.datasets,
        in_channels=[32, 64, 128, 256],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 4, 6),
        channels=64,
        dropout_ratio=0.1,
        seg_kernel_size=3,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=_base_.model.seg_branch.loss_decode,
        init_cfg=_base_.model.seg_branch.init_cfg))
train_cfg = dict(max_cycles=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        eta_min=1e-6),
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
