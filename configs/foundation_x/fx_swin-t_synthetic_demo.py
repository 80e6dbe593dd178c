# The embedded default: a real multi-task Cyclic & Lock-Release training with
# the mean teacher on synthetic CXR phantoms (2 "datasets" x cls/loc/seg =
# 6 slots), on CPU, no downloads. `bash tools/quickstart.sh` runs it.
_base_ = [
    '../_base_/models/foundation_x_swin-t.py',
    '../_base_/datasets/synthetic_cxr.py', '../_base_/schedules/short_run.py',
    '../_base_/default_runtime.py'
]

max_cycles = 3

# one head per phantom set and task, sized by the class table of
# ../_base_/datasets/synthetic_cxr.py; the seg heads are trained with
# sigmoid + soft Dice as in the paper (a pixel-wise CE term on top keeps the
# thin clavicles below 0.5 probability for much longer)
model = dict(
    cls_branch=dict(datasets=dict(_delete_=True, **_base_.head_sizes.cls)),
    loc_branch=dict(datasets=dict(_delete_=True, **_base_.head_sizes.loc)),
    seg_branch=dict(datasets=dict(_delete_=True, **_base_.head_sizes.seg)))

# the paper's loop (../_base_/schedules/lock_release.py), validating all 6
# val sets once per cycle, at its end (val_interval=0 turns the slot-wise
# validation, and with it val_scope, off)
train_cfg = dict(
    slots=_base_.train_slots,
    max_cycles=max_cycles,
    val_interval=0,
    val_at_cycle_end=True)
val_cfg = dict(slots=_base_.val_slots)
test_cfg = dict(slots=_base_.test_slots)

# the demo is short: the faster learning rates of a short run
# (../_base_/schedules/short_run.py), and the cls heads (which start near
# zero, mmpretrain's std-0.01 init) at the full rate instead of the paper's
# 0.1 (the hooks, including the paper's phase-end teacher update, come from
# the base runtime); the cosine ends at the last cycle
optim_wrapper = dict(paramwise_cfg=dict(lr_mults=dict(cls_branch=1.0)))
param_scheduler = [
    _base_.short_run_warmup,
    dict(_base_.short_run_cosine, end=max_cycles, T_max=max_cycles)
]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
