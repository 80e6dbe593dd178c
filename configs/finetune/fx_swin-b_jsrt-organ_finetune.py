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
_base_ = ['./_base_/finetune_runtime.py', '../_base_/datasets/jsrt_meta.py']

# True: backbone + shared seg decoder from the checkpoint (`fx_checkpoint`
# of the runtime); False: backbone only
load_seg_decoder = True

# the head's key (the loader's `dataset_name`) and classes (all five
# organs, ../../_base_/datasets/jsrt_meta.py): the head size and the metric
# follow from them
dataset_name = 'jsrt'
seg_classes = _base_.jsrt_seg_classes

# ---------------------------------------------------------------------------
model = dict(
    cls_branch=None,
    loc_branch=None,
    seg_branch=dict(
        datasets={
            '_delete_': True,
            dataset_name: len(seg_classes)
        },
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
                checkpoint=_base_.fx_checkpoint,
                prefix=_base_.fx_network + '.seg_branch.')
        ] if load_seg_decoder else [])))

# the loader arguments of every split; each slot adds its split
jsrt = dict(
    type='JSRTDataset',
    data_root=_base_.jsrt_root,
    task='seg',
    seg_classes=seg_classes)
# one slot per split: the seg train pipeline in training, the test
# pipeline in val / test
train_cfg, val_cfg, test_cfg = (
    dict(slots=[
        dict(
            dataset=dict(
                jsrt,
                split=split,
                pipeline=(_base_.train_pipelines.seg if split ==
                          'train' else _base_.test_pipeline),
                test_mode=split != 'train'))
    ]) for split in ('train', 'val', 'test'))
val_evaluator = [
    dict(
        type='DiceMetric', dataset_name=dataset_name, class_names=seg_classes)
]
test_evaluator = val_evaluator
