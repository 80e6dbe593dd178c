# Head-only variant of fx_swin-b_jsrt-organ_finetune.py: backbone and shared
# segmentation decoder loaded from the Foundation X checkpoint and frozen for the
# whole run (requires_grad=False, eval mode); only the new head trains.
_base_ = ['./fx_swin-b_jsrt-organ_finetune.py']

model = dict(frozen_modules=['backbone', 'seg_branch.shared'])
