# The embedded default on the research-compatible architecture (the layout
# that converted official Foundation X weights load into; see
# configs/_base_/models/foundation_x_swin-b_research.py): the same slots,
# schedule and mean teacher, at the demo's CPU size.
#
#   python tools/train.py configs/foundation_x/fx_swin-t_synthetic_demo_research.py
_base_ = ['./fx_swin-t_synthetic_demo.py']

model = dict(
    backbone=dict(type='fx_mm.FXSwinTransformer', out_norms=False),
    cls_branch=dict(in_norm=True),
    loc_branch=dict(
        type='ResearchDINO',
        in_norms=True,
        label_book_size=16,
        neck=dict(bias=True),
        bbox_head=dict(num_score_columns=14)),
    seg_branch=dict(
        _delete_=True,
        type='ResearchPSPFPNHead',
        datasets=_base_.model.seg_branch.datasets,
        in_channels=_base_.swin_channels,
        in_index=[0, 1, 2, 3],
        # the research FPN has no lateral conv on stage 1: its width
        channels=_base_.swin_channels[0],
        pool_scales=(1, 2, 4, 6),
        psp_dropout=0.1,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='DiceLoss', use_sigmoid=True, loss_weight=1.0)))
