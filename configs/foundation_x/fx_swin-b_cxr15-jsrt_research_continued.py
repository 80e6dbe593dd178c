# Continued pretraining from the OFFICIAL Foundation X weights with one new
# (dataset, task) slot: JSRT organ segmentation (heart, lungs, clavicles)
# joins the 20 slots of the paper. The converted checkpoint (student and
# teacher) fills every pretrained weight; the new JSRT head starts from its
# initialisation (mmengine reports it as missing from the checkpoint).
#
#   FX_CHECKPOINT=weights/foundation_x_fxmm.pth FX_JSRT_ROOT=data/jsrt \
#   python tools/train.py \
#       configs/foundation_x/fx_swin-b_cxr15-jsrt_research_continued.py
# The JSRT root (FX_JSRT_ROOT) and organ classes: ../_base_/datasets/
# jsrt_meta.py. The JSRT dataset config (../_base_/datasets/jsrt.py) cannot
# be a base here: it redefines the pipelines (at 256 px; this slot takes
# the paper's 224 px ones), slots and evaluator of the paper's dataset base,
# and mmengine refuses a key that two bases define.
_base_ = ['./fx_swin-b_cxr15_research.py', '../_base_/datasets/jsrt_meta.py']

load_from = '{{$FX_CHECKPOINT:weights/foundation_x_fxmm.pth}}'

model = dict(seg_branch=dict(datasets=dict(jsrt=len(_base_.jsrt_seg_classes))))

# the loader arguments of every split; each slot adds its split
jsrt = dict(
    type='JSRTDataset',
    data_root=_base_.jsrt_root,
    task='seg',
    seg_classes=_base_.jsrt_seg_classes)
train_cfg = dict(slots=_base_.train_slots + [
    dict(
        dataset=dict(
            jsrt,
            split='train',
            pipeline=_base_.train_pipelines.seg,
            test_mode=False))
])
val_cfg = dict(slots=_base_.val_slots + [
    dict(
        dataset=dict(
            jsrt, split='val', pipeline=_base_.test_pipeline, test_mode=True))
])
test_cfg = dict(slots=_base_.test_slots + [
    dict(
        dataset=dict(
            jsrt, split='test', pipeline=_base_.test_pipeline, test_mode=True))
])
val_evaluator = _base_.val_evaluator + [
    dict(
        type='DiceMetric',
        dataset_name='jsrt',
        class_names=_base_.jsrt_seg_classes)
]
test_evaluator = val_evaluator
