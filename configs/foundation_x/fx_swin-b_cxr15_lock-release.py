# Foundation X as in the paper: Swin-B student + mean teacher pretrained by
# Cyclic & Lock-Release over the 20 (dataset, task) slots of 11 public CXR
# datasets (configs/_base_/datasets/cxr15.py; data preparation and commands
# in docs/training.md).
#
#   bash tools/dist_train.sh configs/foundation_x/fx_swin-b_cxr15_lock-release.py 8
#   bash tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR
#
# The model is the paper's (configs/_base_/models/foundation_x_swin-b.py);
# its head keys are the datasets' `dataset_name`s.
_base_ = [
    '../_base_/models/foundation_x_swin-b.py', '../_base_/datasets/cxr15.py',
    '../_base_/schedules/lock_release.py', '../_base_/default_runtime.py'
]

# The paper starts from the CXR-pretrained Ark-6 Swin-B: set `pretrained` to
# a LOCAL checkpoint file (fx_mm never downloads; any Swin naming, see
# docs/get_started.md), or in a child config set
# model.backbone.init_cfg=dict(type='FXPretrainedSwin', checkpoint=...).
# None trains the backbone from scratch.
pretrained = None

# The schedule (../_base_/schedules/lock_release.py) is the paper's: 20
# warm-up cycles, then cosine to cycle 100, stepped once per cycle. The
# released model is the teacher after ~31.6 of those cycles (the 3-day jobs
# were stopped there), so we train 32 whole cycles along the same learning
# rate curve; `--cfg-options train_cfg.max_cycles=100` runs the schedule to
# its end.
max_cycles = 32

model = dict(
    backbone=dict(
        init_cfg=dict(type='FXPretrainedSwin', checkpoint=pretrained
                      ) if pretrained is not None else None))

# the paper's loop (../_base_/schedules/lock_release.py) over the 20 slots,
# each validated right after it is trained
train_cfg = dict(slots=_base_.train_slots, max_cycles=max_cycles)
val_cfg = dict(slots=_base_.val_slots)
test_cfg = dict(slots=_base_.test_slots)

# slot checkpoints (every slot) + every 2000 iterations: a slot such as
# CheXpert or MIMIC-CXR runs >10k iterations, and 3-day jobs are chained
# with `--resume` (docs/training.md)
default_hooks = dict(checkpoint=dict(interval=2000))

# GPU cluster: nccl (base runtime). On CPU add
# `--cfg-options env_cfg.dist_cfg.backend=gloo`.
