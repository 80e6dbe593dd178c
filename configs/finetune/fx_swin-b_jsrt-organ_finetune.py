# Finetune Foundation X (Swin-B) on JSRT organ segmentation (heart, lungs,
# clavicles; SCR masks, standard 173 / 25 / 49 split) from the OFFICIAL
# weights: backbone and shared segmentation decoder (the research PSP + FPN)
# from the converted Foundation X checkpoint, a new 5-channel head,
# everything trained. Head-only variant: *_head-only.py.
#
#   python tools/model_converters/foundationx2fxmm.py \
#       FoundationX_ckpt.pth weights/foundation_x_fxmm.pth
#   FX_JSRT_ROOT=data/jsrt python tools/train.py \
#       configs/finetune/fx_swin-b_jsrt-organ_finetune.py
_base_ = [
    '../_base_/models/foundation_x_swin-b_research.py',
    './_base_/finetune_runtime.py'
]

# ---------------------------------------------------------------------------
# The Foundation X checkpoint and what to take from it (docs/finetune.md):
# the converted official weights, or a checkpoint of a research-compatible
# fx_mm run (configs/foundation_x/fx_swin-b_cxr15_research.py).
fx_checkpoint = '{{$FX_CHECKPOINT:weights/foundation_x_fxmm.pth}}'
# 'teacher': the mean teacher (the released network); 'student': the
# student, or the network of a publish_model.py file (stored under
# `student.`)
fx_network = '{{$FX_NETWORK:teacher}}'
# True: backbone + shared seg decoder; False: backbone only
load_seg_decoder = True

jsrt_root = '{{$FX_JSRT_ROOT:data/jsrt}}'
seg_classes = ('heart', 'left_lung', 'right_lung', 'left_clavicle',
               'right_clavicle')
dataset_name = 'jsrt'

# ---------------------------------------------------------------------------
model = dict(
    with_teacher=False,
    task_weight=1.0,
    consistency_weight=0.0,
    predict_on='student',
    backbone=dict(
        with_cp=False,
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint=fx_checkpoint,
            prefix=fx_network + '.backbone.')),
    cls_branch=None,
    loc_branch=None,
    seg_branch=dict(
        datasets=dict(_delete_=True, jsrt=len(seg_classes)),
        loss_decode=[
            dict(type='DiceLoss', use_sigmoid=True, loss_weight=1.0),
            dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)
        ],
        # the new head's init, then (mmengine applies `Pretrained` last)
        # the shared decoder; a head of the same name and shape in the
        # checkpoint is loaded too, other heads are reported and skipped
        init_cfg=[
            dict(type='Normal', std=0.01, override=dict(name='conv_segs'))
        ] + ([
            dict(
                type='Pretrained',
                checkpoint=fx_checkpoint,
                prefix=fx_network + '.seg_branch.')
        ] if load_seg_decoder else [])))


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
    dict(type='DiceMetric', dataset_name=dataset_name,
         class_names=seg_classes)
]
test_evaluator = val_evaluator
