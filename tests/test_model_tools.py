# Copyright (c) fx_mm contributors. All rights reserved.
"""Parameter counting (get_flops.py) and the overhead benchmark."""
import os.path as osp
import re
import sys

import pytest
import torch
from fx_test_utils import REPO_ROOT, load_tool, tiny_demo_config, write_config

from fx_mm.registry import MODELS

# tools-only code, imported from its folder as get_flops.py does
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
from model_stats import parameter_breakdown  # noqa: E402

PAPER_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                        'foundation_x_swin-b.py')
# foundation_x_reference.md: "Total ~179 M parameters"
REFERENCE_TOTAL = 179e6


def _total_from_report(text: str) -> int:
    match = re.search(r'\| \*\*total\*\* \| \*\*([\d,]+)\*\* \|', text)
    assert match, text
    return int(match.group(1).replace(',', ''))


def _dino_decoder_params(num_classes: int,
                         layers: int = 6,
                         dims: int = 256,
                         ffn: int = 2048,
                         heads: int = 8,
                         levels: int = 4,
                         points: int = 4,
                         queries: int = 900) -> int:
    """One dataset's decoding part, counted by hand from DINO's layout."""

    def linear(i, o):
        return i * o + o

    self_attn = 4 * dims * dims + 4 * dims  # in_proj (3x) + out_proj
    cross_attn = (
        linear(dims, heads * levels * points * 2)  # sampling offsets
        + linear(dims, heads * levels * points)  # attention weights
        + 2 * linear(dims, dims))  # value / output projections
    layer = self_attn + cross_attn + linear(dims, ffn) + linear(
        ffn, dims) + 3 * 2 * dims
    ref_point_head = linear(2 * dims, dims) + linear(dims, dims)
    predictions = layers + 1  # decoder layers + encoder proposals
    head = predictions * (
        linear(dims, num_classes) + 2 * linear(dims, dims) + linear(dims, 4))
    return (layers * layer + ref_point_head + 2 * dims + head +
            queries * dims + linear(dims, dims) + 2 * dims  # memory trans
            + num_classes * dims)  # denoising label embedding


@pytest.fixture(scope='module')
def paper_model():
    """The paper's Swin-B model, built ONCE (~165 M parameters, no
    teacher)."""
    model = load_tool('tools/analysis_tools/get_flops.py').build_model(
        PAPER_CONFIG)
    yield model
    del model


def test_paper_config_parameter_count(paper_model):
    rows = parameter_breakdown(paper_model.student)
    print('\n'.join(f'{name:40s} {count:>12,}' for name, count in rows))
    counts = dict(rows)
    total = counts['total']
    assert total == sum(p.numel() for p in paper_model.student.parameters())
    assert sum(v for k, v in rows if k != 'total') == total
    assert abs(total - REFERENCE_TOTAL) <= 0.10 * REFERENCE_TOTAL, total
    # heads by hand: Linear(1024, n) per classification dataset
    assert counts['cls_branch.heads.chexpert'] == 1024 * 14 + 14
    assert counts['cls_branch.heads.rsna_pneumonia'] == 1024 * 3 + 3
    assert len([k for k in counts if k.startswith('cls_branch.heads.')]) == 11
    # one DINO decoder per localization dataset
    decoders = {
        k.split('.')[-1]: v
        for k, v in counts.items() if k.startswith('loc_branch.decoders.')
    }
    assert decoders == {
        name: _dino_decoder_params(13 if name == 'chestx_det' else 1)
        for name in ('tbx11k', 'node21', 'candid_ptx', 'rsna_pneumonia',
                     'chestx_det', 'siim_acr')
    }
    # 3x3 conv 128 -> n per segmentation dataset
    assert counts['seg_branch.conv_segs.chestx_det'] == 128 * 13 * 9 + 13
    # Swin-B: 86.7 M without a classifier
    assert 86e6 < counts['backbone'] < 88e6


def test_report_total_is_the_student_sum(paper_model):
    text = load_tool('tools/analysis_tools/get_flops.py').report(
        paper_model, (224, 224), params_only=True)
    assert _total_from_report(text) == sum(
        p.numel() for p in paper_model.student.parameters())
    assert 'FLOPs' not in text


def test_get_flops_cli_on_tiny_config(tmp_path, capsys):
    """The teacher is not counted; FLOPs of the three tasks are reported."""
    cfg = tiny_demo_config(str(tmp_path))
    config = write_config(cfg, str(tmp_path / 'tiny.py'))
    with_teacher = MODELS.build(cfg.model)
    student_total = sum(p.numel() for p in with_teacher.student.parameters())
    assert sum(p.numel() for p in with_teacher.parameters()) == \
        2 * student_total
    load_tool('tools/analysis_tools/get_flops.py').main(
        [config, '--shape', '64'])
    text = capsys.readouterr().out
    assert _total_from_report(text) == student_total
    flops = {
        task: float(value)
        for task, value in re.findall(
            r'^\| (cls|loc|seg) \| phantom_a \| ([\d.]+) G \|$', text,
            re.MULTILINE)
    }
    assert set(flops) == {'cls', 'loc', 'seg'}, text
    # every task runs the backbone; loc and seg run more on top
    assert 0 < flops['cls'] < flops['loc'] and flops['cls'] < flops['seg']


def test_benchmark_overhead_script(tmp_path, capsys):
    cfg = tiny_demo_config(str(tmp_path))
    config = write_config(cfg, str(tmp_path / 'tiny.py'))
    out = tmp_path / 'benchmarks.md'
    benchmark = load_tool('tools/analysis_tools/benchmark_overhead.py')
    with pytest.raises(ValueError, match='batch-size must be >= 2'):
        benchmark.main([config, '--batch-size', '1'])
    benchmark.main([
        config, '--iters', '1', '--warmup', '0', '--shape', '64',
        '--batch-size', '2', '--device', 'cpu', '--rounds', '1', '--out',
        str(out)
    ])
    stdout = capsys.readouterr().out
    # ratio cells: "median (min-max)" over the rounds
    rows = re.findall(
        r'^\| (cls|loc|seg) \| phantom_a \| (.+?) \| ([\d.]+) \| ([\d.]+) \| '
        r'([\d.]+)(?: \(!\))? \([\d.]+-[\d.]+\) \| ([\d.]+) \| '
        r'([\d.]+) \([\d.]+-[\d.]+\) \|$', stdout, re.MULTILINE)
    assert [r[0] for r in rows] == ['cls', 'loc', 'seg'], stdout
    assert [r[1] for r in rows] == [
        'mmpretrain ImageClassifier', 'mmdet DINO',
        'mmseg EncoderDecoder + UPerHead'
    ]
    for _, _, single, fx, ratio, fx_teacher, ratio_teacher in rows:
        assert float(ratio) == pytest.approx(
            float(fx) / float(single), abs=2e-3)
        assert float(ratio_teacher) == pytest.approx(
            float(fx_teacher) / float(single), abs=2e-3)
    written = out.read_text()
    assert 'torch ' + torch.__version__ in written and 'cores:' in written
    assert written.count('| loc | phantom_a |') == 1
