# Copyright (c) fx_mm contributors. All rights reserved.
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import fx_mm
from fx_mm.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_stack_imports_with_compiled_ops():
    import mmcv.ops
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401
    from mmcv.ops import nms
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert hasattr(mmcv.ops, 'MultiScaleDeformableAttention')
    assert fx_mm.__version__


def test_default_scope_builds_prefixed_openmmlab_modules():
    assert DefaultScope.get_current_instance().scope_name == 'fx_mm'
    head = MODELS.build(
        dict(type='mmdet.ChannelMapper', in_channels=[8, 16],
             out_channels=4))
    assert type(head).__module__.startswith('mmdet.')
    pool = MODELS.build(dict(type='mmpretrain.GlobalAveragePooling'))
    assert type(pool).__module__.startswith('mmpretrain.')
    loss = MODELS.build(dict(type='mmseg.DiceLoss'))
    assert type(loss).__module__.startswith('mmseg.')
    net = MODELS.build(
        dict(type='MultiDatasetClsBranch', in_channels=8,
             datasets=dict(a=3)))
    assert type(net).__module__.startswith('fx_mm.')


def test_unknown_type_names_the_type():
    import pytest
    with pytest.raises(KeyError, match='NotAModule'):
        MODELS.build(dict(type='NotAModule'))


def test_paper_config_parses():
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/models/foundation_x_swin-b.py'))
    heads = [
        cfg.model[f'{task}_branch'].datasets for task in ('cls', 'loc', 'seg')
    ]
    assert [len(h) for h in heads] == [11, 6, 3]
    assert cfg.model.backbone.depths == [2, 2, 18, 2]
