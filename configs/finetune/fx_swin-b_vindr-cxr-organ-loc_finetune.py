# Finetune Foundation X (Swin-B) on VinDr-CXR organ localization: one box per
# organ (Left Lung, Right Lung, Heart) computed from the CheXmask masks
# (CheXmaskDataset, task='loc'), from the OFFICIAL weights (converted,
# docs/finetune.md). The backbone and the shared DINO part (input norms,
# input projections, level embeddings, deformable encoder, the shared query
# and denoising-label tables) come from the Foundation X checkpoint; the new
# dataset's decoder starts from DINO's initialisation (a decoder of the same
# name and shape in the checkpoint would be loaded; the pretraining
# datasets' decoders are reported and skipped).
# Head-only variant: *_head-only.py.
# CheXmask's VinDr-CXR.csv has no split: fx_splits/VinDr-CXR_{train,val,
# test}.csv (seeded 80/10/10 by image, docs/finetune.md).
_base_ = [
    '../_base_/models/foundation_x_swin-b_research.py',
    './_base_/finetune_runtime.py'
]

fx_checkpoint = '{{$FX_CHECKPOINT:weights/foundation_x_fxmm.pth}}'
fx_network = '{{$FX_NETWORK:teacher}}'
data_root = '{{$FX_VINDR_ROOT:data/vindr-cxr/1.0.0}}'
box_classes = ('Left Lung', 'Right Lung', 'Heart')
dataset_name = 'chexmask_vindr_cxr'

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
    seg_branch=None,
    loc_branch=dict(
        datasets=dict(_delete_=True, chexmask_vindr_cxr=len(box_classes)),
        init_cfg=dict(
            type='Pretrained',
            checkpoint=fx_checkpoint,
            prefix=fx_network + '.loc_branch.')))

chexmask_splits = {
    split: dict(ann_file=f'fx_splits/VinDr-CXR_{split}.csv')
    for split in ('train', 'val', 'test')
}


def dataset(split, pipeline):
    return dict(
        type='CheXmaskDataset',
        data_root=data_root,
        task='loc',
        min_dice_rca=0.7,
        **chexmask_splits[split],
        pipeline=pipeline,
        test_mode=split != 'train')


train_cfg = dict(
    slots=[dict(dataset=dataset('train', {{_base_.train_pipelines.loc}}))])
val_cfg = dict(slots=[dict(dataset=dataset('val', {{_base_.test_pipeline}}))])
test_cfg = dict(
    slots=[dict(dataset=dataset('test', {{_base_.test_pipeline}}))])
val_evaluator = [
    dict(
        type='DetectionMAP',
        dataset_name=dataset_name,
        class_names=box_classes)
]
test_evaluator = val_evaluator
