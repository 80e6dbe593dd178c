# Head-only variant of fx_swin-b_vindr-cxr-organ-loc_finetune.py: the
# backbone and the shared DINO part (`loc_branch.shared`: input norms and
# projections, level embeddings, encoder, shared query tables), all from the
# Foundation X checkpoint, are frozen for the whole run; only the dataset's
# decoder (memory projection, decoder layers, box/class branches) trains.
_base_ = ['./fx_swin-b_vindr-cxr-organ-loc_finetune.py']

model = dict(frozen_modules=['backbone', 'loc_branch.shared'])
