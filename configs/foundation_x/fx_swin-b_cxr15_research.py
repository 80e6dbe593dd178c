# Foundation X on the research-compatible architecture
# (../_base_/models/foundation_x_swin-b_research.py): the layout that the
# converted OFFICIAL weights load into. The 20 slots, the schedule and the
# mean teacher are those of fx_swin-b_cxr15_lock-release.py.
#
#   # convert the official checkpoint once (docs/checkpoints.md)
#   python tools/model_converters/foundationx2fxmm.py \
#       FoundationX_ckpt.pth weights/foundation_x_fxmm.pth
#   # evaluate it (the teacher: the released network)
#   python tools/test.py configs/foundation_x/fx_swin-b_cxr15_research.py \
#       weights/foundation_x_fxmm.pth
#   # continue pretraining from it (student AND teacher are loaded)
#   python tools/train.py configs/foundation_x/fx_swin-b_cxr15_research.py \
#       --cfg-options load_from=weights/foundation_x_fxmm.pth
_base_ = [
    '../_base_/models/foundation_x_swin-b_research.py',
    '../_base_/datasets/cxr15.py', '../_base_/schedules/lock_release.py',
    '../_base_/default_runtime.py'
]

max_cycles = 32

train_cfg = dict(slots=_base_.train_slots, max_cycles=max_cycles)
val_cfg = dict(slots=_base_.val_slots)
test_cfg = dict(slots=_base_.test_slots)

default_hooks = dict(checkpoint=dict(interval=2000))
