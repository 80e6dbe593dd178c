# Real-data multi-task training on JSRT: the small Foundation X (Swin-T
# layout, CPU-sized) trained by Cyclic & Lock-Release over three slots of one
# dataset -- nodule classification, nodule localization and organ
# segmentation (heart, lungs, clavicles) -- with the mean teacher, at 256 px.
# Data: configs/_base_/datasets/jsrt.py (set FX_JSRT_ROOT).
#
#   FX_JSRT_ROOT=../shared/data/jsrt python tools/train.py \
#       configs/foundation_x/fx_swin-t_jsrt_multitask.py
_base_ = [
    '../_base_/models/foundation_x_swin-t.py', '../_base_/datasets/jsrt.py',
    '../_base_/schedules/short_run.py', '../_base_/default_runtime.py'
]

max_cycles = 10

# one head per task, keyed by the dataset's `dataset_name` ('jsrt') and
# sized by the class table of ../_base_/datasets/jsrt.py
model = dict(
    cls_branch=dict(datasets=dict(_delete_=True, **_base_.head_sizes.cls)),
    loc_branch=dict(datasets=dict(_delete_=True, **_base_.head_sizes.loc)),
    seg_branch=dict(
        datasets=dict(_delete_=True, **_base_.head_sizes.seg),
        loss_decode=[
            dict(type='DiceLoss', use_sigmoid=True, loss_weight=1.0),
            dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)
        ]))

# the paper's loop (../_base_/schedules/lock_release.py); 3 slots:
# validating the 3 val sets (25 images each) once per cycle, at its end
# (val_interval=0 turns the slot-wise validation, and with it val_scope,
# off)
train_cfg = dict(
    slots=_base_.train_slots,
    max_cycles=max_cycles,
    val_interval=0,
    val_at_cycle_end=True)
val_cfg = dict(slots=_base_.val_slots)
test_cfg = dict(slots=_base_.test_slots)

# a short run from scratch (../_base_/schedules/short_run.py: faster
# learning rates than the paper's), its cosine ending at the last cycle
param_scheduler = [
    _base_.short_run_warmup,
    dict(_base_.short_run_cosine, end=max_cycles, T_max=max_cycles)
]
# CPU: gloo (use nccl on GPUs with tools/dist_train.sh)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
