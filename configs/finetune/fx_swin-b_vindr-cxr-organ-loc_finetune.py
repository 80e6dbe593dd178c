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
_base_ = ['./_base_/finetune_runtime.py']

data_root = '{{$FX_VINDR_ROOT:data/vindr-cxr/1.0.0}}'
# the head's key (the loader's `dataset_name`) and classes: the decoder
# size and the metric follow from them
dataset_name = 'chexmask_vindr_cxr'
box_classes = ('Left Lung', 'Right Lung', 'Heart')

model = dict(
    cls_branch=None,
    seg_branch=None,
    loc_branch=dict(
        datasets={
            '_delete_': True,
            dataset_name: len(box_classes)
        },
        init_cfg=dict(
            type='Pretrained',
            checkpoint=_base_.fx_checkpoint,
            prefix=_base_.fx_network + '.loc_branch.')))

# the loader arguments of every split, then those of each split
chexmask = dict(
    type='CheXmaskDataset', data_root=data_root, task='loc', min_dice_rca=0.7)
chexmask_splits = {
    split: dict(ann_file=f'fx_splits/VinDr-CXR_{split}.csv')
    for split in ('train', 'val', 'test')
}
# one slot per split: the loc train pipeline in training, the test
# pipeline in val / test
train_cfg, val_cfg, test_cfg = (
    dict(slots=[
        dict(
            dataset=dict(
                chexmask,
                **chexmask_splits[split],
                pipeline=(_base_.train_pipelines.loc if split ==
                          'train' else _base_.test_pipeline),
                test_mode=split != 'train'))
    ]) for split in ('train', 'val', 'test'))
val_evaluator = [
    dict(
        type='DetectionMAP',
        dataset_name=dataset_name,
        class_names=box_classes)
]
test_evaluator = val_evaluator
