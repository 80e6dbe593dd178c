# fx_swin-t_jsrt_multitask.py plus a fourth slot: organ localization on JSRT
# (one box per SCR organ: heart, lungs, clavicles; JSRTDataset
# loc_target='organs'), a localization task with 5 boxes on every image that
# a CPU run can learn, beside the 154 nodule boxes.
#
#   FX_JSRT_ROOT=../shared/data/jsrt python tools/train.py \
#       configs/foundation_x/fx_swin-t_jsrt_multitask_organ-loc.py
_base_ = './fx_swin-t_jsrt_multitask.py'

# a decoder of its own, one class per organ (configs/_base_/datasets/jsrt.py)
model = dict(
    loc_branch=dict(
        datasets=dict(
            jsrt_organs=len(_base_.organ_loc_evaluator.class_names))))

# slots: nodule cls, nodule loc, organ loc, organ seg
train_cfg = dict(slots=_base_.train_slots[:2] +
                 [_base_.organ_loc_slots['train']] + _base_.train_slots[2:])
val_cfg = dict(slots=_base_.val_slots[:2] + [_base_.organ_loc_slots['val']] +
               _base_.val_slots[2:])
test_cfg = dict(slots=_base_.test_slots[:2] +
                [_base_.organ_loc_slots['test']] + _base_.test_slots[2:])
val_evaluator = _base_.val_evaluator[:2] + [_base_.organ_loc_evaluator] + \
    _base_.val_evaluator[2:]
test_evaluator = val_evaluator
