# Copyright (c) fx_mm contributors. All rights reserved.
"""Swin checkpoint conversion, checked against real models.

The reference for the torchvision and timm namings is a real
``torchvision.models.swin_transformer.SwinTransformer`` with random weights
(LayerNorms randomised too, so a wrong patch-merging permutation shows); the
reference for mmpretrain is a real mmpretrain ``SwinTransformer``. After
conversion, mmdet's ``SwinTransformer`` must load the weights strictly and
reproduce the reference's features.
"""
import re
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.backbones import SwinTransformer as MMDetSwin
from mmengine.config import ConfigDict
from mmpretrain.models.backbones import SwinTransformer as MMPretrainSwin
from torch import nn
from torchvision.models.swin_transformer import \
    SwinTransformer as TorchvisionSwin

from fx_mm.models.backbones import FXPretrainedSwin, FXSwinTransformer
from fx_mm.models.utils import (concat_to_unfold_order,
                                convert_swin_checkpoint, detect_swin_format,
                                load_swin_checkpoint)

EMBED, DEPTHS, HEADS, WINDOW = 32, (2, 2, 2, 2), (1, 2, 4, 8), 7
ATOL = 1e-5


def _randomise_norms(model: nn.Module) -> None:
    """Non-trivial LayerNorm affine parameters (defaults are 1 and 0)."""
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.weight.data = 1 + 0.2 * torch.randn_like(m.weight)
            m.bias.data = 0.2 * torch.randn_like(m.bias)


def _mmdet_swin() -> FXSwinTransformer:
    """mmdet's Swin layout, with fx_mm's pretrained loading."""
    model = FXSwinTransformer(
        embed_dims=EMBED,
        depths=DEPTHS,
        num_heads=HEADS,
        window_size=WINDOW,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3))
    model.eval()  # mmdet's train() override returns None, not self
    return model


@pytest.fixture(scope='module')
def torchvision_swin() -> TorchvisionSwin:
    torch.manual_seed(0)
    model = TorchvisionSwin(
        patch_size=[4, 4],
        embed_dim=EMBED,
        depths=list(DEPTHS),
        num_heads=list(HEADS),
        window_size=[WINDOW, WINDOW],
        stochastic_depth_prob=0.,
        num_classes=10)
    _randomise_norms(model)
    return model.eval()


@torch.no_grad()
def _torchvision_stages(model: TorchvisionSwin, img: torch.Tensor) -> list:
    """Stage outputs before any output norm, each (B, H, W, C)."""
    x = model.features[0](img)
    outs = []
    for stage in range(len(DEPTHS)):
        x = model.features[2 * stage + 1](x)
        outs.append(x)
        if stage < len(DEPTHS) - 1:
            x = model.features[2 * stage + 2](x)
    return outs


def _load_strictly(model: MMDetSwin, converted: dict,
                   expected_missing: set) -> None:
    """Strict load after checking exactly which keys conversion omits."""
    own = model.state_dict()
    assert set(converted) - set(own) == set()
    assert set(own) - set(converted) == expected_missing
    for key, value in converted.items():
        assert value.shape == own[key].shape, key
    full = {k: own[k] for k in expected_missing}
    full.update(converted)
    model.load_state_dict(full, strict=True)


def _index_buffers(model: MMDetSwin) -> set:
    return {
        k
        for k in model.state_dict() if k.endswith('relative_position_index')
    }


def _no_out_norms(model: MMDetSwin) -> set:
    """Keys that timm / torchvision checkpoints cannot provide."""
    extra = {f'norm{i}.{p}' for i in range(3) for p in ('weight', 'bias')}
    return _index_buffers(model) | extra


@torch.no_grad()
def _assert_same_features(mmdet: MMDetSwin, reference: TorchvisionSwin,
                          size: int, stages) -> None:
    """mmdet's outputs equal torchvision's stage outputs put through the
    same norms (mmdet's ``norm0-2``, torchvision's final ``norm``)."""
    torch.manual_seed(1)
    img = torch.randn(2, 3, size, size)
    ref = _torchvision_stages(reference, img)
    out = mmdet(img)
    for i in stages:
        norm = reference.norm if i == len(DEPTHS) - 1 \
            else getattr(mmdet, f'norm{i}')
        expected = norm(ref[i]).permute(0, 3, 1, 2)  # [B,H,W,C]->[B,C,H,W]
        assert out[i].shape == expected.shape
        assert torch.allclose(out[i], expected, atol=ATOL), \
            f'stage {i}: max diff {(out[i] - expected).abs().max()}'


def test_concat_to_unfold_order_matches_unfold():
    """A reduction weight for concatenated pixels, permuted, gives the same
    result on mmdet's nn.Unfold features."""
    torch.manual_seed(0)
    c = 3
    x = torch.randn(1, 4, 6, c)  # B, H, W, C
    concat = torch.cat([
        x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    ], -1).reshape(1, -1, 4 * c)
    unfold = F.unfold(x.permute(0, 3, 1, 2), 2, stride=2).transpose(1, 2)
    weight = torch.randn(5, 4 * c)
    assert torch.allclose(concat @ weight.T,
                          unfold @ concat_to_unfold_order(weight).T)
    # the same function reorders the features themselves
    assert torch.equal(concat_to_unfold_order(concat), unfold)
    # by hand: unfold feature c*4 + 2*dy + dx is concat (2*dx + dy)*C + c
    perm = concat_to_unfold_order(torch.arange(4 * c))
    assert perm[1 * 4 + 2 * 0 + 1].item() == (2 * 1 + 0) * c + 1
    assert perm[2 * 4 + 2 * 1 + 0].item() == (2 * 0 + 1) * c + 2


@pytest.mark.parametrize('size,stages', [(224, (0, 1, 2)),
                                         (256, (0, 1, 2, 3))])
def test_torchvision_outputs_match(torchvision_swin, size, stages):
    """At 224 px the last stage is one 7x7 window: torchvision does not
    shift it, mmdet's Swin shifts and masks it, so only stages 0-2 can be
    compared there; at 256 px (8x8, padded) both shift and all four must
    match."""
    converted = convert_swin_checkpoint(torchvision_swin.state_dict())
    model = _mmdet_swin()
    _load_strictly(model, converted, _no_out_norms(model))
    _assert_same_features(model, torchvision_swin, size, stages)


def _timm_from_torchvision(tv_state: dict, new_timm: bool) -> OrderedDict:
    """torchvision -> timm names (the two share the concat order)."""
    out = OrderedDict()
    for key, value in tv_state.items():
        m = re.fullmatch(r'features\.(\d+)\.(.*)', key)
        if key.startswith('features.0.'):
            key = key.replace('features.0.0.', 'patch_embed.proj.')
            key = key.replace('features.0.2.', 'patch_embed.norm.')
        elif m and int(m.group(1)) % 2 == 1:
            stage = (int(m.group(1)) - 1) // 2
            rest = m.group(2).replace('mlp.0.', 'mlp.fc1.')
            rest = rest.replace('mlp.3.', 'mlp.fc2.')
            key = f'layers.{stage}.blocks.{rest}'
        elif m:
            stage = int(m.group(1)) // 2 - 1
            layer = stage + 1 if new_timm else stage
            key = f'layers.{layer}.downsample.{m.group(2)}'
        elif key.startswith('head.') and new_timm:
            key = key.replace('head.', 'head.fc.')
        out[key] = value
    if not new_timm:  # the original repository saved its shift masks
        out['layers.0.blocks.1.attn_mask'] = torch.zeros(4, 49, 49)
    return out


@pytest.mark.parametrize('new_timm', [False, True])
def test_timm_outputs_match(torchvision_swin, new_timm):
    tv_state = torchvision_swin.state_dict()
    timm_state = _timm_from_torchvision(tv_state, new_timm)
    merging = sorted(k for k in timm_state if 'downsample.reduction' in k)
    assert merging == [
        f'layers.{i + new_timm}.downsample.reduction.weight' for i in range(3)
    ]
    assert detect_swin_format(timm_state) == 'timm'

    converted = convert_swin_checkpoint(timm_state)
    reference = convert_swin_checkpoint(tv_state)
    assert set(converted) == set(reference)
    for key in reference:
        assert torch.equal(converted[key], reference[key]), key
    model = _mmdet_swin()
    _load_strictly(model, converted, _no_out_norms(model))
    _assert_same_features(model, torchvision_swin, 256, (0, 1, 2, 3))


def test_mmpretrain_outputs_match():
    torch.manual_seed(2)
    mmpre = MMPretrainSwin(
        arch=dict(
            embed_dims=EMBED, depths=list(DEPTHS), num_heads=list(HEADS)),
        img_size=256,
        window_size=WINDOW,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3))
    mmpre.init_weights()
    _randomise_norms(mmpre)
    mmpre.eval()
    checkpoint = OrderedDict(
        ('backbone.' + k, v) for k, v in mmpre.state_dict().items())
    checkpoint['head.fc.weight'] = torch.randn(10, 8 * EMBED)
    checkpoint['head.fc.bias'] = torch.randn(10)
    assert detect_swin_format(checkpoint) == 'openmmlab'

    converted = convert_swin_checkpoint(dict(state_dict=checkpoint))
    model = _mmdet_swin()
    _load_strictly(model, converted, _index_buffers(model))
    img = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        expected, out = mmpre(img), model(img)
    for i in range(4):
        assert torch.allclose(out[i], expected[i], atol=ATOL), i


def test_mmpretrain_old_final_norm_renamed():
    state = OrderedDict([('backbone.stages.3.blocks.0.norm1.weight',
                          torch.ones(4)),
                         ('backbone.norm.weight', torch.full((4, ), 2.)),
                         ('backbone.norm.bias', torch.zeros(4)),
                         ('neck.fc.weight', torch.zeros(1))])
    converted = convert_swin_checkpoint(state)
    assert list(converted) == [
        'stages.3.blocks.0.norm1.weight', 'norm3.weight', 'norm3.bias'
    ]
    assert torch.equal(converted['norm3.weight'], torch.full((4, ), 2.))


def test_wrapped_ddp_checkpoint(torchvision_swin):
    state = torchvision_swin.state_dict()
    wrapped = {'model': {'module.' + k: v for k, v in state.items()}}
    converted = convert_swin_checkpoint(wrapped)
    reference = convert_swin_checkpoint(state)
    assert list(converted) == list(reference)


def test_unknown_keys_are_listed(torchvision_swin):
    timm_state = _timm_from_torchvision(torchvision_swin.state_dict(), False)
    timm_state['layers.0.blocks.0.attn.logit_scale'] = torch.zeros(1)
    timm_state['projector.0.weight'] = torch.zeros(2, 2)
    with pytest.raises(KeyError) as err:
        convert_swin_checkpoint(timm_state, source='ark6.pth')
    message = str(err.value)
    assert 'ark6.pth' in message and '2 key(s)' in message
    assert 'layers.0.blocks.0.attn.logit_scale' in message
    assert 'projector.0.weight' in message

    del timm_state['layers.0.blocks.0.attn.logit_scale']
    converted = convert_swin_checkpoint(
        timm_state, ignore_prefixes=('projector.', ))
    assert not any('projector' in k for k in converted)


def test_merging_that_fits_no_stage(torchvision_swin):
    timm_state = _timm_from_torchvision(torchvision_swin.state_dict(), False)
    # stage 1 merging (64 -> 128) moved to a stage of width 32
    timm_state['layers.0.downsample.reduction.weight'] = \
        timm_state['layers.1.downsample.reduction.weight']
    with pytest.raises(ValueError, match='layers.0'):
        convert_swin_checkpoint(timm_state)


def test_not_a_swin_checkpoint():
    with pytest.raises(ValueError, match='resnet.pth.*not a Swin'):
        convert_swin_checkpoint({'conv1.weight': torch.zeros(1)},
                                source='resnet.pth')


def test_load_swin_checkpoint_file(torchvision_swin, tmp_path):
    path = str(tmp_path / 'swin_tv.pth')
    torch.save(torchvision_swin.state_dict(), path)
    loaded = load_swin_checkpoint(path)
    reference = convert_swin_checkpoint(torchvision_swin.state_dict())
    assert list(loaded) == list(reference)
    for key in reference:
        assert torch.equal(loaded[key], reference[key]), key


# ---------------------------------------------------------------------------
# pretrained backbones in FoundationX (init_cfg on mmdet's Swin)


def _swin_det_from_torchvision(tv_state: dict) -> OrderedDict:
    """The original detection repository: timm < 0.9 names plus one output
    norm per stage (``norm{i}``), no final ``norm``."""
    out = _timm_from_torchvision(tv_state, new_timm=False)
    final = {k: out.pop(k) for k in ('norm.weight', 'norm.bias')}
    for i, width in enumerate((EMBED, 2 * EMBED, 4 * EMBED)):
        out[f'norm{i}.weight'] = 1 + 0.1 * torch.randn(width)
        out[f'norm{i}.bias'] = 0.1 * torch.randn(width)
    out['norm3.weight'] = final['norm.weight']
    out['norm3.bias'] = final['norm.bias']
    out.pop('head.weight')
    out.pop('head.bias')
    return out


def _checkpoint_in(naming: str, torchvision_swin) -> dict:
    """A real Swin state dict of the tiny config in ``naming``."""
    tv_state = torchvision_swin.state_dict()
    if naming == 'torchvision':
        return dict(tv_state)
    if naming in ('timm_old', 'timm_new'):
        return _timm_from_torchvision(tv_state, naming == 'timm_new')
    if naming == 'swin_det':
        return _swin_det_from_torchvision(tv_state)
    torch.manual_seed(3)
    if naming == 'mmpretrain':
        mmpre = MMPretrainSwin(
            arch=dict(
                embed_dims=EMBED, depths=list(DEPTHS), num_heads=list(HEADS)),
            img_size=224,
            window_size=WINDOW,
            out_indices=(0, 1, 2, 3))
        mmpre.init_weights()
        _randomise_norms(mmpre)
        state = OrderedDict(
            ('backbone.' + k, v) for k, v in mmpre.state_dict().items())
        state['head.fc.weight'] = torch.randn(10, 8 * EMBED)
        state['head.fc.bias'] = torch.randn(10)
        return dict(state_dict=state, meta=dict(epoch=300))
    assert naming == 'mmdet'  # a bare mmdet backbone state dict
    model = _mmdet_swin()
    _randomise_norms(model)
    for p in model.parameters():
        p.data.add_(0.01 * torch.randn_like(p))
    return model.state_dict()


def _fx_model_with(tmp_path, init_cfg):
    from fx_test_utils import tiny_demo_config

    from fx_mm.registry import MODELS
    cfg = tiny_demo_config(str(tmp_path))
    cfg.model.backbone.init_cfg = init_cfg
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


_OUT_NORMS = {f'norm{i}.{p}' for i in range(3) for p in ('weight', 'bias')}


@pytest.mark.parametrize('naming,init_type,missing',
                         [('torchvision', 'Pretrained', _OUT_NORMS),
                          ('timm_old', 'FXPretrainedSwin', _OUT_NORMS),
                          ('timm_new', 'Pretrained', _OUT_NORMS),
                          ('swin_det', 'FXPretrainedSwin', set()),
                          ('mmpretrain', 'Pretrained', set()),
                          ('mmdet', 'Pretrained', set())])
def test_foundation_x_student_and_teacher_get_pretrained_backbone(
        torchvision_swin, tmp_path, naming, init_type, missing):
    checkpoint = _checkpoint_in(naming, torchvision_swin)
    path = str(tmp_path / f'{naming}.pth')
    torch.save(checkpoint, path)
    expected = convert_swin_checkpoint(checkpoint)
    model = _fx_model_with(tmp_path, dict(type=init_type, checkpoint=path))

    for net in (model.student, model.teacher):
        own = net.backbone.state_dict()
        for key, value in expected.items():
            assert torch.equal(own[key], value), (naming, key)
        not_loaded = {
            k
            for k in own
            if k not in expected and not k.endswith('relative_position_index')
        }
        assert not_loaded == missing
        # what the checkpoint lacks keeps mmdet's LayerNorm initialisation
        for key in not_loaded:
            assert torch.equal(
                own[key],
                torch.ones_like(own[key])
                if key.endswith('weight') else torch.zeros_like(own[key]))


def test_pretrained_report_and_features(torchvision_swin, tmp_path):
    """The report lists what the checkpoint lacks; the loaded backbone gives
    torchvision's features."""

    path = str(tmp_path / 'timm.pth')
    torch.save(
        _timm_from_torchvision(torchvision_swin.state_dict(), True), path)
    model = _mmdet_swin()
    initializer = FXPretrainedSwin(checkpoint=path, source='timm')
    initializer(model)
    report = initializer.report
    assert set(report['missing']) == _OUT_NORMS
    assert report['unexpected'] == [] and report['adapted'] == []
    assert len(report['loaded']) == len(
        convert_swin_checkpoint(torch.load(path)))
    _assert_same_features(model, torchvision_swin, 256, (0, 1, 2, 3))


def test_window_size_adaptation_matches_mmdet(torchvision_swin, tmp_path):
    """A window-7 checkpoint in a window-12 Swin: the bias tables are resized
    as mmdet's own loader resizes them."""
    converted = convert_swin_checkpoint(torchvision_swin.state_dict())
    path = str(tmp_path / 'mmdet_names.pth')
    torch.save(
        dict(state_dict={
            'backbone.' + k: v
            for k, v in converted.items()
        }), path)

    def window12(init_cfg, swin=FXSwinTransformer):
        return swin(
            embed_dims=EMBED,
            depths=DEPTHS,
            num_heads=HEADS,
            window_size=12,
            out_indices=(0, 1, 2, 3),
            init_cfg=init_cfg)

    ours = window12(dict(type='Pretrained', checkpoint=path))
    ours.init_weights()
    # mmdet's loader reads init_cfg by attribute
    reference = window12(
        ConfigDict(type='Pretrained', checkpoint=path), swin=MMDetSwin)
    reference.init_weights()  # mmdet's own loader (backbone.* keys)
    key = 'stages.2.blocks.1.attn.w_msa.relative_position_bias_table'
    assert converted[key].shape == (13 * 13, 4)
    assert ours.state_dict()[key].shape == (23 * 23, 4)
    for key, value in reference.state_dict().items():
        assert torch.allclose(ours.state_dict()[key], value), key


def test_grey_input_channels_adaptation(torchvision_swin, tmp_path):
    """RGB weights in a 1-channel Swin: a grey image gives what the RGB
    model gives on that image replicated to 3 channels."""
    path = str(tmp_path / 'tv.pth')
    torch.save(torchvision_swin.state_dict(), path)
    rgb = _mmdet_swin()
    rgb.init_cfg = dict(type='Pretrained', checkpoint=path)
    rgb.init_weights()
    grey = FXSwinTransformer(
        in_channels=1,
        embed_dims=EMBED,
        depths=DEPTHS,
        num_heads=HEADS,
        window_size=WINDOW,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=path))
    grey.init_weights()
    grey.eval()
    img = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        out_grey, out_rgb = grey(img), rgb(img.expand(-1, 3, -1, -1))
    for a, b in zip(out_grey, out_rgb):
        assert torch.allclose(a, b, atol=1e-5)


def test_pretrained_from_fx_checkpoint_prefix(torchvision_swin, tmp_path):
    """``prefix`` takes the backbone out of a whole fx_mm checkpoint."""
    converted = convert_swin_checkpoint(torchvision_swin.state_dict())
    state = {'teacher.backbone.' + k: v for k, v in converted.items()}
    state['student.backbone.patch_embed.projection.bias'] = torch.zeros(EMBED)
    state['teacher.cls_branch.heads.a.fc.weight'] = torch.zeros(2, 8 * EMBED)
    path = str(tmp_path / 'fx.pth')
    torch.save(dict(state_dict=state, meta=dict()), path)
    model = FXSwinTransformer(
        embed_dims=EMBED,
        depths=DEPTHS,
        num_heads=HEADS,
        window_size=WINDOW,
        init_cfg=dict(
            type='FXPretrainedSwin',
            checkpoint=path,
            prefix='teacher.backbone.'))
    model.init_weights()
    for key, value in converted.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_pretrained_errors(torchvision_swin, tmp_path):

    with pytest.raises(ValueError, match='never downloads'):
        FXPretrainedSwin(checkpoint='https://example.org/swin.pth')
    model = FXSwinTransformer(
        embed_dims=EMBED,
        depths=DEPTHS,
        num_heads=HEADS,
        init_cfg=dict(type='Pretrained', checkpoint='s3://bucket/swin.pth'))
    with pytest.raises(ValueError, match='local files only'):
        model.init_weights()
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        FXPretrainedSwin(checkpoint=str(tmp_path / 'no_such.pth'))(
            _mmdet_swin())

    tv_path = str(tmp_path / 'tv.pth')
    torch.save(torchvision_swin.state_dict(), tv_path)
    # a naming that contradicts the keys
    with pytest.raises(ValueError, match="source='timm'.*torchvision"):
        FXPretrainedSwin(checkpoint=tv_path, source='timm')(_mmdet_swin())
    # strict: the torchvision checkpoint has no norm0-2
    with pytest.raises(KeyError, match='norm0.weight'):
        FXPretrainedSwin(checkpoint=tv_path, strict=True)(_mmdet_swin())
    # other numbers of heads cannot be adapted
    other_heads = MMDetSwin(
        embed_dims=EMBED, depths=DEPTHS, num_heads=(2, 2, 4, 8))
    with pytest.raises(
            ValueError, match=r'stages\.0\.blocks\.0\.attn.*attention heads'):
        FXPretrainedSwin(checkpoint=tv_path)(other_heads)
    # a checkpoint of a deeper Swin: the extra blocks are reported
    shallow = MMDetSwin(embed_dims=EMBED, depths=(2, 2, 1, 2), num_heads=HEADS)
    initializer = FXPretrainedSwin(checkpoint=tv_path)
    initializer(shallow)
    assert initializer.report['unexpected'] and all(
        k.startswith('stages.2.blocks.1.')
        for k in initializer.report['unexpected'])


def test_ark_style_checkpoint(torchvision_swin, tmp_path):
    """Ark: timm names (merging at the end of a layer), the teacher under
    'teacher', per-dataset ``omni_heads`` and a projector to drop."""
    teacher = _timm_from_torchvision(torchvision_swin.state_dict(), False)
    teacher['omni_heads.0.weight'] = torch.randn(14, 8 * EMBED)
    teacher['omni_heads.0.bias'] = torch.randn(14)
    teacher['projector.weight'] = torch.randn(16, 8 * EMBED)
    student = {k: torch.zeros_like(v) for k, v in teacher.items()}
    path = str(tmp_path / 'ark.pth.tar')
    torch.save(dict(student=student, teacher=teacher, epoch=200), path)
    model = _mmdet_swin()
    model.init_cfg = dict(
        type='FXPretrainedSwin',
        checkpoint=path,
        checkpoint_key='teacher',
        ignore_prefixes=('omni_heads.', 'projector.'))
    model.init_weights()
    _assert_same_features(model, torchvision_swin, 256, (0, 1, 2, 3))
    with pytest.raises(KeyError, match="no state dict under 'ema'"):
        FXPretrainedSwin(checkpoint=path, checkpoint_key='ema')(_mmdet_swin())
    # without dropping them, the extra heads are named in the error
    with pytest.raises(KeyError, match='omni_heads.0.weight'):
        FXPretrainedSwin(
            checkpoint=path, checkpoint_key='teacher')(
                _mmdet_swin())
