# Copyright (c) fx_mm contributors. All rights reserved.
"""The three recipes of docs/architecture.md, performed in miniature.

Each recipe registers its new module in ``fx_recipes``, a child scope of
fx_mm's registries (so that nothing is added to fx_mm's own), names it in a
config dict as a user's config would (``type='fx_recipes.<Name>'``), builds
FoundationX around it and runs a loss (and a prediction) on real samples of
the recipe dataset, read from files through fx_mm's pipeline:

- a dataset: a :class:`BaseCXRDataset` subclass with ``METAINFO`` and
  ``load_records``; its ``dataset_name`` keys its head;
- a task head: a :class:`MultiDatasetBranch` subclass (shared part + one
  head per dataset) in place of the classification branch;
- a backbone: any module returning a tuple of multi-scale features.
"""
import os.path as osp
from typing import Dict, List, Sequence

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModule, ModuleDict
from mmengine.registry import Registry, init_default_scope

from fx_mm.datasets import BaseCXRDataset, CXRDatasetError
from fx_mm.models.task_branches import MultiDatasetBranch
from fx_mm.registry import DATASETS, MODELS

RECIPE_DATASETS = Registry('dataset', parent=DATASETS, scope='fx_recipes')
RECIPE_MODELS = Registry('model', parent=MODELS, scope='fx_recipes')
IMAGE_SIZE = 64
PIPELINE = [
    dict(type='LoadCXRImage'),
    dict(type='mmdet.Resize', scale=(IMAGE_SIZE, IMAGE_SIZE),
         keep_ratio=False),
    dict(type='LoadCXRAnnotations'),
    dict(type='PackFXInputs'),
]


# ---------------------------------------------------------------------------
# recipe 1: a dataset
@RECIPE_DATASETS.register_module()
class TinyCXRDataset(BaseCXRDataset):
    """``labels.csv`` (``image,nodule,effusion``, one row per image) and
    ``images/<image>``: two image-level labels."""

    METAINFO = dict(dataset_name='tiny_cxr', classes=('nodule', 'effusion'))

    def load_records(self) -> List[dict]:
        with open(self.ann_file, encoding='utf-8') as f:
            lines = f.read().splitlines()
        records = []
        for number, line in enumerate(lines[1:], start=2):
            where = f'{self.ann_file}:{number}'
            with self.record_guard():
                name, *labels = line.split(',')
                if len(labels) != len(self.task_classes):
                    raise CXRDatasetError(
                        f'{where}: {len(labels)} labels, expected '
                        f'{len(self.task_classes)} {self.task_classes}')
                records.append(
                    dict(
                        img_path=osp.join(self.data_root, 'images', name),
                        gt_score=[float(v) for v in labels]))
        return records


# ---------------------------------------------------------------------------
# recipe 2: a task head (a branch: shared part + one head per dataset)
@RECIPE_MODELS.register_module()
class MLPClsBranch(MultiDatasetBranch):
    """Classification by a shared hidden layer on the pooled last stage,
    then one linear head per dataset.

    Args:
        in_channels (int): Channels of the last backbone stage.
        datasets (dict): ``{dataset_name: num_classes}``.
        hidden (int): Width of the shared layer.
    """

    task = 'cls'
    dataset_container = 'heads'

    def __init__(self,
                 in_channels: int,
                 datasets: Dict[str, int],
                 hidden: int = 16,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.shared = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU())
        self.heads = ModuleDict(
            {name: nn.Linear(hidden, n)
             for name, n in datasets.items()})

    def num_outputs(self, dataset: str) -> int:
        self.check_dataset(dataset)
        return self.heads[dataset].out_features

    def hidden(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Last stage (B, C, h, w) -> shared hidden feature (B, hidden)."""
        return self.shared(feats[-1].mean(dim=(2, 3)))

    def loss(self, feats, data_samples, dataset):
        self.check_dataset(dataset)
        hidden = self.hidden(feats)
        logits = self.heads[dataset](hidden)
        target = torch.stack([s.gt_score for s in data_samples]).to(logits)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        return dict(loss_cls=loss), dict(hidden=hidden)

    def predict(self, feats, data_samples, dataset):
        self.check_dataset(dataset)
        scores = self.heads[dataset](self.hidden(feats)).sigmoid()
        for sample, score in zip(data_samples, scores):
            sample.set_pred_score(score)
        return data_samples

    def consistency_features(self, feats, data_samples, dataset):
        return dict(hidden=self.hidden(feats))


# ---------------------------------------------------------------------------
# recipe 3: a backbone
@RECIPE_MODELS.register_module()
class TinyConvBackbone(BaseModule):
    """Four strided-conv stages: (B, 3, H, W) -> a tuple of
    (B, channels[i], H / 2**(i + 2), W / 2**(i + 2)), as Swin's four
    stages.

    Args:
        channels (Sequence[int]): Output channels of the four stages.
    """

    def __init__(self,
                 channels: Sequence[int] = (8, 16, 32, 64),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        ins = (3, ) + tuple(channels[:-1])
        self.stages = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(c_in, c_out, 4 if i == 0 else 2,
                          stride=4 if i == 0 else 2), nn.ReLU())
            for i, (c_in, c_out) in enumerate(zip(ins, channels))
        ])

    def forward(self, x: torch.Tensor) -> tuple:
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return tuple(outs)


# ---------------------------------------------------------------------------
@pytest.fixture(scope='module', autouse=True)
def fx_mm_scope():
    """``default_scope = 'fx_mm'``, as in every fx_mm config."""
    init_default_scope('fx_mm')


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory) -> str:
    """Three 80 x 96 images and their labels, in TinyCXRDataset's
    layout."""
    root = tmp_path_factory.mktemp('tiny_cxr')
    (root / 'images').mkdir()
    rng = np.random.default_rng(0)
    rows = ['image,nodule,effusion']
    for i, labels in enumerate(('1,0', '0,1', '1,1')):
        name = f'case_{i}.png'
        cv2.imwrite(
            str(root / 'images' / name),
            rng.integers(0, 256, (80, 96), dtype=np.uint8))
        rows.append(f'{name},{labels}')
    (root / 'labels.csv').write_text('\n'.join(rows) + '\n')
    return str(root)


def tiny_dataset(root: str) -> BaseCXRDataset:
    return DATASETS.build(
        dict(
            type='fx_recipes.TinyCXRDataset',
            data_root=root,
            ann_file='labels.csv',
            task='cls',
            pipeline=PIPELINE))


def model_cfg(backbone: dict, cls_branch: dict) -> dict:
    """FoundationX with a mean teacher and only a classification branch."""
    return dict(
        type='FoundationX',
        backbone=backbone,
        cls_branch=cls_branch,
        with_teacher=True,
        consistency_weight=0.5)


def batch_of(dataset, model, training: bool) -> dict:
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    return model.data_preprocessor(batch, training)


def loss_and_grads(model, data) -> Dict[str, torch.Tensor]:
    model.train()
    model.zero_grad(set_to_none=True)
    losses = model(**data, mode='loss')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    return losses


def has_grad(module: nn.Module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0
               for p in module.parameters())


SWIN_T_BACKBONE = dict(
    type='fx_mm.FXSwinTransformer',
    embed_dims=16,
    depths=[1, 1, 1, 1],
    num_heads=[1, 1, 2, 2],
    window_size=4,
    out_indices=(0, 1, 2, 3))


def test_recipe_dataset(tiny_root):
    dataset = tiny_dataset(tiny_root)
    assert (dataset.dataset_name, dataset.task) == ('tiny_cxr', 'cls')
    assert dataset.task_classes == ('nodule', 'effusion')
    assert len(dataset) == 3
    sample = dataset[2]
    assert tuple(sample['inputs'].shape) == (3, IMAGE_SIZE, IMAGE_SIZE)
    assert sample['data_samples'].gt_score.tolist() == [1.0, 1.0]
    assert sample['data_samples'].metainfo['dataset'] == 'tiny_cxr'
    # its head: keyed by dataset_name, sized by METAINFO
    torch.manual_seed(0)
    model = MODELS.build(
        model_cfg(
            SWIN_T_BACKBONE,
            dict(
                type='MultiDatasetClsBranch',
                in_channels=128,
                datasets={
                    dataset.dataset_name: len(dataset.task_classes),
                    'other': 3
                })))
    model.init_weights()
    losses = loss_and_grads(model, batch_of(dataset, model, True))
    assert torch.isfinite(losses['loss_cls'])
    assert 'loss_consistency' in losses
    heads = model.student.cls_branch.heads
    assert has_grad(heads['tiny_cxr']) and not has_grad(heads['other'])


def test_recipe_dataset_names_the_bad_line(tiny_root, tmp_path):
    (tmp_path / 'labels.csv').write_text('image,nodule,effusion\n'
                                         'case_0.png,1\n')
    with pytest.raises(CXRDatasetError, match=r'labels\.csv:2: 1 labels, '
                       r"expected 2 \('nodule', 'effusion'\)"):
        tiny_dataset(str(tmp_path))


def test_recipe_task_head(tiny_root):
    dataset = tiny_dataset(tiny_root)
    torch.manual_seed(0)
    model = MODELS.build(
        model_cfg(
            SWIN_T_BACKBONE,
            dict(
                type='fx_recipes.MLPClsBranch',
                in_channels=128,
                datasets=dict(tiny_cxr=2, other=3))))
    model.init_weights()
    branch = model.student.cls_branch
    assert isinstance(branch, MLPClsBranch)
    # what the lock phases and frozen_modules ask of a branch
    assert branch.datasets == ['tiny_cxr', 'other']
    assert branch.shared_modules() == [branch.shared]
    assert branch.dataset_modules('tiny_cxr') == [branch.heads['tiny_cxr']]
    assert branch.num_outputs('other') == 3
    losses = loss_and_grads(model, batch_of(dataset, model, True))
    assert set(losses) == {'loss_cls', 'loss_consistency'}
    assert has_grad(branch.shared) and has_grad(branch.heads['tiny_cxr'])
    assert not has_grad(branch.heads['other'])
    assert not has_grad(model.teacher)
    model.eval()
    with torch.no_grad():
        preds = model(**batch_of(dataset, model, False), mode='predict')
    assert [tuple(p.pred_score.shape) for p in preds] == [(2, )] * 3
    assert all(0 <= float(s) <= 1 for p in preds for s in p.pred_score)


def test_recipe_backbone(tiny_root):
    dataset = tiny_dataset(tiny_root)
    torch.manual_seed(0)
    model = MODELS.build(
        model_cfg(
            dict(type='fx_recipes.TinyConvBackbone', channels=(8, 16, 32,
                                                               64)),
            dict(
                type='MultiDatasetClsBranch',
                in_channels=64,
                datasets=dict(tiny_cxr=2))))
    model.init_weights()
    backbone = model.student.backbone
    assert isinstance(backbone, TinyConvBackbone)
    data = batch_of(dataset, model, True)
    feats = model.student.extract_feat(data['inputs'])
    assert [tuple(f.shape) for f in feats] == [
        (3, c, IMAGE_SIZE // s, IMAGE_SIZE // s)
        for c, s in ((8, 4), (16, 8), (32, 16), (64, 32))
    ]
    losses = loss_and_grads(model, data)
    assert torch.isfinite(losses['loss_cls'])
    assert has_grad(backbone)
