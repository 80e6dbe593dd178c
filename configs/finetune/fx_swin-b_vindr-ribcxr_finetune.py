# Finetune Foundation X (Swin-B) on VinDr-RibCXR rib segmentation (20 channels,
# R1..R10, L1..L10): backbone and shared segmentation
# decoder from the Foundation X checkpoint (see
# fx_swin-b_jsrt-organ_finetune.py for the choices), a new 20-channel head,
# everything trained. Head-only variant: *_head-only.py.
# Official split: train (196) / val (49); val serves as val and test.
_base_ = ['./fx_swin-b_jsrt-organ_finetune.py']

data_root = '{{$FX_VINDR_RIBCXR_ROOT:data/vindr_ribcxr}}'
seg_classes = tuple(f'R{i}' for i in range(1, 11)) + tuple(
    f'L{i}' for i in range(1, 11))

model = dict(seg_branch=dict(datasets=dict(_delete_=True, vindr_ribcxr=20)))


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


def dataset(split, pipeline):
    return dict(
        type='VinDrRibCXRDataset',
        data_root=data_root,
        task='seg',
        **ribcxr_splits[split],
        pipeline=pipeline,
        test_mode=split != 'train')


train_cfg = dict(
    slots=[dict(dataset=dataset('train', {{_base_.train_pipelines.seg}}))])
val_cfg = dict(slots=[dict(dataset=dataset('val', {{_base_.test_pipeline}}))])
test_cfg = dict(
    slots=[dict(dataset=dataset('test', {{_base_.test_pipeline}}))])
val_evaluator = [
    dict(type='DiceMetric', dataset_name='vindr_ribcxr', class_names=seg_classes)
]
test_evaluator = val_evaluator
