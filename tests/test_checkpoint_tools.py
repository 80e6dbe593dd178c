# Copyright (c) fx_mm contributors. All rights reserved.
"""publish_model.py and foundationx2fxmm.py on real (tiny) models."""
import hashlib
import os.path as osp
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from fx_test_utils import load_tool, tiny_demo_config
from mmengine.logging import MessageHub

from fx_mm.models.utils import FXPretrainedInit
from fx_mm.registry import MODELS
from fx_mm.utils import load_fx_checkpoint


def _net_cfg(model_cfg) -> dict:
    return dict(
        type='FoundationXNet',
        backbone=model_cfg.backbone,
        cls_branch=model_cfg.cls_branch,
        loc_branch=model_cfg.loc_branch,
        seg_branch=model_cfg.seg_branch)


def _assert_same(module, reference: dict, prefix: str = '') -> None:
    own = module.state_dict()
    for key, value in reference.items():
        assert torch.equal(own[prefix + key], value), key


# ---------------------------------------------------------------------------
# publish_model.py


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny FoundationX training checkpoint whose teacher differs from its
    student, with optimizer, message hub and RNG state like a real one."""
    tmp = tmp_path_factory.mktemp('publish')
    cfg = tiny_demo_config(str(tmp))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.5)
    optimizer = torch.optim.AdamW(model.student.parameters())
    hub = MessageHub.get_instance('fx_publish_test')
    hub.update_scalar('train/loss', 1.5)
    checkpoint = dict(
        meta=dict(
            epoch=2,
            iter=40,
            cfg=cfg.pretty_text,
            rng_states=dict(numpy=np.random.get_state()[1])),
        state_dict=model.state_dict(),
        optimizer=optimizer.state_dict(),
        message_hub=hub.state_dict())
    path = str(tmp / 'cycle_2.pth')
    torch.save(checkpoint, path)
    student = {k: v.clone() for k, v in model.student.state_dict().items()}
    teacher = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    return cfg, path, student, teacher, tmp


def test_publish_teacher_for_fx_without_teacher(trained):
    cfg, path, student, teacher, tmp = trained
    assert any(not torch.equal(student[k], teacher[k]) for k in student)
    final = load_tool('tools/model_converters/publish_model.py').main(
        [path, str(tmp / 'fx_tiny.pth')])
    match = re.fullmatch(r'fx_tiny-([0-9a-f]{8})\.pth', osp.basename(final))
    assert match, final
    with open(final, 'rb') as f:
        assert match.group(1) == hashlib.sha256(f.read()).hexdigest()[:8]
    assert not osp.exists(tmp / 'fx_tiny.pth')

    released = load_fx_checkpoint(final)
    assert set(released) == {'meta', 'state_dict'}
    assert 'rng_states' not in released['meta']
    assert released['meta']['iter'] == 40
    assert released['meta']['fx_mm_publish']['weights'] == 'teacher'
    assert not any(k.startswith('teacher.') for k in released['state_dict'])

    no_teacher = cfg.model.copy()
    no_teacher.update(
        with_teacher=False, consistency_weight=0.0, predict_on='student')
    model = MODELS.build(no_teacher)
    model.load_state_dict(released['state_dict'], strict=True)
    _assert_same(model.student, teacher)
    # a Pretrained init config (whole model) reads it too
    model = MODELS.build(no_teacher)
    FXPretrainedInit(checkpoint=final)(model)
    _assert_same(model.student, teacher)


def test_publish_net_only_and_keep_student(trained):
    cfg, path, student, teacher, tmp = trained
    publish = load_tool('tools/model_converters/publish_model.py')
    final = publish.main([path, str(tmp / 'net.pth'), '--net-only'])
    net = MODELS.build(_net_cfg(cfg.model))
    net.load_state_dict(load_fx_checkpoint(final)['state_dict'], strict=True)
    _assert_same(net, teacher)

    final = publish.main([path, str(tmp / 'both.pth'), '--keep-student'])
    model = MODELS.build(cfg.model)
    model.load_state_dict(load_fx_checkpoint(final)['state_dict'], strict=True)
    _assert_same(model.teacher, teacher)
    _assert_same(model.student, student)

    with pytest.raises(SystemExit):  # argparse: mutually exclusive
        publish.parse_args([path, 'x.pth', '--net-only', '--keep-student'])


def test_publish_without_teacher(tmp_path):
    path = str(tmp_path / 'student_only.pth')
    torch.save(
        dict(
            meta=dict(),
            state_dict=OrderedDict([('student.backbone.w', torch.zeros(1))])),
        path)
    publish = load_tool('tools/model_converters/publish_model.py')
    with pytest.raises(KeyError, match='--weights student'):
        publish.main([path, str(tmp_path / 'out.pth')])
    final = publish.main(
        [path, str(tmp_path / 'out.pth'), '--weights', 'student'])
    assert list(
        load_fx_checkpoint(final)['state_dict']) == ['student.backbone.w']
