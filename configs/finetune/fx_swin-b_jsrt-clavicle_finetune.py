# Finetune Foundation X (Swin-B) on JSRT clavicle segmentation (left, right
# clavicle): the config of the few-shot series (tools/run_fewshot.py, which
# trains on N images of the training split and tests on the 49 test images).
_base_ = ['./fx_swin-b_jsrt-organ_finetune.py']

jsrt_root = '{{$FX_JSRT_ROOT:data/jsrt}}'
seg_classes = ('left_clavicle', 'right_clavicle')

model = dict(seg_branch=dict(datasets=dict(_delete_=True, jsrt=2)))


def jsrt(split, pipeline):
    return dict(
        type='JSRTDataset',
        data_root=jsrt_root,
        split=split,
        task='seg',
        seg_classes=seg_classes,
        pipeline=pipeline,
        test_mode=split != 'train')


train_cfg = dict(slots=[dict(dataset=jsrt('train', {{_base_.train_pipelines.seg}}))])
val_cfg = dict(slots=[dict(dataset=jsrt('val', {{_base_.test_pipeline}}))])
test_cfg = dict(slots=[dict(dataset=jsrt('test', {{_base_.test_pipeline}}))])
val_evaluator = [
    dict(type='DiceMetric', dataset_name='jsrt', class_names=seg_classes)
]
test_evaluator = val_evaluator
