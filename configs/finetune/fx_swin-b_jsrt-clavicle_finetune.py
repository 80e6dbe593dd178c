# Finetune Foundation X (Swin-B) on JSRT clavicle segmentation (left, right
# clavicle): the config of the few-shot series (tools/run_fewshot.py, which
# trains on N images of the training split and tests on the 49 test images).
# The data and model of fx_swin-b_jsrt-organ_finetune.py with 2 classes.
_base_ = ['./fx_swin-b_jsrt-organ_finetune.py']

# the clavicles of the organ classes (left, right)
seg_classes = tuple(
    c for c in _base_.jsrt_seg_classes if c.endswith('clavicle'))

model = dict(
    seg_branch=dict(datasets={
        '_delete_': True,
        _base_.dataset_name: len(seg_classes)
    }))

# the base's slots with the clavicle classes (this `jsrt` merges into the
# base's loader arguments: print_config shows them whole)
jsrt = dict(seg_classes=seg_classes)
train_cfg = dict(
    slots=[dict(dataset=dict(_base_.train_cfg.slots[0].dataset, **jsrt))])
val_cfg = dict(
    slots=[dict(dataset=dict(_base_.val_cfg.slots[0].dataset, **jsrt))])
test_cfg = dict(
    slots=[dict(dataset=dict(_base_.test_cfg.slots[0].dataset, **jsrt))])
val_evaluator = [dict(_base_.val_evaluator[0], class_names=seg_classes)]
test_evaluator = val_evaluator
