# Foundation X exactly as the research code computes it (jlianglab/
# Foundation_X, the released configuration): converted official checkpoints
# load into this model (tools/model_converters/foundationx2fxmm.py) and
# reproduce the research outputs (docs/checkpoints.md). It differs from
# the default fx_mm architecture (./foundation_x_swin-b.py) where the
# research arithmetic differs:
# - the backbone returns un-normalised stages; classification normalises
#   stage 4 itself (`cls_branch.in_norm`), localization stages 2-4
#   (`loc_branch.in_norms`, research Locnorm1-3), segmentation uses them raw;
# - localization is ResearchDINO: biased input projections, a per-dataset
#   encoder-memory projection, separate refinement and output box heads
#   shared across decoder layers, shared query / denoising-label tables,
#   14 score columns per decoder;
# - segmentation is the research PSP + FPN decoder (ResearchPSPFPNHead).
# Head order and sizes are those of the default model (the datasets'
# `dataset_name`s; the seg heads are taken over below, as `_delete_` drops
# the rest of the default seg branch); the converter maps the research head
# indices to them.
_base_ = './foundation_x_swin-b.py'

model = dict(
    backbone=dict(type='fx_mm.FXSwinTransformer', out_norms=False),
    cls_branch=dict(in_norm=True),
    loc_branch=dict(
        type='ResearchDINO',
        in_norms=True,
        # research dn_labelbook_size + 1
        label_book_size=16,
        neck=dict(bias=True),
        # research num_classes: 14 score columns in every decoder
        bbox_head=dict(num_score_columns=14)),
    seg_branch=dict(
        _delete_=True,
        type='ResearchPSPFPNHead',
        datasets=_base_.model.seg_branch.datasets,
        in_channels=_base_.swin_channels,
        in_index=[0, 1, 2, 3],
        channels=128,
        pool_scales=(1, 2, 4, 6),
        psp_dropout=0.1,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='DiceLoss', use_sigmoid=True, loss_weight=1.0)))
