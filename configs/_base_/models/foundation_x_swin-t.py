# A small Foundation X for CPU: Swin-T layout at reduced width/depth, 2-layer
# DINO with 50 queries, 64-channel UperNet. Used by the embedded default
# (synthetic phantoms), the JSRT configs and the tests. The heads are the
# paper's until a child config sets its own (each branch's `datasets`, with
# `_delete_=True`, sized from its dataset config's class table).
_base_ = './foundation_x_swin-b.py'

swin_channels = [32, 64, 128, 256]
# mmdet 3.3's DINO decoder encodes query positions with 128 sine features
# per coordinate pair, i.e. it only works with embed_dims == 256
embed_dims = 256
num_queries = 50

model = dict(
    backbone=dict(
        embed_dims=32,
        depths=[2, 2, 2, 2],
        num_heads=[1, 2, 4, 8],
        drop_path_rate=0.1,
        with_cp=False),
    cls_branch=dict(in_channels=swin_channels[-1]),
    loc_branch=dict(
        num_queries=num_queries,
        neck=dict(
            in_channels=swin_channels[1:],
            out_channels=embed_dims,
            norm_cfg=dict(type='GN', num_groups=32)),
        encoder=dict(
            num_layers=2,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_levels=4),
                ffn_cfg=dict(embed_dims=embed_dims,
                             feedforward_channels=256))),
        decoder=dict(
            num_layers=2,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
                cross_attn_cfg=dict(embed_dims=embed_dims, num_levels=4),
                ffn_cfg=dict(embed_dims=embed_dims,
                             feedforward_channels=256))),
        positional_encoding=dict(num_feats=embed_dims // 2),
        dn_cfg=dict(group_cfg=dict(num_dn_queries=20)),
        test_cfg=dict(max_per_img=50)),
    seg_branch=dict(in_channels=swin_channels, channels=64))
