default_scope = 'fx_mm'
# mmengine's Runner reading load_from / --resume checkpoints with fx_mm's
# safe loader (local files only, weights_only=True; docs/reliability.md)
runner_type = 'FXRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # after every slot (and by iteration interval when `interval` > 0);
    # files are iter_<N>.pth so that `--resume auto` finds the latest
    checkpoint=dict(
        type='SlotCheckpointHook', slot_interval=1, interval=-1,
        max_keep_ckpts=3),
    # the cyclic loop orders samples itself (seeded by cycle/slot/phase)
    sampler_seed=None,
    # draws val/test predictions; off by default so training is not slowed
    # (tools/test.py --show / --show-dir turn it on)
    visualization=dict(type='FXVisualizationHook', draw=False))

custom_hooks = [
    dict(type='LockReleaseHook', lock_tasks=('loc', 'seg')),
    # paper: teacher = 0.8 teacher + 0.2 student at the end of every phase
    dict(type='MeanTeacherHook', student_weight=0.2, interval='phase'),
    dict(type='RNGStateHook'),
    dict(type='TaskGradClipHook', clip_grad=dict(loc=dict(max_norm=0.1))),
    # DDP only: stops the run if student/teacher differ between ranks
    dict(type='RankConsistencyHook', at=('slot_end', 'train_end')),
    # SIGTERM / SIGUSR1 (SLURM's warning signal): checkpoint at the next
    # iteration and exit; `--resume` continues (docs/reliability.md)
    dict(type='PreemptionHook', signals=('SIGTERM', 'SIGUSR1')),
    # a non-finite loss or gradient skips the step (logged with the batch's
    # files); 20 in a row stop the run
    dict(type='NaNGuardHook', action='skip', max_consecutive_skips=20),
    # per-slot counts of samples left out by datasets in skip mode
    dict(type='BadSampleHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# frozen parameters in lock phases produce no gradients
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)

# scalars (losses, lr, every slot's metrics) in <work_dir>/<timestamp>/
# vis_data: json (LocalVisBackend) and TensorBoard events
# (`tensorboard --logdir work_dirs`; tensorboard is a runtime requirement)
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend'),
]
visualizer = dict(type='FXVisualizer', vis_backends=vis_backends)
