# Copyright (c) fx_mm contributors. All rights reserved.
"""Finetuning a Foundation X checkpoint: partial loading, head-only
freezing, a real JSRT run and the few-shot series tool."""
import csv
import json
import os
import os.path as osp

import pytest
import torch
from dataset_fixtures import (montgomery_root, vindr_rib_root,  # noqa: F401
                              write_text)
from fx_test_utils import (REPO_ROOT, RESEARCH_DEMO_CONFIG, load_tool,
                           tiny_demo_config)
from mmengine.config import Config
from mmengine.runner import Runner

from fx_mm.registry import MODELS

FT_DIR = osp.join(REPO_ROOT, 'configs', 'finetune')
CPU_CONFIG = osp.join(FT_DIR, 'fx_swin-t_jsrt-organ_finetune_cpu.py')
SEG_DECODER = ('seg_branch.psp_modules', 'seg_branch.bottleneck',
               'seg_branch.lateral_convs', 'seg_branch.fpn_convs',
               'seg_branch.fpn_bottleneck')


def make_checkpoint(work_dir: str, config: str = None):
    """A tiny FoundationX training checkpoint (student + teacher) whose
    teacher differs from its student; returns (path, teacher, student)."""
    cfg = tiny_demo_config(work_dir, **(dict(config=config) if config else {}))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for param in model.teacher.parameters():
            param.add_(torch.randn_like(param))
        for buf in model.teacher.buffers():
            if buf.dtype.is_floating_point:
                buf.add_(1.0)
    path = osp.join(work_dir, 'iter_1.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    teacher = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    student = {k: v.clone() for k, v in model.student.state_dict().items()}
    return path, teacher, student


@pytest.fixture(scope='module')
def fx_checkpoint(tmp_path_factory):
    """Tiny, the default architecture (the CPU finetune config's)."""
    return make_checkpoint(str(tmp_path_factory.mktemp('fx_ckpt')))


@pytest.fixture(scope='module')
def research_checkpoint(tmp_path_factory):
    """Tiny, the research-compatible architecture (the Swin-B finetune
    configs', which start from the official weights)."""
    return make_checkpoint(
        str(tmp_path_factory.mktemp('research_ckpt')), RESEARCH_DEMO_CONFIG)


def finetune_cfg(checkpoint: str,
                 work_dir: str,
                 jsrt_root: str = None,
                 config: str = CPU_CONFIG,
                 **env) -> Config:
    os.environ['FX_CHECKPOINT'] = checkpoint
    if jsrt_root:
        os.environ['FX_JSRT_ROOT'] = jsrt_root
    for key, value in env.items():
        os.environ[key] = value
    try:
        cfg = Config.fromfile(config)
    finally:
        for key in ['FX_CHECKPOINT', 'FX_JSRT_ROOT', *env]:
            os.environ.pop(key, None)
    cfg.work_dir = work_dir
    cfg.model.backbone.drop_path_rate = 0.0
    return cfg


def shared_keys(model_sd: dict, prefixes) -> list:
    return [k for k in model_sd if k.startswith(prefixes)]


def test_loads_teacher_backbone_and_seg_decoder(fx_checkpoint, tmp_path):
    path, teacher, student = fx_checkpoint
    cfg = finetune_cfg(path, str(tmp_path))
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.teacher is None
    loaded = model.student.state_dict()
    keys = shared_keys(loaded,
                       ('backbone.', ) + tuple(m + '.' for m in SEG_DECODER))
    # every backbone / shared decoder tensor (buffers too) is the TEACHER's
    assert len(keys) > 50
    for key in keys:
        assert torch.equal(loaded[key], teacher[key]), key
        if loaded[key].dtype.is_floating_point and loaded[key].numel() > 1:
            assert not torch.equal(loaded[key], student[key]), key
    # the new head is not in the checkpoint (phantom heads only)
    assert loaded['seg_branch.conv_segs.jsrt.weight'].shape[0] == 5
    assert 'seg_branch.conv_segs.jsrt.weight' not in teacher


def test_backbone_only_and_released_file(fx_checkpoint, tmp_path):
    path, teacher, student = fx_checkpoint
    cfg = finetune_cfg(path, str(tmp_path))
    # backbone only: the seg decoder keeps its own initialisation
    cfg.model.seg_branch.init_cfg = cfg.model.seg_branch.init_cfg[:1]
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.student.state_dict()
    for key in shared_keys(loaded, ('backbone.', )):
        assert torch.equal(loaded[key], teacher[key]), key
    key = 'seg_branch.bottleneck.conv.weight'
    assert not torch.equal(loaded[key], teacher[key])

    # a released file holds the teacher under `student.`: FX_NETWORK=student
    release = osp.join(str(tmp_path), 'release.pth')
    torch.save(
        dict(state_dict={
            'student.' + k: v
            for k, v in teacher.items()
        }), release)
    cfg = finetune_cfg(release, str(tmp_path), FX_NETWORK='student')
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.student.state_dict()
    for key in shared_keys(loaded, ('backbone.', 'seg_branch.bottleneck')):
        assert torch.equal(loaded[key], teacher[key]), key
    # the default ('teacher.') on a released file is a clear error
    cfg = finetune_cfg(release, str(tmp_path))
    model = MODELS.build(cfg.model)
    with pytest.raises(KeyError, match='teacher.backbone.'):
        model.init_weights()


def test_frozen_modules_checked():
    cfg = tiny_demo_config('unused')
    cfg.model.with_teacher = False
    cfg.model.consistency_weight = 0.0
    cfg.model.predict_on = 'student'
    cfg.model.frozen_modules = ['backbone', 'seg_branch.no_such_part']
    with pytest.raises(ValueError, match='no_such_part'):
        MODELS.build(cfg.model)


def _synthetic_slot_cfg(cfg: Config, work_dir: str) -> Config:
    """Point the finetune config at 4 synthetic phantom images (seg, 3
    channels, head 'phantom_a') at 64 px: tests the model and the training
    machinery without real data."""
    demo = tiny_demo_config(
        work_dir, num_images=8, image_size=64, batch_size=2)
    train = demo.train_cfg.slots[2]
    val = demo.val_cfg.slots[2]
    assert train.dataset.task == 'seg'
    cfg.train_cfg.slots = [train]
    cfg.val_cfg.slots = [val]
    cfg.test_cfg.slots = [val]
    cfg.model.seg_branch.datasets = dict(phantom_a=3)
    cfg.val_evaluator = [
        dict(
            type='DiceMetric',
            dataset_name='phantom_a',
            class_names=('a', 'b', 'c'))
    ]
    cfg.test_evaluator = cfg.val_evaluator
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size = 2
        cfg[loader].num_workers = 0
    cfg.train_cfg.max_cycles = 1
    cfg.train_cfg.val_at_cycle_end = False
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0, interval=-1)
    return cfg


@pytest.mark.parametrize('variant', ['head-only', 'full'])
def test_head_only_freezes_full_trains(fx_checkpoint, tmp_path, variant):
    path, teacher, _ = fx_checkpoint
    cfg = finetune_cfg(path, str(tmp_path))
    cfg = _synthetic_slot_cfg(cfg, str(tmp_path))
    if variant == 'head-only':
        # the head-only config's frozen modules
        head_only = Config.fromfile(
            osp.join(FT_DIR, 'fx_swin-b_jsrt-organ_head-only.py'))
        cfg.model.frozen_modules = head_only.model.frozen_modules
        assert head_only.model.frozen_modules == [
            'backbone', 'seg_branch.shared'
        ]
    runner = Runner.from_cfg(cfg)
    # the UperNet decoder is what the seg branch calls its shared part
    shared = runner.model.student.seg_branch.shared_modules()
    assert {m
            for m in shared} == {
                runner.model.student.get_submodule(name)
                for name in SEG_DECODER
            }
    runner.model.init_weights()  # train() does not initialise twice
    head_before = runner.model.student.seg_branch.conv_segs[
        'phantom_a'].weight.detach().clone()
    runner.train()
    model = runner.model
    assert runner.train_loop.iter == 2  # 4 train images, batch 2
    after = model.student.state_dict()
    backbone = shared_keys(after, ('backbone.', ))
    decoder = shared_keys(after, tuple(m + '.' for m in SEG_DECODER))
    head = 'seg_branch.conv_segs.phantom_a.weight'
    optim_params = {
        id(p)
        for g in runner.optim_wrapper.optimizer.param_groups
        for p in g['params']
    }
    if variant == 'head-only':
        # bit-identical to the teacher's weights, BN statistics included
        for key in backbone + decoder:
            assert torch.equal(after[key], teacher[key]), key
        assert not any(p.requires_grad
                       for p in model.student.backbone.parameters())
        assert not model.student.seg_branch.bottleneck.training
        assert all(
            id(p) not in optim_params
            for p in model.student.backbone.parameters())
    else:
        changed = [
            k for k in backbone if after[k].dtype.is_floating_point
            and not torch.equal(after[k], teacher[k])
        ]
        assert len(changed) > len(backbone) // 2
        assert len(optim_params) == len(list(model.student.parameters()))
    # the head trained in both variants
    assert not torch.equal(after[head], head_before)
    assert model.student.seg_branch.conv_segs.phantom_a.weight.requires_grad


def test_finetune_real_jsrt(fx_checkpoint, jsrt_root, tmp_path):
    path, teacher, _ = fx_checkpoint
    cfg = finetune_cfg(path, str(tmp_path), jsrt_root=jsrt_root)
    for slots in (cfg.train_cfg.slots, cfg.val_cfg.slots, cfg.test_cfg.slots):
        for transform in slots[0].dataset.pipeline:
            if transform.type == 'mmdet.Resize':
                transform.scale = (128, 128)
    cfg.train_cfg.slots[0].dataset.indices = 4
    cfg.val_cfg.slots[0].dataset.indices = 2
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size = 2
        cfg[loader].num_workers = 0
    cfg.train_cfg.max_cycles = 1
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0, interval=-1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.train_loop.iter == 2
    metrics = runner.val_loop.run()
    # one key per value, prefixed with the evaluated network
    network = runner.model.predict_on
    assert all(k.startswith(f'{network}/') for k in metrics), sorted(metrics)
    dice = [k for k in metrics if k.startswith(f'{network}/jsrt/seg/Dice_')]
    assert len(dice) == 5
    assert all(0.0 <= metrics[k] <= 100.0 for k in dice)


def test_fewshot_selection_deterministic():
    fewshot = load_tool('tools/run_fewshot.py')
    first = fewshot.select_images(173, 6, seed=0, repeat=0)
    assert first == fewshot.select_images(173, 6, seed=0, repeat=0)
    assert len(set(first)) == 6 and first == sorted(first)
    assert all(0 <= i < 173 for i in first)
    assert first != fewshot.select_images(173, 6, seed=0, repeat=1)
    assert first != fewshot.select_images(173, 6, seed=1, repeat=0)
    with pytest.raises(ValueError, match='174'):
        fewshot.select_images(173, 174, seed=0, repeat=0)


def test_run_fewshot_tables(research_checkpoint, jsrt_root, tmp_path):
    path, _, _ = research_checkpoint
    fewshot = load_tool('tools/run_fewshot.py')
    config = osp.join(FT_DIR, 'fx_swin-b_jsrt-clavicle_finetune.py')
    # the clavicle config with the tiny checkpoint's sizes, 64 px, 2
    # iterations
    options = [
        'model.backbone.embed_dims=32', 'model.backbone.depths=[2,2,2,2]',
        'model.backbone.num_heads=[1,2,4,8]',
        'model.backbone.drop_path_rate=0.0',
        'model.seg_branch.in_channels=[32,64,128,256]',
        'model.seg_branch.channels=32', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'test_dataloader.batch_size=2',
        'test_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'test_cfg.slots.0.dataset.indices=2',
        'val_cfg.slots.0.dataset.indices=2',
        'default_hooks.checkpoint.slot_interval=0'
    ] + [
        f'{stage}_cfg.slots.0.dataset.pipeline.{k}.scale=[64,64]'
        for stage, k in (('train', 2), ('val', 1), ('test', 1))
    ]
    os.environ['FX_CHECKPOINT'] = path
    os.environ['FX_JSRT_ROOT'] = jsrt_root
    try:
        fewshot.main([
            config, '--shots', '2', '3', '--repeats', '1', '--seed', '0',
            '--iters', '1', '--work-dir',
            str(tmp_path), '--cfg-options', *options
        ])
    finally:
        os.environ.pop('FX_CHECKPOINT')
        os.environ.pop('FX_JSRT_ROOT')
    with open(tmp_path / 'fewshot.csv') as f:
        rows = list(csv.DictReader(f))
    pairs = [(r['shots'], r['repeat']) for r in rows]
    assert pairs == [('2', '0'), ('3', '0')]
    assert set(rows[0]) == {
        'shots', 'repeat', 'jsrt/seg/Dice', 'jsrt/seg/Dice_left_clavicle',
        'jsrt/seg/Dice_right_clavicle'
    }
    assert all(0 <= float(rows[1][k]) <= 100 for k in rows[1]
               if k.startswith('jsrt'))
    table = (tmp_path / 'fewshot.md').read_text()
    assert '| 2 | 1 |' in table and '| 3 | 1 |' in table and '±' in table
    # the images are those of (seed 0, N, repeat 0) in the training split
    selection = json.loads((tmp_path / 'fewshot_selection.json').read_text())
    names = [
        line.strip()
        for line in open(osp.join(jsrt_root, 'splits', 'train.txt'))
        if line.strip()
    ]
    for shots in (2, 3):
        expected = [
            osp.splitext(names[i])[0]
            for i in fewshot.select_images(len(names), shots, 0, 0)
        ]
        assert selection[f'{shots}/0'] == expected


def test_loc_finetune_loads_the_shared_detr_part(research_checkpoint,
                                                 tmp_path):
    """The VinDr-CXR organ loc config loads the backbone and the shared
    DINO part (input norms, neck, level embeddings, encoder, shared query
    tables) from the checkpoint's teacher; the new dataset's decoder keeps
    DINO's initialisation."""
    path, teacher, student = research_checkpoint
    cfg = finetune_cfg(
        path,
        str(tmp_path),
        config=osp.join(FT_DIR, 'fx_swin-b_vindr-cxr-organ-loc_finetune.py'))
    # the tiny checkpoint's sizes, the config's loading and heads
    tiny = tiny_demo_config(str(tmp_path), config=RESEARCH_DEMO_CONFIG).model
    for key in ('backbone', 'loc_branch'):
        sizes = tiny[key].to_dict()
        sizes.update(init_cfg=cfg.model[key].init_cfg)
        if key == 'loc_branch':
            sizes.update(datasets=cfg.model.loc_branch.datasets)
        cfg.model[key] = sizes
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.student.state_dict()
    shared = shared_keys(loaded, ('backbone.', 'loc_branch.'))
    shared = [k for k in shared if '.decoders.' not in k]
    assert {
        'loc_branch.level_embed', 'loc_branch.in_norms.0.weight',
        'loc_branch.query_embedding.weight'
    } <= set(shared)
    assert len(shared) > 100
    for key in shared:
        assert torch.equal(loaded[key], teacher[key]), key
        # the teacher, not the student
        if loaded[key].dtype.is_floating_point:
            assert not torch.equal(loaded[key], student[key]), key
    new_decoder = model.student.loc_branch.decoders['chexmask_vindr_cxr']
    bias = new_decoder.bbox_head.cls_branches[0].bias
    assert torch.allclose(bias, torch.full_like(bias, -4.59512), atol=1e-4)


def _tiny_sized(cfg: Config) -> Config:
    """The tiny research checkpoint's model sizes at 64 px, 2 images a
    batch, one cycle, no validation."""
    tiny = Config.fromfile(RESEARCH_DEMO_CONFIG)
    for key in ('embed_dims', 'depths', 'num_heads'):
        cfg.model.backbone[key] = tiny.model.backbone[key]
    for key in ('in_channels', 'channels'):
        cfg.model.seg_branch[key] = tiny.model.seg_branch[key]
    for slot in cfg.train_cfg.slots:
        for transform in slot.dataset.pipeline:
            if transform.type == 'mmdet.Resize':
                transform.scale = (64, 64)
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.num_workers = 0
    cfg.train_cfg.max_cycles = 1
    cfg.train_cfg.val_at_cycle_end = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0, interval=-1)
    return cfg


@pytest.mark.parametrize('name', ['montgomery-lung', 'vindr-ribcxr'])
def test_public_seg_finetune_configs_train(name, research_checkpoint, request,
                                           tmp_path):
    """The Montgomery and VinDr-RibCXR configs read their native layouts
    (2-image miniatures), load the checkpoint's teacher backbone and
    shared decoder and train their new head."""
    path, teacher, _ = research_checkpoint
    if name == 'montgomery-lung':
        root, _ = request.getfixturevalue('montgomery_root')
        write_text(
            str(root / 'fx_splits' / 'montgomery_train.txt'),
            'MCUCXR_0001_0.png\nMCUCXR_0002_1.png\n')
        env = dict(FX_MONTGOMERY_ROOT=str(root))
        dataset, channels = 'montgomery', 1
    else:
        root = request.getfixturevalue('vindr_rib_root')
        env = dict(FX_VINDR_RIBCXR_ROOT=str(root))
        dataset, channels = 'vindr_ribcxr', 20
    cfg = finetune_cfg(
        path,
        str(tmp_path / 'work'),
        config=osp.join(FT_DIR, f'fx_swin-b_{name}_finetune.py'),
        **env)
    runner = Runner.from_cfg(_tiny_sized(cfg))
    runner.model.init_weights()  # train() does not initialise twice
    loaded = runner.model.student.state_dict()
    shared = shared_keys(loaded, ('backbone.', 'seg_branch.'))
    shared = [k for k in shared if '.conv_segs.' not in k]
    assert 'seg_branch.fusion_conv.conv.weight' in shared
    for key in shared:
        assert torch.equal(loaded[key], teacher[key]), key
    head = f'seg_branch.conv_segs.{dataset}.weight'
    assert loaded[head].shape[0] == channels
    head_before = loaded[head].clone()
    runner.train()
    assert runner.train_loop.iter == 1  # 2 images, batch 2, one pass
    after = runner.model.student.state_dict()
    assert not torch.equal(after[head], head_before)
    assert not torch.equal(after['backbone.patch_embed.projection.weight'],
                           teacher['backbone.patch_embed.projection.weight'])
