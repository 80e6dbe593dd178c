# Copyright (c) fx_mm contributors. All rights reserved.
"""tools/deployment/export.py: exported heads equal the model's predict."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from fx_test_utils import load_tool, tiny_demo_config, write_config
from mmpretrain.structures import DataSample

from fx_mm.registry import MODELS

SIZE = 64


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny FoundationX checkpoint whose teacher differs from its
    student."""
    tmp = tmp_path_factory.mktemp('export')
    cfg = tiny_demo_config(str(tmp))
    config = write_config(cfg, str(tmp / 'tiny.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = str(tmp / 'fx_tiny.pth')
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
    return model.eval(), config, path, tmp


def _predict_scores(model, images, dataset, predict_on):
    """pred_score of FoundationX's own predict (data preprocessor
    included)."""
    samples = [
        DataSample(metainfo=dict(dataset=dataset, task='cls')) for _ in images
    ]
    model.predict_on = predict_on
    data = model.data_preprocessor(
        dict(inputs=list(images), data_samples=samples), False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    return torch.stack([r.pred_score for r in results])


def test_torchscript_single_head_equals_predict(trained):
    model, config, path, tmp = trained
    # an output folder that does not exist yet is created
    out = str(tmp / 'exports' / 'phantom_b.pt')
    load_tool('tools/deployment/export.py').main([
        config, path, '--format', 'torchscript', '--dataset', 'phantom_b',
        '--shape',
        str(SIZE), '--out', out
    ])
    exported = torch.jit.load(out)
    images = torch.randint(0, 256, (1, 3, SIZE, SIZE), dtype=torch.uint8)
    with torch.no_grad():
        logits = exported(images.float())
    assert logits.shape == (1, 2)
    expected = _predict_scores(model, images, 'phantom_b', 'teacher')
    assert torch.allclose(logits.sigmoid(), expected, atol=1e-5)
    # the teacher was exported, not the student
    student = _predict_scores(model, images, 'phantom_b', 'student')
    assert not torch.allclose(logits.sigmoid(), student, atol=1e-4)
    with open(osp.splitext(out)[0] + '.json') as f:
        description = json.load(f)
    assert description['outputs'] == [
        dict(
            dataset='phantom_b',
            num_classes=2,
            class_names=['opacity', 'cardiomegaly'],
            activation='sigmoid')
    ]
    assert description['input_shape'] == [1, 3, SIZE, SIZE]
    # the graph is specialised to its traced shape: others are refused
    with pytest.raises(torch.jit.Error, match='traced for inputs of shape'):
        exported(torch.zeros(2, 3, SIZE, SIZE))


def test_torchscript_all_heads_of_the_student(trained):
    model, config, path, tmp = trained
    out = str(tmp / 'all.pt')
    load_tool('tools/deployment/export.py').main([
        config, path, '--format', 'torchscript', '--all-heads', '--model-key',
        'student', '--batch-size', '2', '--shape',
        str(SIZE), '--out', out
    ])
    images = torch.randint(0, 256, (2, 3, SIZE, SIZE), dtype=torch.uint8)
    with torch.no_grad():
        outputs = torch.jit.load(out)(images.float())
    assert isinstance(outputs, tuple) and len(outputs) == 2
    for dataset, logits in zip(('phantom_a', 'phantom_b'), outputs):
        expected = _predict_scores(model, images, dataset, 'student')
        assert torch.allclose(logits.sigmoid(), expected, atol=1e-5)


def test_default_shape_is_the_configs(trained):
    """Without --shape the export takes the size the config's test
    pipeline resizes to."""
    _, config, _, _ = trained
    assert load_tool('tools/deployment/export.py').config_input_size(
        config) == (128, 128)
    assert load_tool('tools/deployment/export.py').config_input_size(
        config, {'test_cfg.slots.0.dataset.pipeline.1.scale':
                 (96, 80)}) == (80, 96)


def test_export_errors(trained):
    _, config, path, tmp = trained
    tool = load_tool('tools/deployment/export.py')
    with pytest.raises(KeyError, match="no classification head for 'nih'"):
        tool.main([
            config, path, '--format', 'torchscript', '--dataset', 'nih',
            '--out',
            str(tmp / 'x.pt')
        ])
    with pytest.raises(SystemExit):  # one of --dataset / --all-heads
        tool.parse_args([config, path, '--format', 'onnx'])


def test_onnx_export(trained):
    model, config, path, tmp = trained
    tool = load_tool('tools/deployment/export.py')
    out = str(tmp / 'phantom_a.onnx')
    argv = [
        config, path, '--format', 'onnx', '--dataset', 'phantom_a', '--shape',
        str(SIZE), '--batch-size', '2', '--out', out
    ]
    if importlib.util.find_spec('onnx') is None:
        with pytest.raises(RuntimeError, match='needs the "onnx" package'):
            tool.main(argv)
        pytest.skip('onnx is not installed: ONNX export checked for its '
                    'error message only')
    tool.main(argv)
    assert osp.getsize(out) > 0
    onnxruntime = pytest.importorskip('onnxruntime')
    images = torch.randint(0, 256, (2, 3, SIZE, SIZE), dtype=torch.uint8)
    session = onnxruntime.InferenceSession(
        out, providers=['CPUExecutionProvider'])
    (logits, ) = session.run(None, {'image': images.float().numpy()})
    expected = _predict_scores(model, images, 'phantom_a', 'teacher')
    assert torch.allclose(
        torch.from_numpy(logits).sigmoid(), expected, atol=1e-5)
