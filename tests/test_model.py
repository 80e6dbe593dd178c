# Copyright (c) fx_mm contributors. All rights reserved.
"""FoundationX on real mmdet/mmseg/mmpretrain modules at CPU sizes."""
import pytest
import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmengine.model import bias_init_with_prob
from mmengine.optim import build_optim_wrapper

from fx_mm.registry import DATASETS, MODELS
from fx_test_utils import tiny_demo_config


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('model'))
    cfg = tiny_demo_config(work_dir, num_images=12, image_size=128)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    batches = {}
    for slot in cfg.train_cfg.slots:
        dataset = DATASETS.build(slot.dataset)
        samples = [dataset[i] for i in range(2)]
        batch = dict(
            inputs=[s['inputs'] for s in samples],
            data_samples=[s['data_samples'] for s in samples])
        batches[(dataset.dataset_name, dataset.task)] = batch
    return cfg, model, batches


@pytest.mark.parametrize('task', ['cls', 'loc', 'seg'])
def test_loss_reaches_only_the_batch_dataset_head(setup, task):
    cfg, model, batches = setup
    model.train()
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(batches[('phantom_a', task)], True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    assert 'loss_consistency' in losses
    total.backward()
    student = model.student
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in student.backbone.parameters())
    branch = student.branch(task)
    heads = dict(
        cls=branch.heads if task == 'cls' else None,
        loc=branch.decoders if task == 'loc' else None,
        seg=branch.conv_segs if task == 'seg' else None)[task]
    assert any(p.grad is not None for p in heads['phantom_a'].parameters())
    assert all(p.grad is None for p in heads['phantom_b'].parameters())
    # the teacher never receives gradients
    assert all(p.grad is None for p in model.teacher.parameters())
    # other tasks' branches are untouched
    for other in {'cls', 'loc', 'seg'} - {task}:
        assert all(p.grad is None
                   for p in student.branch(other).parameters())


def test_loc_consistency_term_has_student_gradient(setup):
    """The research code's loc consistency term carries no gradient."""
    cfg, model, batches = setup
    model.train()
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(batches[('phantom_a', 'loc')], True)
    losses = model(**data, mode='loss')
    losses['loss_consistency'].backward()
    assert losses['loss_consistency'].requires_grad
    encoder_grads = [
        p.grad for p in model.student.loc_branch.encoder.parameters()
        if p.grad is not None
    ]
    assert encoder_grads and any(g.abs().sum() > 0 for g in encoder_grads)


@pytest.mark.parametrize('task', ['cls', 'loc', 'seg'])
def test_predict_gives_library_data_samples(setup, task):
    cfg, model, batches = setup
    model.eval()
    data = model.data_preprocessor(batches[('phantom_b', task)], False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    sample = results[0]
    if task == 'cls':
        assert sample.pred_score.shape == (2, )
        assert ((sample.pred_score >= 0) & (sample.pred_score <= 1)).all()
    elif task == 'loc':
        boxes = sample.pred_instances.bboxes
        assert boxes.shape[1] == 4 and len(boxes) <= 20
        height, width = sample.ori_shape
        assert (boxes[:, 2] <= width + 1e-3).all()
    else:
        assert sample.pred_sem_seg.data.shape == (2, *sample.ori_shape)


def test_optimizer_holds_every_student_parameter(setup):
    cfg, model, _ = setup
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    in_optimizer = {
        id(p): group['lr']
        for group in optim_wrapper.optimizer.param_groups
        for p in group['params']
    }
    base_lr = cfg.optim_wrapper.optimizer.lr
    lr_mults = cfg.optim_wrapper.paramwise_cfg.lr_mults
    assert lr_mults == dict(backbone=0.1, cls_branch=1.0)  # the demo's
    for name, param in model.student.named_parameters():
        assert id(param) in in_optimizer, f'{name} is not optimised'
        expected = base_lr * lr_mults.get(name.split('.')[0], 1.0)
        assert in_optimizer[id(param)] == pytest.approx(expected), name
    assert not any(id(p) in in_optimizer for p in model.teacher.parameters())


def test_single_network_checkpoint_fills_the_teacher(setup):
    """A released checkpoint holds one network under ``student.``; loading
    it strictly into a model with a teacher gives both its weights."""
    cfg, model, _ = setup
    released = {
        key: value + 1 if value.dtype.is_floating_point else value
        for key, value in model.state_dict().items()
        if key.startswith('student.')
    }
    target = MODELS.build(cfg.model)
    target.load_state_dict(released, strict=True)
    for key, value in released.items():
        name = key[len('student.'):]
        assert torch.equal(target.student.state_dict()[name], value), key
        assert torch.equal(target.teacher.state_dict()[name], value), key
    # a checkpoint with a teacher keeps its own teacher
    both = dict(released)
    both.update({
        'teacher.' + k[len('student.'):]: torch.zeros_like(v)
        for k, v in released.items()
    })
    target.load_state_dict(both, strict=True)
    name = 'backbone.patch_embed.projection.weight'
    assert not target.teacher.state_dict()[name].any()


def test_init_weights_reaches_every_dataset_head(setup):
    """The per-dataset heads sit in ModuleDicts: init_weights must reach
    them (a torch ModuleDict stops mmengine's recursion), and DINO's
    xavier must not overwrite the deformable attentions' own init."""
    model = setup[1].student
    prior = bias_init_with_prob(0.01)
    for dataset, unit in model.loc_branch.decoders.items():
        head = unit.bbox_head
        for branch in head.cls_branches:
            assert torch.allclose(branch.bias, torch.full_like(
                branch.bias, prior)), dataset
        for branch in head.reg_branches:
            assert not branch[-1].weight.any(), dataset
    attentions = [
        m for m in model.loc_branch.modules()
        if isinstance(m, MultiScaleDeformableAttention)
    ]
    assert len(attentions) == 2 + 2 * 2  # encoder + 2 decoders, 2 layers
    for attention in attentions:
        assert not attention.sampling_offsets.weight.any()
        assert not attention.attention_weights.weight.any()
    for dataset, head in model.cls_branch.heads.items():
        # mmpretrain's Normal(std=0.01) init of its linear heads
        assert head.fc.weight.std() < 0.02 and not head.fc.bias.any()


def test_a_built_model_holds_no_uninitialised_memory(setup):
    """mmengine's Runner.test() evaluates a model without init_weights()
    when no checkpoint is loaded, so construction alone must give finite,
    seed-determined weights. Freed NaN blocks of every parameter's size are
    left in the allocator first: a parameter made from uninitialised memory
    (as mmdet's DINO makes its level embedding) picks them up."""
    cfg = setup[0]
    sizes = {p.numel() for p in setup[1].parameters()}
    bait = [torch.full((n, ), float('nan')) for n in sizes for _ in range(8)]
    del bait
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        states.append(MODELS.build(cfg.model).state_dict())
    for key, value in states[0].items():
        if value.is_floating_point():
            assert torch.isfinite(value).all(), f'{key} is not finite'
        assert torch.equal(value, states[1][key]), f'{key} differs per build'


@pytest.mark.parametrize('task', ['cls', 'loc', 'seg'])
def test_predictions_feed_the_libraries_visualizers(setup, task, tmp_path):
    """mmpretrain's / mmdet's / mmseg's own visualizers draw fx_mm's
    predictions (fx_mm's FXVisualizer adds multi-label masks and bars)."""
    import numpy as np
    from mmdet.visualization import DetLocalVisualizer
    from mmpretrain.visualization import UniversalVisualizer
    from mmseg.visualization import SegLocalVisualizer
    cfg, model, batches = setup
    model.eval()
    data = model.data_preprocessor(batches[('phantom_b', task)], False)
    with torch.no_grad():
        sample = model(**data, mode='predict')[0]
    height, width = sample.ori_shape
    image = np.full((height, width, 3), 40, dtype=np.uint8)
    name = f'lib_vis_{task}'
    if task == 'cls':
        vis = UniversalVisualizer(name=name)
        drawn = vis.visualize_cls(
            image, sample, classes=['opacity', 'cardiomegaly'])
    elif task == 'loc':
        vis = DetLocalVisualizer(name=name)
        vis.dataset_meta = dict(classes=('opacity', ))
        vis.add_datasample(
            'loc', image, sample, draw_gt=False, pred_score_thr=0.0)
        drawn = vis.get_image()
    else:
        vis = SegLocalVisualizer(name=name, alpha=0.5)
        vis.dataset_meta = dict(
            classes=('background', 'left_clavicle'),
            palette=[[0, 0, 0], [255, 0, 0]])
        # mmseg draws one label map: the first channel of the binary stack
        first = sample.clone()
        first.pred_sem_seg.data = sample.pred_sem_seg.data[:1]
        vis.add_datasample('seg', image, first, draw_gt=False)
        drawn = vis.get_image()
    assert drawn.shape == image.shape
    if task == 'cls':
        drew = True  # the class names and scores are written on the image
    elif task == 'loc':
        drew = len(sample.pred_instances) > 0
    else:
        drew = bool(sample.pred_sem_seg.data[0].any())
    assert (drawn != image).any() == drew
