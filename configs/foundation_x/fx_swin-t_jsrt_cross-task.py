# The cross-task study of docs/results.md: nodule classification, organ
# localization (one box per SCR organ) and organ segmentation on real JSRT,
# by Cyclic & Lock-Release with the mean teacher, sized so that 3 seeds x
# (multi-task, no-lock, no-consistency, 3 single-task runs) fit in about an
# hour on 2 CPU cores: 128 px, 3 cycles of (0.5 lock + 1.0 release) passes
# per slot, from scratch, no validation during training (each run is
# tested once at its end).
#
#   FX_JSRT_ROOT=../shared/data/jsrt \
#   python tools/analysis_tools/multitask_ablation.py \
#       configs/foundation_x/fx_swin-t_jsrt_cross-task.py \
#       --work-dir work_dirs/jsrt_cross-task --seeds 0 1 2 \
#       --variants no-lock no-consistency
#
# The transfer matrix (the paper's "slot trained -> change of each slot's
# metric"): one run that validates every val slot after every train slot,
#
#   FX_JSRT_ROOT=../shared/data/jsrt python tools/train.py \
#       configs/foundation_x/fx_swin-t_jsrt_cross-task.py \
#       --work-dir work_dirs/jsrt_cross-task_transfer \
#       --cfg-options train_cfg.val_interval=1
#   python tools/analysis_tools/transfer_matrix.py \
#       work_dirs/jsrt_cross-task_transfer
_base_ = './fx_swin-t_jsrt_multitask_organ-loc.py'

image_size = 128
max_cycles = 3


def _at_image_size(slot):
    """The slot with its pipeline's resize / crop at ``image_size``
    (the dataset base writes its pipelines at 256 px)."""
    pipeline = []
    for transform in slot['dataset']['pipeline']:
        if transform['type'] == 'mmdet.Resize':
            transform = dict(transform, scale=(image_size, image_size))
        elif transform['type'] == 'mmpretrain.RandomResizedCrop':
            transform = dict(transform, scale=image_size)
        pipeline.append(transform)
    return dict(slot, dataset=dict(slot['dataset'], pipeline=pipeline))


def _study_slots(slots):
    """nodule cls, organ loc, organ seg: the nodule boxes (slot 2 of the
    organ-loc config) are left out, nothing learns them at this budget
    (docs/results.md)."""
    return [_at_image_size(slot) for i, slot in enumerate(slots) if i != 1]


# the organ-box decoder only
model = dict(
    loc_branch=dict(
        datasets=dict(
            _delete_=True,
            jsrt_organs=_base_.model.loc_branch.datasets.jsrt_organs)))

train_cfg = dict(
    slots=_study_slots(_base_.train_cfg.slots),
    max_cycles=max_cycles,
    # 1: validate every val slot after each train slot (transfer matrix)
    val_interval=0,
    val_scope='all',
    val_at_cycle_end=False)
val_cfg = dict(slots=_study_slots(_base_.val_cfg.slots))
test_cfg = dict(slots=_study_slots(_base_.test_cfg.slots))
val_evaluator = [
    e for i, e in enumerate(_base_.val_evaluator) if i != 1
]
test_evaluator = val_evaluator
# the short-run schedule of the base, its cosine ending at this max_cycles
param_scheduler = [
    _base_.short_run_warmup,
    dict(_base_.short_run_cosine, end=max_cycles, T_max=max_cycles)
]
# the last checkpoint is what the study tests
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
