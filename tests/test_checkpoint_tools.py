# Copyright (c) fx_mm contributors. All rights reserved.
"""publish_model.py and foundationx2fxmm.py on real (tiny) models."""
import argparse
import hashlib
import importlib.util
import os.path as osp
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from fx_test_utils import REPO_ROOT, tiny_demo_config, write_config
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint
from test_swin_converters import _randomise_norms, _timm_from_torchvision
from torchvision.models.swin_transformer import \
    SwinTransformer as TorchvisionSwin

from fx_mm.models.utils.research_converter import convert_research_checkpoint
from fx_mm.registry import MODELS
from fx_mm.utils import load_fx_checkpoint


def _tool(name: str):
    path = osp.join(REPO_ROOT, 'tools', 'model_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'fx_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    final = _tool('publish_model').main([path, str(tmp / 'fx_tiny.pth')])
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
    # mmengine's loader (load_from) reads it too
    model = MODELS.build(no_teacher)
    load_checkpoint(model, final, strict=True)
    _assert_same(model.student, teacher)


def test_publish_net_only_and_keep_student(trained):
    cfg, path, student, teacher, tmp = trained
    publish = _tool('publish_model')
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
    publish = _tool('publish_model')
    with pytest.raises(KeyError, match='--weights student'):
        publish.main([path, str(tmp_path / 'out.pth')])
    final = publish.main(
        [path, str(tmp_path / 'out.pth'), '--weights', 'student'])
    assert list(
        load_fx_checkpoint(final)['state_dict']) == ['student.backbone.w']


# ---------------------------------------------------------------------------
# foundationx2fxmm.py

D, FFN, LEVELS, POINTS, XHEADS = 256, 256, 4, 4, 8
# research pre-training: 14 detection classes (1-based ids), labelbook 15
RESEARCH_CLASSES, LABELBOOK = 14, 15
RESEARCH_CLS_SIZES = (1, 1, 1, 3, 13, 1, 14, 14, 6, 1, 14)


def _linear(state, name, out_features, in_features, gen):
    state[f'{name}.weight'] = torch.randn(
        out_features, in_features, generator=gen)
    state[f'{name}.bias'] = torch.randn(out_features, generator=gen)


def _norm(state, name, width, gen):
    state[f'{name}.weight'] = 1 + 0.1 * torch.randn(width, generator=gen)
    state[f'{name}.bias'] = 0.1 * torch.randn(width, generator=gen)


def _deform_attn(state, name, gen):
    _linear(state, f'{name}.sampling_offsets', XHEADS * LEVELS * POINTS * 2, D,
            gen)
    _linear(state, f'{name}.attention_weights', XHEADS * LEVELS * POINTS, D,
            gen)
    _linear(state, f'{name}.value_proj', D, D, gen)
    _linear(state, f'{name}.output_proj', D, D, gen)


def _mlp(state, name, gen):
    _linear(state, f'{name}.layers.0', D, D, gen)
    _linear(state, f'{name}.layers.1', D, D, gen)
    _linear(state, f'{name}.layers.2', 4, D, gen)


def research_state_dict(tv_swin, queries: int, enc_layers: int,
                        dec_layers: int) -> OrderedDict:
    """A state dict with the research model's names and shapes (tiny Swin,
    tiny transformer), written from the research code's module layout."""
    gen = torch.Generator().manual_seed(7)
    state = OrderedDict()
    # backbone: Swin-Det naming + three sets of output norms + heads
    for key, value in _timm_from_torchvision(tv_swin.state_dict(),
                                             False).items():
        if not key.startswith('head.'):
            state['backbone.0.' + key] = value
    widths = (32, 64, 128, 256)
    for i in (1, 2, 3):
        _norm(state, f'backbone.0.Locnorm{i}', widths[i], gen)
    for i in range(4):
        _norm(state, f'backbone.0.Segnorm{i}', widths[i], gen)
    _linear(state, 'backbone.0.head', 10, 256, gen)
    for k, n in enumerate(RESEARCH_CLS_SIZES):
        _linear(state, f'backbone.0.classification_heads.{k}', n, 256, gen)
    state['backbone.0.segmentation_PPN.stages.0.1.weight'] = torch.randn(
        64, 256, 1, 1, generator=gen)
    _norm(state, 'backbone.0.segmentation_PPN.stages.0.2', 64, gen)
    state['backbone.0.segmentation_FPN.smooth_conv.0.weight'] = torch.randn(
        32, 32, 3, 3, generator=gen)
    for k in range(6):
        state[f'backbone.0.segmentation_heads.{k}.weight'] = torch.randn(
            13 if k == 4 else 1, 32, 3, 3, generator=gen)
    # DINO: input projections (conv with bias + GN), shared encoder
    for i, channels in enumerate((64, 128, 256)):
        state[f'input_proj.{i}.0.weight'] = torch.randn(
            D, channels, 1, 1, generator=gen)
        state[f'input_proj.{i}.0.bias'] = torch.randn(D, generator=gen)
        _norm(state, f'input_proj.{i}.1', D, gen)
    state['input_proj.3.0.weight'] = torch.randn(D, 256, 3, 3, generator=gen)
    state['input_proj.3.0.bias'] = torch.randn(D, generator=gen)
    _norm(state, 'input_proj.3.1', D, gen)
    state['transformer.level_embed'] = torch.randn(LEVELS, D, generator=gen)
    for layer in range(enc_layers):
        name = f'transformer.encoder.layers.{layer}'
        _deform_attn(state, f'{name}.self_attn', gen)
        _norm(state, f'{name}.norm1', D, gen)
        _linear(state, f'{name}.linear1', FFN, D, gen)
        _linear(state, f'{name}.linear2', D, FFN, gen)
        _norm(state, f'{name}.norm2', D, gen)
    state['transformer.tgt_embed.weight'] = torch.randn(
        queries, D, generator=gen)
    state['label_enc.weight'] = torch.randn(LABELBOOK + 1, D, generator=gen)
    # six decoders with their prediction layers
    for k in range(6):
        _linear(state, f'transformer.enc_output.{k}', D, D, gen)
        _norm(state, f'transformer.enc_output_norm.{k}', D, gen)
        _linear(state, f'transformer.enc_out_class_embed.{k}',
                RESEARCH_CLASSES, D, gen)
        _mlp(state, f'transformer.enc_out_bbox_embed.{k}', gen)
        _linear(state, f'transformer.enc_outputMem_LinearProjection.{k}', D, D,
                gen)
        dec = f'transformer.decoder.{k}'
        for layer in range(dec_layers):
            name = f'{dec}.layers.{layer}'
            _deform_attn(state, f'{name}.cross_attn', gen)
            _norm(state, f'{name}.norm1', D, gen)
            state[f'{name}.self_attn.in_proj_weight'] = torch.randn(
                3 * D, D, generator=gen)
            state[f'{name}.self_attn.in_proj_bias'] = torch.randn(
                3 * D, generator=gen)
            _linear(state, f'{name}.self_attn.out_proj', D, D, gen)
            _norm(state, f'{name}.norm2', D, gen)
            _linear(state, f'{name}.linear1', FFN, D, gen)
            _linear(state, f'{name}.linear2', D, FFN, gen)
            _norm(state, f'{name}.norm3', D, gen)
        _norm(state, f'{dec}.norm', D, gen)
        _linear(state, f'{dec}.ref_point_head.layers.0', D, 2 * D, gen)
        _linear(state, f'{dec}.ref_point_head.layers.1', D, D, gen)
        # dec_pred_*_embed_share: one module per decoder, listed per layer
        class_embed = {}
        _linear(class_embed, 'x', RESEARCH_CLASSES, D, gen)
        bbox_embed = {}
        _mlp(bbox_embed, 'x', gen)
        for layer in range(dec_layers):
            for prefix in (f'class_embed.{k}.{layer}',
                           f'{dec}.class_embed.{layer}',
                           f'class_embed_.{k}.{layer}'):
                for p in ('weight', 'bias'):
                    state[f'{prefix}.{p}'] = class_embed[f'x.{p}']
            for prefix in (f'bbox_embed.{k}.{layer}',
                           f'{dec}.bbox_embed.{layer}',
                           f'bbox_embed_.{k}.{layer}'):
                for j in range(3):
                    for p in ('weight', 'bias'):
                        state[f'{prefix}.layers.{j}.{p}'] = \
                            bbox_embed[f'x.layers.{j}.{p}']
    return state


@pytest.fixture(scope='module')
def research(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('research')
    cfg = tiny_demo_config(str(tmp))
    cfg.model.cls_branch.datasets = dict(
        tbx11k=1,
        chexpert=14,
        rsna_pneumonia=dict(num_classes=3, multi_label=False))
    cfg.model.loc_branch.datasets = dict(tbx11k=1, chestx_det=13)
    cfg.model.seg_branch.datasets = dict(chestx_det=13)
    cfg.model.seg_branch.loss_decode = dict(type='DiceLoss', use_sigmoid=True)
    config = write_config(cfg, str(tmp / 'fx_tiny.py'))
    torch.manual_seed(0)
    tv_swin = TorchvisionSwin(
        patch_size=[4, 4],
        embed_dim=32,
        depths=[2, 2, 2, 2],
        num_heads=[1, 2, 4, 8],
        window_size=[7, 7],
        stochastic_depth_prob=0.,
        num_classes=10)
    _randomise_norms(tv_swin)
    tv_swin.eval()
    teacher = research_state_dict(
        tv_swin,
        queries=cfg.model.loc_branch.num_queries,
        enc_layers=cfg.model.loc_branch.encoder.num_layers,
        dec_layers=cfg.model.loc_branch.decoder.num_layers)
    student = OrderedDict((k, torch.zeros_like(v)) for k, v in teacher.items())
    path = str(tmp / 'research.pth')
    torch.save(
        dict(
            model=OrderedDict(('module.' + k, v) for k, v in student.items()),
            teacher_model=teacher,
            args=argparse.Namespace(lr=1e-4, backbone='swin_T_224_1k'),
            epoch=31), path)
    return cfg, config, path, teacher, tv_swin, tmp


def test_research_checkpoint_loads_strictly(research):
    cfg, config, path, r, tv_swin, tmp = research
    out = str(tmp / 'converted.pth')
    report = _tool('foundationx2fxmm').main([path, out, '--config', config])
    converted = load_fx_checkpoint(out)['state_dict']
    assert all(k.startswith('student.') for k in converted)
    no_teacher = cfg.model.copy()
    no_teacher.update(
        with_teacher=False, consistency_weight=0.0, predict_on='student')
    model = MODELS.build(no_teacher)
    model.load_state_dict(converted, strict=True)
    net = model.student
    s = net.state_dict()

    # the key-mapping table of docs/checkpoints.md, entry by entry
    def same(fx_key, research_value):
        assert torch.equal(s[fx_key], research_value), fx_key

    same('cls_branch.heads.chexpert.fc.weight',
         r['backbone.0.classification_heads.6.weight'])
    same('cls_branch.heads.rsna_pneumonia.fc.bias',
         r['backbone.0.classification_heads.3.bias'])
    same('cls_branch.heads.tbx11k.fc.weight',
         r['backbone.0.classification_heads.0.weight'])
    same('backbone.norm3.weight', r['backbone.0.norm.weight'])
    same('backbone.norm0.bias', r['backbone.0.Segnorm0.bias'])
    same('backbone.norm2.weight', r['backbone.0.Locnorm2.weight'])
    same('loc_branch.neck.convs.1.conv.weight', r['input_proj.1.0.weight'])
    same('loc_branch.neck.convs.1.gn.weight', r['input_proj.1.1.weight'])
    same('loc_branch.neck.extra_convs.0.conv.weight',
         r['input_proj.3.0.weight'])
    same('loc_branch.level_embed', r['transformer.level_embed'])
    same('loc_branch.encoder.layers.1.self_attn.value_proj.weight',
         r['transformer.encoder.layers.1.self_attn.value_proj.weight'])
    same('loc_branch.encoder.layers.0.norms.0.weight',
         r['transformer.encoder.layers.0.norm1.weight'])
    same('loc_branch.encoder.layers.0.ffn.layers.1.weight',
         r['transformer.encoder.layers.0.linear2.weight'])
    # decoder 4 of the research model is ChestX-Det's
    dec = 'loc_branch.decoders.chestx_det.'
    rdec = 'transformer.decoder.4.'
    same(dec + 'decoder.layers.1.norms.0.weight',
         r[rdec + 'layers.1.norm2.weight'])  # after self-attention
    same(dec + 'decoder.layers.1.norms.1.weight',
         r[rdec + 'layers.1.norm1.weight'])  # after cross-attention
    same(dec + 'decoder.layers.1.norms.2.bias',
         r[rdec + 'layers.1.norm3.bias'])
    same(dec + 'decoder.layers.0.self_attn.attn.in_proj_weight',
         r[rdec + 'layers.0.self_attn.in_proj_weight'])
    same(dec + 'decoder.layers.0.cross_attn.sampling_offsets.bias',
         r[rdec + 'layers.0.cross_attn.sampling_offsets.bias'])
    same(dec + 'decoder.layers.0.ffn.layers.0.0.weight',
         r[rdec + 'layers.0.linear1.weight'])
    same(dec + 'decoder.ref_point_head.layers.0.weight',
         r[rdec + 'ref_point_head.layers.0.weight'])
    same(dec + 'decoder.norm.weight', r[rdec + 'norm.weight'])
    same(dec + 'memory_trans_fc.weight', r['transformer.enc_output.4.weight'])
    same(dec + 'memory_trans_norm.bias',
         r['transformer.enc_output_norm.4.bias'])
    same(dec + 'query_embedding.weight', r['transformer.tgt_embed.weight'])
    same('loc_branch.decoders.tbx11k.query_embedding.weight',
         r['transformer.tgt_embed.weight'])
    # 1-based research classes: fx_mm class c is research class c + 1
    same(dec + 'bbox_head.cls_branches.1.weight',
         r['class_embed.4.1.weight'][1:14])
    same(dec + 'bbox_head.cls_branches.2.bias',
         r['transformer.enc_out_class_embed.4.bias'][1:14])
    same('loc_branch.decoders.tbx11k.bbox_head.cls_branches.0.weight',
         r['class_embed.0.0.weight'][1:2])
    same(dec + 'dn_query_generator.label_embedding.weight',
         r['label_enc.weight'][1:14])
    same(dec + 'bbox_head.reg_branches.0.4.weight',
         r['bbox_embed.4.0.layers.2.weight'])
    same(dec + 'bbox_head.reg_branches.2.2.bias',
         r['transformer.enc_out_bbox_embed.4.layers.1.bias'])

    # only the segmentation decoder has no research counterpart
    assert set(report['not_converted']) == {
        k
        for k in net.state_dict() if k.startswith('seg_branch.')
    }
    dropped = dict(report['dropped'])
    assert 'research segmentation decoder' in dropped[
        'backbone.0.segmentation_heads.4.weight']
    assert 'no bias' in dropped['input_proj.0.0.bias']
    assert 'not in the fx_mm config' in dropped[
        'transformer.decoder.1.layers.0.norm1.weight']
    assert 'not in the fx_mm config' in dropped[
        'backbone.0.classification_heads.1.weight']
    assert 'unused' in dropped['class_embed_.0.0.weight']
    assert 'alias' in dropped['transformer.decoder.4.class_embed.0.weight']
    assert 'not chosen' in dropped['backbone.0.Locnorm3.weight']

    # the classification path equals the research model's: Swin -> final
    # norm -> average pool -> ChexPert head (256 px: all stages comparable)
    net.eval()
    img = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        logits = net.branch('cls')(net.extract_feat(img), 'chexpert')
        pooled = tv_swin.norm(tv_swin.features(img)).mean(dim=(1, 2))
        expected = pooled @ r['backbone.0.classification_heads.6.weight'].T \
            + r['backbone.0.classification_heads.6.bias']
    assert torch.allclose(logits, expected, atol=1e-4)


def test_research_options(research):
    cfg, config, path, r, _, tmp = research
    tool = _tool('foundationx2fxmm')
    out = str(tmp / 'net_loc_norms.pth')
    tool.main([
        path, out, '--config', config, '--net-only', '--out-norms', 'loc',
        '--which', 'student'
    ])
    state = load_fx_checkpoint(out)['state_dict']
    net = MODELS.build(_net_cfg(cfg.model))
    net.load_state_dict(state, strict=True)
    # the student of the file is all zeros ('module.' prefix removed)
    assert torch.count_nonzero(state['backbone.norm3.weight']) == 0
    out = str(tmp / 'teacher_loc_norms.pth')
    tool.main(
        [path, out, '--config', config, '--net-only', '--out-norms', 'loc'])
    assert torch.equal(
        load_fx_checkpoint(out)['state_dict']['backbone.norm3.weight'],
        r['backbone.0.Locnorm3.weight'])


def test_research_shape_mismatch_is_named(research):
    cfg, _, _, r, _, _ = research
    net = MODELS.build(_net_cfg(cfg.model))
    bad = OrderedDict(r)
    bad['backbone.0.classification_heads.6.weight'] = torch.zeros(13, 256)
    with pytest.raises(
            ValueError, match=r'classification_heads\.6\.weight.*chexpert'):
        convert_research_checkpoint(bad, net.state_dict(), source='bad.pth')
    with pytest.raises(ValueError, match='not a checkpoint of the'):
        convert_research_checkpoint({'layers.0.x': torch.zeros(1)},
                                    net.state_dict())
