# Finetune Foundation X (Swin-B) on Montgomery lung segmentation (one "lungs" channel,
# the union of the left and right masks): backbone and shared segmentation
# decoder from the Foundation X checkpoint (see
# fx_swin-b_jsrt-organ_finetune.py for the choices), a new 1-channel head,
# everything trained. Head-only variant: *_head-only.py.
# Montgomery ships no split: fx_splits/montgomery_{train,val,test}.txt
# (seeded 80/10/10, docs/finetune.md).
_base_ = ['./fx_swin-b_jsrt-organ_finetune.py']

data_root = '{{$FX_MONTGOMERY_ROOT:data/MontgomerySet}}'
dataset_name = 'montgomery'
seg_classes = ('lungs', )

model = dict(
    seg_branch=dict(datasets={
        '_delete_': True,
        dataset_name: len(seg_classes)
    }))

# the loader arguments of every split, then those of each split
montgomery = dict(
    type='MontgomeryDataset',
    data_root=data_root,
    task='seg',
    merge_lungs=True)
montgomery_splits = {
    split: dict(ann_file=f'fx_splits/montgomery_{split}.txt')
    for split in ('train', 'val', 'test')
}
# one slot per split: the seg train pipeline in training, the test
# pipeline in val / test
train_cfg, val_cfg, test_cfg = (
    dict(slots=[
        dict(
            dataset=dict(
                montgomery,
                **montgomery_splits[split],
                pipeline=(_base_.train_pipelines.seg if split ==
                          'train' else _base_.test_pipeline),
                test_mode=split != 'train'))
    ]) for split in ('train', 'val', 'test'))
val_evaluator = [
    dict(
        type='DiceMetric', dataset_name=dataset_name, class_names=seg_classes)
]
test_evaluator = val_evaluator
