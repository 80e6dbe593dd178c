# Copyright (c) fx_mm contributors. All rights reserved.
"""Export the backbone and classification heads of a Foundation X model.

The exported module takes a float image batch (B, 3, H, W) with pixel
values in 0-255 (the config's ``data_preprocessor`` mean/std are applied
inside) and returns the LOGITS of one dataset's head, (B, num_classes), or
with ``--all-heads`` a tuple of every head's logits in the order written to
the side-car JSON file (apply sigmoid for multi-label heads, softmax for
single-label ones, as the JSON says).

The exported graph is specialised to ONE input shape, (``--batch-size``,
3, ``--shape``): mmdet's Swin turns tensor sizes into Python numbers (window
partition and padding), so tracing bakes them in and another batch size or
resolution would give wrong results silently. The TorchScript file
therefore refuses any other input shape with an error; the ONNX file
declares the static shape.

- ``torchscript``: ``torch.jit.trace`` at that shape inside a scripted
  shape guard; checked against the eager model on a fresh input.
- ``onnx``: ``torch.onnx.export`` (TorchScript-based exporter, opset 17);
  needs the ``onnx`` package, and ``onnxruntime`` to check the result.

Examples::

    python tools/deployment/export.py CONFIG CKPT --format torchscript \\
        --dataset chexpert --out chexpert.pt
    python tools/deployment/export.py CONFIG CKPT --format onnx \\
        --all-heads --out fx_cls.onnx
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from torch import Tensor

from fx_mm.datasets.config_slots import (config_slot_datasets,
                                         dataset_class_names)
from fx_mm.registry import MODELS
from fx_mm.utils import load_fx_checkpoint, register_all_modules


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export backbone + classification heads of fx_mm')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file (training, '
        'published or converted)')
    parser.add_argument(
        '--format', choices=['torchscript', 'onnx'], required=True)
    heads = parser.add_mutually_exclusive_group(required=True)
    heads.add_argument('--dataset', help='export this dataset\'s head')
    heads.add_argument(
        '--all-heads', action='store_true', help='export every cls head')
    parser.add_argument(
        '--model-key',
        choices=['teacher', 'student'],
        default='teacher',
        help='network of a training checkpoint holding both. Defaults to '
        'teacher (the released network)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        help='input size H or H W. Defaults to the size the config\'s test '
        'pipeline resizes to (224 if it has none)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='batch size the exported graph takes. Defaults to 1')
    parser.add_argument(
        '--out', help='output file (default: next to the checkpoint)')
    parser.add_argument(
        '--allow-unsafe-pickle',
        action='store_true',
        help='unpickle arbitrary objects (trusted files only)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


class ClsExportModule(nn.Module):
    """Normalise -> backbone -> pooled feature -> classification head(s).

    Args:
        net (nn.Module): A :class:`FoundationXNet` with a ``cls_branch``.
        datasets (Sequence[str]): Heads to run, in output order.
        mean, std (Sequence[float]): Per-channel normalisation.
    """

    def __init__(self, net: nn.Module, datasets: Sequence[str],
                 mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        branch = net.branch('cls')
        for name in datasets:
            if name not in branch.datasets:
                raise KeyError(f'no classification head for {name!r}; '
                               f'heads: {branch.datasets}')
        self.backbone = net.backbone
        self.cls_branch = branch
        self.datasets = list(datasets)
        self.register_buffer('mean', torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer('std', torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, inputs: Tensor):
        """(B, 3, H, W) 0-255 -> (B, C) logits, or a tuple of them."""
        feats = tuple(self.backbone((inputs - self.mean) / self.std))
        pooled = self.cls_branch.pool(feats)
        logits = tuple(self.cls_branch.heads[name]((pooled, ))
                       for name in self.datasets)
        return logits[0] if len(logits) == 1 else logits


def extract_net_state(state_dict: Mapping,
                      model_key: str = 'teacher',
                      source: str = 'checkpoint') -> 'OrderedDict':
    """FoundationXNet keys from a training (``student.``/``teacher.``),
    published (``student.``) or net-only checkpoint."""
    for prefix in (f'{model_key}.', 'student.'):
        if any(k.startswith(prefix) for k in state_dict):
            return OrderedDict((k[len(prefix):], v)
                               for k, v in state_dict.items()
                               if k.startswith(prefix))
    if any(k.startswith('backbone.') for k in state_dict):
        return OrderedDict(state_dict)
    raise KeyError(f'{source}: no FoundationX weights (keys under '
                   f'"{model_key}.", "student." or "backbone."); first keys:'
                   f' {list(state_dict)[:5]}')


def build_export_module(
        config: str,
        checkpoint: str,
        datasets: Optional[Sequence[str]] = None,
        model_key: str = 'teacher',
        cfg_options: Optional[dict] = None,
        allow_unsafe_pickle: bool = False) -> Tuple[ClsExportModule, dict]:
    """The eval-mode export module and its description."""
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = cfg.model
    if model_cfg.get('cls_branch') is None:
        raise ValueError(f'{config}: the model has no cls_branch to export')
    backbone = dict(model_cfg.backbone, init_cfg=None)
    net = MODELS.build(
        dict(
            type='FoundationXNet',
            backbone=backbone,
            cls_branch=model_cfg.cls_branch))
    loaded = load_fx_checkpoint(
        checkpoint, allow_unsafe_pickle=allow_unsafe_pickle)
    state = loaded.get('state_dict', loaded)
    state = extract_net_state(state, model_key, checkpoint)
    # the export needs the backbone and cls branch only
    state = OrderedDict((k, v) for k, v in state.items()
                        if k.startswith(('backbone.', 'cls_branch.')))
    net.load_state_dict(state, strict=True)
    names = list(datasets) if datasets else net.cls_branch.datasets
    class_names = dataset_class_names(
        sum(config_slot_datasets(cfg, where='export.py').values(), []))
    pre = model_cfg.get('data_preprocessor') or {}
    mean = list(pre.get('mean', (123.675, 116.28, 103.53)))
    std = list(pre.get('std', (58.395, 57.12, 57.375)))
    module = ClsExportModule(net, names, mean, std).eval()
    specs = net.cls_branch.specs
    description = dict(
        input=dict(
            layout='NCHW', channels=3, value_range='0-255', mean=mean,
            std=std),
        outputs=[
            dict(
                dataset=name,
                num_classes=specs[name]['num_classes'],
                class_names=class_names.get(name, {}).get('cls'),
                activation='sigmoid'
                if specs[name]['multi_label'] else 'softmax') for name in names
        ],
        config=osp.abspath(config),
        checkpoint=osp.abspath(checkpoint),
        model_key=model_key)
    return module, description


def _as_list(outputs) -> List[Tensor]:
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def max_difference(a, b) -> float:
    return max(
        float((x - y).abs().max()) for x, y in zip(_as_list(a), _as_list(b)))


class ShapeGuard(nn.Module):
    """Refuse inputs of another shape than the traced one (scripted)."""

    def __init__(self, traced: nn.Module, shape: List[int]) -> None:
        super().__init__()
        self.traced = traced
        self.shape = shape

    def forward(self, inputs: Tensor):
        if inputs.shape != self.shape:
            raise RuntimeError('this fx_mm export was traced for inputs of '
                               'shape ' + str(self.shape) + ', got ' +
                               str(inputs.shape) + '; export again with '
                               '--batch-size / --shape')
        return self.traced(inputs)


def export_torchscript(module: nn.Module, example: Tensor, out: str) -> float:
    """Trace, guard, save, reload and compare with eager on a fresh
    input."""
    with torch.no_grad():
        traced = torch.jit.trace(module, example, check_trace=False)
    guarded = torch.jit.script(ShapeGuard(traced, list(example.shape)))
    guarded.save(out)
    reloaded = torch.jit.load(out)
    check = torch.rand_like(example) * 255
    with torch.no_grad():
        return max_difference(reloaded(check), module(check))


def export_onnx(module: nn.Module, example: Tensor, out: str,
                num_outputs: int) -> Optional[float]:
    """Export with the TorchScript-based exporter; compare with onnxruntime
    when it is installed (else return None)."""
    if importlib.util.find_spec('onnx') is None:
        raise RuntimeError(
            'ONNX export needs the "onnx" package (and "onnxruntime" to '
            'check the result), which is not installed: pip install onnx '
            'onnxruntime, or use --format torchscript')
    output_names = [f'logits_{i}' for i in range(num_outputs)]
    with torch.no_grad():
        torch.onnx.export(
            module, (example, ),
            out,
            dynamo=False,
            opset_version=17,
            input_names=['image'],
            output_names=output_names)
    if importlib.util.find_spec('onnxruntime') is None:
        return None
    import onnxruntime
    session = onnxruntime.InferenceSession(
        out, providers=['CPUExecutionProvider'])
    check = torch.rand_like(example) * 255
    outputs = session.run(None, {'image': check.numpy()})
    with torch.no_grad():
        expected = _as_list(module(check))
    return max(
        float((torch.from_numpy(o) - e).abs().max())
        for o, e in zip(outputs, expected))


def config_input_size(config: str,
                      cfg_options: Optional[dict] = None) -> Tuple[int, int]:
    """(H, W) that the config's test (else val) pipeline resizes to; 224
    when it has no fixed-size ``Resize``."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    for stage in ('test_cfg', 'val_cfg'):
        for slot in (cfg.get(stage) or {}).get('slots') or []:
            for step in slot['dataset'].get('pipeline') or []:
                scale = step.get('scale') if str(
                    step.get('type', '')).endswith('Resize') else None
                if isinstance(scale, int):
                    return scale, scale
                if scale is not None and len(scale) == 2:
                    return int(scale[1]), int(scale[0])  # mmcv: (w, h)
    return 224, 224


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    MMLogger.get_instance('fx_mm_tools', log_level='WARNING')
    if args.shape is None:
        height, width = config_input_size(args.config, args.cfg_options)
    elif len(args.shape) in (1, 2):
        height, width = args.shape[0], args.shape[-1]
    else:
        raise ValueError(f'--shape takes H or H W, got {args.shape}')
    module, description = build_export_module(
        args.config,
        args.checkpoint,
        datasets=None if args.all_heads else [args.dataset],
        model_key=args.model_key,
        cfg_options=args.cfg_options,
        allow_unsafe_pickle=args.allow_unsafe_pickle)
    suffix = '.pt' if args.format == 'torchscript' else '.onnx'
    out = args.out or osp.splitext(args.checkpoint)[0] + (
        '_cls_all' if args.all_heads else f'_cls_{args.dataset}') + suffix
    # before the (long) trace: a missing output folder is created
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    example = torch.rand(args.batch_size, 3, height, width) * 255
    if args.format == 'torchscript':
        diff = export_torchscript(module, example, out)
    else:
        diff = export_onnx(module, example, out, len(module.datasets))
    description.update(
        format=args.format,
        input_size=[height, width],
        input_shape=[args.batch_size, 3, height, width])
    with open(osp.splitext(out)[0] + '.json', 'w') as f:
        json.dump(description, f, indent=2)
    check = 'not checked (onnxruntime is not installed)' if diff is None \
        else f'max |exported - eager| = {diff:.2e}'
    print(f'exported {args.format} to {out} ({check})')
    return out


if __name__ == '__main__':
    main()
