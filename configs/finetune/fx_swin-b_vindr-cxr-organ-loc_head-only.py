# Head-only variant of fx_swin-b_vindr-cxr-organ-loc_finetune.py: the
# backbone and the shared DINO part (input projections and encoder), both
# from the Foundation X checkpoint, are frozen for the whole run; only the
# dataset's decoder (queries, decoder layers, box/class branches) trains.
_base_ = ['./fx_swin-b_vindr-cxr-organ-loc_finetune.py']

model = dict(frozen_modules=[
    'backbone', 'loc_branch.neck', 'loc_branch.encoder'
])
