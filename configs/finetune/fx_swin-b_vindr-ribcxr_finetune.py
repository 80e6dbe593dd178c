# Finetune Foundation X (Swin-B) on VinDr-RibCXR rib segmentation (20 channels,
# R1..R10, L1..L10): backbone and shared segmentation
# decoder from the Foundation X checkpoint (see
# fx_swin-b_jsrt-organ_finetune.py for the choices), a new 20-channel head,
# everything trained. Head-only variant: *_head-only.py.
# Official split: train (196) / val (49); val serves as val and test.
_base_ = ['./fx_swin-b_jsrt-organ_finetune.py']

data_root = '{{$FX_VINDR_RIBCXR_ROOT:data/vindr_ribcxr}}'
dataset_name = 'vindr_ribcxr'
seg_classes = tuple(f'R{i}'
                    for i in range(1, 11)) + tuple(f'L{i}'
                                                   for i in range(1, 11))

model = dict(
    seg_branch=dict(datasets={
        '_delete_': True,
        dataset_name: len(seg_classes)
    }))

# the loader arguments of every split, then those of each split
ribcxr = dict(type='VinDrRibCXRDataset', data_root=data_root, task='seg')
ribcxr_splits = dict(
    train=dict(
        ann_file='Vindr_RibCXR_train_mask.json',
        data_prefix=dict(img_path='data/train/img')),
    val=dict(
        ann_file='Vindr_RibCXR_val_mask.json',
        data_prefix=dict(img_path='data/val/img')),
    test=dict(
        ann_file='Vindr_RibCXR_val_mask.json',
        data_prefix=dict(img_path='data/val/img')))
# one slot per split: the seg train pipeline in training, the test
# pipeline in val / test
train_cfg, val_cfg, test_cfg = (
    dict(slots=[
        dict(
            dataset=dict(
                ribcxr,
                **ribcxr_splits[split],
                pipeline=(_base_.train_pipelines.seg if split ==
                          'train' else _base_.test_pipeline),
                test_mode=split != 'train'))
    ]) for split in ('train', 'val', 'test'))
val_evaluator = [
    dict(
        type='DiceMetric', dataset_name=dataset_name, class_names=seg_classes)
]
test_evaluator = val_evaluator
