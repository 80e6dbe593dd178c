# A short run from scratch (the CPU-sized configs: the synthetic demo, the
# JSRT multi-task and cross-task studies): the paper's optimizer and loop
# (./lock_release.py) at 10x its learning rate, warmed up linearly over the
# first 50 iterations, then annealed by a cosine over the cycles down to
# 1e-5 at the run's last cycle.
_base_ = './lock_release.py'

optim_wrapper = dict(optimizer=dict(lr=1e-3))

# The two parts of the schedule. mmengine parses a base on its own, so the
# cosine here cannot end at a child's `max_cycles`: a child sets its run
# length and ends the cosine there,
#   max_cycles = 3
#   train_cfg = dict(max_cycles=max_cycles)
#   param_scheduler = [
#       _base_.short_run_warmup,
#       dict(_base_.short_run_cosine, end=max_cycles, T_max=max_cycles)
#   ]
# (tests/test_configs.py checks every config that uses them). Left as they
# are, mmengine's runner ends the cosine at the loop's max_cycles.
short_run_warmup = dict(
    type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50)
short_run_cosine = dict(
    type='CosineAnnealingLR', by_epoch=True, begin=0, eta_min=1e-5)
param_scheduler = [short_run_warmup, short_run_cosine]
