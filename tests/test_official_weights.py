# Copyright (c) fx_mm contributors. All rights reserved.
"""Starting from the converted official Foundation X weights (full Swin-B
size, the seeded research checkpoint of ``../shared/data/research_fx``):
the finetune configs load the backbone and the shared seg decoder / loc
parts, and continued pretraining with a new slot keeps every converted
weight and initialises the new head."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from fx_mm.engine.runner import FXRunner
from fx_mm.registry import MODELS
from fx_mm.utils import load_fx_checkpoint
from fx_test_utils import REPO_ROOT

FT_DIR = osp.join(REPO_ROOT, 'configs', 'finetune')
CONTINUED = osp.join(REPO_ROOT, 'configs', 'foundation_x',
                     'fx_swin-b_cxr15-jsrt_research_continued.py')


def load_config(path: str, **env: str) -> Config:
    os.environ.update(env)
    try:
        return Config.fromfile(path)
    finally:
        for key in env:
            os.environ.pop(key)


@pytest.fixture(scope='module')
def official(research_converted):
    """(converted file, its teacher state)."""
    path = research_converted[3]
    state = load_fx_checkpoint(path)['state_dict']
    teacher = {
        k[len('teacher.'):]: v
        for k, v in state.items() if k.startswith('teacher.')
    }
    return path, teacher


# config, the new head's dataset, the shared parts that must load
FINETUNES = [
    ('fx_swin-b_jsrt-organ_finetune.py', 'seg', 'jsrt'),
    ('fx_swin-b_montgomery-lung_finetune.py', 'seg', 'montgomery'),
    ('fx_swin-b_vindr-ribcxr_finetune.py', 'seg', 'vindr_ribcxr'),
    ('fx_swin-b_vindr-cxr-organ-loc_finetune.py', 'loc', 'chexmask_vindr_cxr'),
]


@pytest.mark.parametrize('config,task,dataset', FINETUNES)
def test_finetune_configs_load_the_official_weights(official, config, task,
                                                    dataset):
    path, teacher = official
    cfg = load_config(osp.join(FT_DIR, config), FX_CHECKPOINT=path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    student = model.student
    loaded = student.state_dict()
    branch = student.branch(task)
    new_head = {
        f'{task}_branch.{branch.dataset_container}.{dataset}.{k}'
        for module in branch.dataset_modules(dataset)
        for k in module.state_dict()
    }
    from_checkpoint = set(loaded) - new_head
    # backbone + everything the branch shares: the converted teacher's
    assert any(k.startswith('backbone.stages.3.') for k in from_checkpoint)
    assert any(k.startswith(f'{task}_branch.') for k in from_checkpoint)
    if task == 'loc':
        assert {
            'loc_branch.level_embed', 'loc_branch.query_embedding.weight',
            'loc_branch.in_norms.2.weight',
            'loc_branch.dn_query_generator.label_embedding.weight'
        } <= from_checkpoint
    else:
        assert 'seg_branch.psp_bottleneck.conv.weight' in from_checkpoint
    for key in from_checkpoint:
        assert torch.equal(loaded[key], teacher[key]), key
    # the new head is not in the checkpoint and keeps its initialisation
    assert not new_head & set(teacher)
    if task == 'seg':
        weight = loaded[f'seg_branch.conv_segs.{dataset}.weight']
        assert 0.005 < float(weight.std()) < 0.02  # Normal(0, 0.01)
    else:
        bias = loaded[f'loc_branch.decoders.{dataset}.bbox_head.'
                      'cls_branches.0.bias']
        torch.testing.assert_close(bias, torch.full_like(bias, -4.59512))


class LoadRecorder(Hook):
    """The model state after loading, before the first step."""

    def before_train(self, runner) -> None:
        self.state = {
            k: v.clone()
            for k, v in runner.model.state_dict().items()
        }


# two full-size Swin-B training steps with the teacher (~2 min on 2 cores):
# kept out of the default run to hold it under 30 min; `pytest -m slow`
@pytest.mark.slow
def test_continued_pretraining_with_a_new_slot(official, jsrt_root, tmp_path):
    path, _ = official
    cfg = load_config(CONTINUED, FX_CHECKPOINT=path, FX_JSRT_ROOT=jsrt_root)
    # the JSRT slot alone (the 20 pretraining sets are not here), 2 images
    cfg.train_cfg.slots = cfg.train_cfg.slots[-1:]
    cfg.train_cfg.slots[0].dataset.indices = 2
    cfg.train_cfg.max_cycles = 1
    cfg.train_cfg.val_interval = 0
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.train_dataloader.update(batch_size=2, num_workers=0)
    cfg.default_hooks.checkpoint = dict(
        type='SlotCheckpointHook', slot_interval=0, interval=-1)
    cfg.work_dir = str(tmp_path)
    runner = FXRunner.from_cfg(cfg)  # what tools/train.py runs
    recorder = LoadRecorder()
    runner.register_hook(recorder, priority='LOWEST')
    runner.train()

    converted = load_fx_checkpoint(path)['state_dict']
    at_load = recorder.state
    new = {k for k in at_load if '.conv_segs.jsrt.' in k}
    assert new == {
        f'{net}.seg_branch.conv_segs.jsrt.{p}'
        for net in ('student', 'teacher')
        for p in ('weight', 'bias')
    }
    assert set(at_load) - new == set(converted)
    for key, value in converted.items():
        assert torch.equal(at_load[key], value), key
    weight = at_load['student.seg_branch.conv_segs.jsrt.weight']
    assert weight.shape[0] == 5
    assert 0.005 < float(weight.std()) < 0.02  # initialised, not loaded
    assert torch.equal(weight, at_load['teacher.seg_branch.conv_segs.jsrt.'
                                       'weight'])
    # the lock and the release phase of the new slot ran and trained it
    assert runner.train_loop.iter == 2
    after = runner.model.student.seg_branch.conv_segs['jsrt'].weight
    assert not torch.equal(after.detach(), weight)


RESEARCH_CXR15 = osp.join(REPO_ROOT, 'configs', 'foundation_x',
                          'fx_swin-b_cxr15_research.py')


def test_inferencer_runs_the_official_teacher(official, shared_data):
    """FXInferencer (what demo/image_demo.py calls) takes the converted file
    without options: the teacher predicts, with the research head's
    scores."""
    from fx_mm.apis import FXInferencer
    path, teacher = official
    inferencer = FXInferencer(RESEARCH_CXR15, weights=path)
    assert inferencer.model_key == 'teacher'
    image = osp.join(shared_data, 'misc', '00000001_000.png')
    result = inferencer(
        image, tasks=['cls'], datasets=['chexpert', 'rsna_pneumonia'])
    heads = result['predictions'][0]['heads']
    assert len(heads['chexpert']['cls']['scores']) == 14
    rsna = list(heads['rsna_pneumonia']['cls']['scores'].values())
    assert abs(sum(rsna) - 1) < 1e-5  # single-label head: softmax
    # the scores are the converted teacher's: the same weights as the file
    net = inferencer.model.teacher
    assert torch.equal(net.cls_branch.heads['chexpert'].fc.weight,
                       teacher['cls_branch.heads.chexpert.fc.weight'])


def test_published_official_weights_finetune(official, tmp_path):
    """publish_model.py keeps the teacher of the converted file; the
    release finetunes with FX_NETWORK=student (the released layout)."""
    from fx_test_utils import load_tool
    path, teacher = official
    release = str(tmp_path / 'foundation_x_release.pth')
    final = load_tool('tools/model_converters/publish_model.py').main(
        [path, release])
    state = load_fx_checkpoint(final)['state_dict']
    assert all(k.startswith('student.') for k in state)
    for key in ('backbone.stages.2.blocks.5.attn.w_msa.qkv.weight',
                'seg_branch.fusion_conv.conv.weight',
                'loc_branch.decoders.tbx11k.memory_proj.weight'):
        assert torch.equal(state['student.' + key], teacher[key]), key
    cfg = load_config(
        osp.join(FT_DIR, 'fx_swin-b_jsrt-organ_finetune.py'),
        FX_CHECKPOINT=final,
        FX_NETWORK='student')
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.student.state_dict()
    for key in ('backbone.stages.3.blocks.1.ffn.layers.1.weight',
                'seg_branch.psp_bottleneck.conv.weight'):
        assert torch.equal(loaded[key], teacher[key]), key
