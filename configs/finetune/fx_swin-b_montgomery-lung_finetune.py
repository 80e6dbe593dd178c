# Finetune Foundation X (Swin-B) on Montgomery lung segmentation (one "lungs" channel,
# the union of the left and right masks): backbone and shared segmentation
# decoder from the Foundation X checkpoint (see
# fx_swin-b_jsrt-organ_finetune.py for the choices), a new 1-channel head,
# everything trained. Head-only variant: *_head-only.py.
# Montgomery ships no split: fx_splits/montgomery_{train,val,test}.txt
# (seeded 80/10/10, docs/finetune.md).
_base_ = ['./fx_swin-b_jsrt-organ_finetune.py']

data_root = '{{$FX_MONTGOMERY_ROOT:data/MontgomerySet}}'
seg_classes = ('lungs', )

model = dict(seg_branch=dict(datasets=dict(_delete_=True, montgomery=1)))


montgomery_splits = {
    split: dict(ann_file=f'fx_splits/montgomery_{split}.txt')
    for split in ('train', 'val', 'test')
}


def dataset(split, pipeline):
    return dict(
        type='MontgomeryDataset',
        data_root=data_root,
        task='seg',
        merge_lungs=True,
        **montgomery_splits[split],
        pipeline=pipeline,
        test_mode=split != 'train')


train_cfg = dict(
    slots=[dict(dataset=dataset('train', {{_base_.train_pipelines.seg}}))])
val_cfg = dict(slots=[dict(dataset=dataset('val', {{_base_.test_pipeline}}))])
test_cfg = dict(
    slots=[dict(dataset=dataset('test', {{_base_.test_pipeline}}))])
val_evaluator = [
    dict(type='DiceMetric', dataset_name='montgomery', class_names=seg_classes)
]
test_evaluator = val_evaluator
