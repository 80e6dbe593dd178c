# Copyright (c) fx_mm contributors. All rights reserved.
"""The shipped training configs on real data layouts.

- ``fx_swin-b_cxr15_lock-release.py`` (the paper's pretraining): its 20
  slots follow the reference's visiting order, each slot's head and metric
  agree with its loader, and every slot builds and loads a sample from a
  native-layout miniature of its dataset (``dataset_fixtures``), reached by
  pointing the config's root variables (environment variables) at it. The
  split script of docs/training.md writes the splits fx_mm defines.
- ``fx_swin-t_jsrt_multitask.py``: its three JSRT slots build from the real
  JSRT data with the standard 173 / 25 / 49 split, and the config trains two
  iterations per slot on CPU (skipped without ../shared/data).

The paper model itself (~180 M parameters) is built in
tests/test_model_tools.py, not here.
"""
import copy
import glob
import gzip
import json
import math
import os
import os.path as osp
import re
import shutil

import pytest
from dataset_fixtures import (candid_root, chestx_det_root,  # noqa: F401
                              chexpert_root, mimic_root, nih_root, node21_root,
                              rsna_root, shenzhen_root, siim_root, tbx_root,
                              vindr_root, write_dicom, write_image, write_text)
from fx_test_utils import REPO_ROOT
from mmengine.config import Config
from mmengine.runner import Runner
from test_public_datasets import MIMIC_DICOMS

from fx_mm.datasets.public import COMPETITION_CLASSES, JSRT_SEG_CLASSES
from fx_mm.registry import DATASETS, METRICS

PAPER_CONFIG = osp.join(REPO_ROOT, 'configs', 'foundation_x',
                        'fx_swin-b_cxr15_lock-release.py')
JSRT_CONFIG = osp.join(REPO_ROOT, 'configs', 'foundation_x',
                       'fx_swin-t_jsrt_multitask.py')
JSRT_ORGAN_CONFIG = osp.join(REPO_ROOT, 'configs', 'foundation_x',
                             'fx_swin-t_jsrt_multitask_organ-loc.py')
TRAINING_DOC = osp.join(REPO_ROOT, 'docs', 'training.md')

# foundation_x_reference.md: "A cycle visits 20 slots in a fixed order"
REFERENCE_SLOTS = [
    ('chexpert', 'cls'), ('nih_chestxray14', 'cls'), ('vindr_cxr', 'cls'),
    ('shenzhen', 'cls'), ('mimic_cxr', 'cls'), ('tbx11k', 'cls'),
    ('tbx11k', 'loc'), ('node21', 'cls'), ('node21', 'loc'),
    ('candid_ptx', 'cls'), ('candid_ptx', 'loc'), ('candid_ptx', 'seg'),
    ('rsna_pneumonia', 'cls'), ('rsna_pneumonia', 'loc'),
    ('chestx_det', 'cls'), ('chestx_det', 'loc'), ('chestx_det', 'seg'),
    ('siim_acr', 'cls'), ('siim_acr', 'loc'), ('siim_acr', 'seg')
]
ROOT_VARIABLES = ('FX_CHEXPERT_ROOT', 'FX_NIH_ROOT', 'FX_VINDR_ROOT',
                  'FX_SHENZHEN_ROOT', 'FX_MIMIC_ROOT', 'FX_TBX11K_ROOT',
                  'FX_NODE21_ROOT', 'FX_CANDID_ROOT', 'FX_RSNA_ROOT',
                  'FX_CHESTX_DET_ROOT', 'FX_SIIM_ROOT', 'FX_JSRT_ROOT')
SPLITS = ('train', 'val', 'test')


def load_config(path: str, monkeypatch, **roots) -> Config:
    """The config with the given root variables set (others unset)."""
    for name in ROOT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in roots.items():
        monkeypatch.setenv(name, str(value))
    return Config.fromfile(path)


def split_slots(cfg: Config) -> dict:
    return dict(
        train=cfg.train_cfg.slots,
        val=cfg.val_cfg.slots,
        test=cfg.test_cfg.slots)


def lazy(dataset_cfg: dict):
    """The configured dataset object without reading any annotation."""
    return DATASETS.build(dict(copy.deepcopy(dataset_cfg), lazy_init=True))


def head_size(model_cfg, task: str, name: str) -> int:
    heads = model_cfg[f'{task}_branch']['datasets']
    assert name in heads, f'no {task} head for {name}: {list(heads)}'
    spec = heads[name]
    return spec['num_classes'] if isinstance(spec, dict) else spec


def metrics_by_slot(evaluator_cfg) -> dict:
    metrics = {}
    for metric_cfg in evaluator_cfg:
        metric = METRICS.build(copy.deepcopy(metric_cfg))
        key = (metric.dataset_name, metric.task)
        assert key not in metrics, f'two metrics for {key}'
        metrics[key] = metric
    return metrics


# ---------------------------------------------------------------------------
# every config, and what the bases state once
ALL_CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT) for path in glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True))
CXR_PIPELINES = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                         'cxr_pipelines.py')
JSRT_META = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                     'jsrt_meta.py')


@pytest.mark.parametrize('path', ALL_CONFIGS)
def test_every_config_parses(path, monkeypatch):
    cfg = load_config(osp.join(REPO_ROOT, path), monkeypatch)
    if 'model' in cfg:
        assert cfg.model.backbone.type
    for loop in ('train_cfg', 'val_cfg', 'test_cfg'):
        if cfg.get(loop) and 'slots' in cfg[loop]:
            assert all('dataset' in slot for slot in cfg[loop].slots), path


def test_short_run_schedule_ends_at_the_last_cycle(monkeypatch):
    """Every config on configs/_base_/schedules/short_run.py, whatever its
    ``max_cycles`` (set in it or in a parent): the base's warm-up and
    cosine, the cosine from cycle 0 to the loop's last cycle."""
    found = []
    for path in ALL_CONFIGS:
        cfg = load_config(osp.join(REPO_ROOT, path), monkeypatch)
        if 'short_run_cosine' not in cfg or 'slots' not in cfg.train_cfg:
            continue
        found.append(osp.basename(path))
        max_cycles = cfg.train_cfg.max_cycles
        warmup, cosine = cfg.param_scheduler
        assert warmup == cfg.short_run_warmup, path
        assert cosine == dict(
            cfg.short_run_cosine, end=max_cycles, T_max=max_cycles), path
        assert (warmup.type, warmup.by_epoch, warmup.end) == ('LinearLR',
                                                              False, 50)
        assert (cosine.type, cosine.begin,
                cosine.eta_min) == ('CosineAnnealingLR', 0, 1e-5)
        assert cfg.optim_wrapper.optimizer.lr == 1e-3, path
    assert found == [
        'fx_swin-t_jsrt_cross-task.py', 'fx_swin-t_jsrt_multitask.py',
        'fx_swin-t_jsrt_multitask_organ-loc.py', 'fx_swin-t_synthetic_demo.py',
        'fx_swin-t_synthetic_demo_research.py'
    ]


def test_jsrt_organ_classes_are_written_once(monkeypatch):
    """The SCR organ classes are JSRTDataset's, written in jsrt_meta.py
    alone; every JSRT config family (multi-task, continued pretraining,
    finetuning) trains and evaluates its JSRT seg slot with them."""
    organs = Config.fromfile(JSRT_META).jsrt_seg_classes
    assert organs == JSRT_SEG_CLASSES
    for path in ALL_CONFIGS:
        with open(osp.join(REPO_ROOT, path), encoding='utf-8') as f:
            text = f.read()
        if path.endswith('jsrt_meta.py') or 'SyntheticCXRDataset' in text:
            continue  # the phantoms have organ channels of their own
        assert not re.search(r"'(heart|(left|right)_(lung|clavicle))'",
                             text), path
    families = ('foundation_x/fx_swin-t_jsrt_multitask.py',
                'foundation_x/fx_swin-b_cxr15-jsrt_research_continued.py',
                'finetune/fx_swin-b_jsrt-organ_finetune.py')
    for family in families:
        cfg = load_config(osp.join(REPO_ROOT, 'configs', family), monkeypatch)
        seg = [
            s.dataset for s in cfg.train_cfg.slots
            if s.dataset.type == 'JSRTDataset' and s.dataset.task == 'seg'
        ]
        assert [d.seg_classes for d in seg] == [organs], family
        dice = [
            m for m in cfg.val_evaluator
            if m.type == 'DiceMetric' and m.dataset_name == 'jsrt'
        ]
        assert [m.class_names for m in dice] == [organs], family
    clavicle = load_config(
        osp.join(REPO_ROOT, 'configs', 'finetune',
                 'fx_swin-b_jsrt-clavicle_finetune.py'), monkeypatch)
    assert clavicle.train_cfg.slots[0].dataset.seg_classes == (
        'left_clavicle', 'right_clavicle')


def _without_scale(pipeline) -> list:
    return [{k: v for k, v in t.items() if k != 'scale'} for t in pipeline]


def test_jsrt_pipelines_are_the_shared_ones_at_256_px(monkeypatch):
    shared = Config.fromfile(CXR_PIPELINES)
    cfg = load_config(JSRT_CONFIG, monkeypatch)
    slots = split_slots(cfg)
    for slot in slots['train']:
        pipeline = slot.dataset.pipeline
        assert _without_scale(pipeline) == _without_scale(
            shared.train_pipelines[slot.dataset.task])
        assert [t.scale for t in pipeline if 'scale' in t
                ] in ([(256, 256)], [256]), slot.dataset.task
    for slot in slots['val'] + slots['test']:
        assert _without_scale(slot.dataset.pipeline) == _without_scale(
            shared.test_pipeline)
        assert [t.scale for t in slot.dataset.pipeline
                if 'scale' in t] == [(256, 256)]


def test_single_dataset_config_shows_only_its_heads(monkeypatch):
    """The JSRT config's model, and everything print_config shows, name
    JSRT's heads alone (not the paper's 11 datasets), sized by the class
    table of its dataset config."""
    cfg = load_config(JSRT_CONFIG, monkeypatch)
    for task, size in (('cls', 1), ('loc', 1), ('seg', 5)):
        assert cfg.model[f'{task}_branch'].datasets == dict(jsrt=size)
        assert size == len(cfg.jsrt_classes[task])
    assert 'chexpert' not in json.dumps(cfg.to_dict())


# ---------------------------------------------------------------------------
# the paper config, without data
def test_paper_slots_follow_the_reference_order(monkeypatch):
    cfg = load_config(PAPER_CONFIG, monkeypatch)
    for split, slots in split_slots(cfg).items():
        for slot in slots:
            assert DATASETS.get(slot.dataset.type) is not None, \
                slot.dataset.type
        datasets = [lazy(slot.dataset) for slot in slots]
        assert [(d.dataset_name, d.task)
                for d in datasets] == REFERENCE_SLOTS, split
    # each split reads its own files (ann_file / split / data_prefix)

    def files(dataset_cfg):
        return {
            k: v
            for k, v in dataset_cfg.items()
            if k not in ('pipeline', 'test_mode')
        }

    for train, val, test in zip(*split_slots(cfg).values()):
        name = lazy(train.dataset).dataset_name
        assert files(train.dataset) != files(val.dataset), name
        assert not train.dataset.test_mode
        assert val.dataset.test_mode and test.dataset.test_mode


def test_paper_heads_and_metrics_match_the_loaders(monkeypatch):
    cfg = load_config(PAPER_CONFIG, monkeypatch)
    val_metrics = metrics_by_slot(cfg.val_evaluator)
    test_metrics = metrics_by_slot(cfg.test_evaluator)
    assert sorted(val_metrics) == sorted(REFERENCE_SLOTS)
    assert sorted(test_metrics) == sorted(REFERENCE_SLOTS)
    for slot in cfg.train_cfg.slots:
        dataset = lazy(slot.dataset)
        key = (dataset.dataset_name, dataset.task)
        classes = tuple(dataset.task_classes)
        assert classes, key
        assert head_size(cfg.model, dataset.task,
                         dataset.dataset_name) == len(classes), key
        assert tuple(val_metrics[key].class_names) == classes, key
        assert tuple(test_metrics[key].class_names) == classes, key
    # the paper's CheXpert / MIMIC AUC: the 5 competition diseases
    for name in ('chexpert', 'mimic_cxr'):
        assert val_metrics[(name, 'cls')].mean_over == list(
            COMPETITION_CLASSES)
    assert val_metrics[('nih_chestxray14', 'cls')].mean_over is None
    # RSNA's 3 classes are exclusive: a softmax head
    assert cfg.model.cls_branch.datasets.rsna_pneumonia.multi_label is False
    # TBX11K's 3 box categories form the one class of its decoder
    tbx_loc = lazy(cfg.train_cfg.slots[6].dataset)
    assert tbx_loc.task_classes == ('tuberculosis', )
    # every head of the model is trained by a slot
    for task in ('cls', 'loc', 'seg'):
        heads = set(cfg.model[f'{task}_branch'].datasets)
        assert heads == {n for n, t in REFERENCE_SLOTS if t == task}, task


def test_paper_training_settings(monkeypatch):
    cfg = load_config(PAPER_CONFIG, monkeypatch)
    loop = cfg.train_cfg
    assert loop.type == 'CyclicLockReleaseLoop'
    assert (loop.lock_fraction, loop.release_fraction) == (0.5, 1.0)
    # the published teacher is from ~31.6 cycles of a 100-cycle schedule
    assert loop.max_cycles == 32
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, warmup.by_epoch) == ('LinearLR', 20, True)
    assert (cosine.type, cosine.begin, cosine.end) == ('CosineAnnealingLR',
                                                       20, 100)
    # each slot validated right after training it, on its own val set
    assert (loop.val_interval, loop.val_scope) == (1, 'slots')
    assert not loop.val_at_cycle_end
    assert cfg.val_cfg.type == 'MultiSlotValLoop'
    assert cfg.val_cfg.predict_on == ['student', 'teacher']
    assert cfg.test_cfg.type == 'MultiSlotTestLoop'
    # batch 24 per task: no slot overrides the loader default
    assert cfg.train_dataloader.batch_size == 24
    assert all('batch_size' not in slot for slot in loop.slots)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert cfg.model.backbone.init_cfg is None  # `pretrained = None`
    for split, slots in split_slots(cfg).items():
        for slot in slots:
            types = [t.type for t in slot.dataset.pipeline]
            if split == 'train' and slot.dataset.task == 'cls':
                # the research code's random resized crop to 224
                crop = slot.dataset.pipeline[types.index(
                    'mmpretrain.RandomResizedCrop')]
                assert crop.scale == 224 and 'mmdet.Resize' not in types
                continue
            resize = slot.dataset.pipeline[types.index('mmdet.Resize')]
            assert resize.scale == (224, 224) and not resize.keep_ratio
            # train: annotations resized with the image; val/test: kept in
            # original pixels (loaded after Resize)
            before = types.index('LoadCXRAnnotations') < types.index(
                'mmdet.Resize')
            assert before == (split == 'train'), (split, types)


# ---------------------------------------------------------------------------
# the paper config on native-layout miniatures
def docs_split_script() -> str:
    """The make_fx_splits.py script shown in docs/training.md."""
    with open(TRAINING_DOC, encoding='utf-8') as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
    scripts = [b for b in blocks if b.startswith('# make_fx_splits.py')]
    assert len(scripts) == 1, 'docs/training.md: no make_fx_splits.py block'
    return scripts[0]


def run_docs_split_script(monkeypatch, variable: str, root) -> None:
    for name in ROOT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(root))
    exec(
        compile(docs_split_script(), 'make_fx_splits.py', 'exec'),
        {'__name__': '__main__'})


def prepare_chexpert(root):
    folder = root / 'CheXpert-v1.0-small'
    lines = (folder / 'train.csv').read_text().splitlines()
    write_text(str(folder / 'valid.csv'), '\n'.join(lines[:3]) + '\n')
    return folder, dict(train=3, val=2, test=2)


def prepare_nih(root):
    return root, dict(train=3, val=2, test=2)  # the official lists


def prepare_vindr(root):
    # PhysioNet's layout: labels in annotations/, consensus test labels
    os.makedirs(root / 'annotations')
    shutil.move(root / 'image_labels_train.csv',
                root / 'annotations' / 'image_labels_train.csv')
    write_text(
        str(root / 'annotations' / 'image_labels_test.csv'),
        'image_id,Aortic enlargement,COPD,Lung tumor,Pneumonia,'
        'Tuberculosis,Other disease,No finding\n'
        'ddd,0,0,0,0,0,0,1\neee,1,1,0,1,0,0,0\n')
    for image_id in ('ddd', 'eee'):
        write_dicom(str(root / 'test' / f'{image_id}.dicom'), 8, 8)
    return root, dict(train=3, val=2, test=2)


def prepare_mimic(root):
    path = root / 'mimic-cxr-2.0.0-split.csv.gz'
    with gzip.open(path, 'rt') as f:
        text = f.read()
    dicom = MIMIC_DICOMS[2][0]
    text = text.replace(f'{dicom},{MIMIC_DICOMS[2][2]},'
                        f'{MIMIC_DICOMS[2][1]},train',
                        f'{dicom},{MIMIC_DICOMS[2][2]},'
                        f'{MIMIC_DICOMS[2][1]},validate')
    assert 'validate' in text
    write_text(str(path), text, gz=True)
    return root, dict(train=2, val=1, test=1)


def prepare_tbx11k(root):
    folder = root / 'annotations' / 'json'
    shutil.copy(folder / 'TBX11K_train.json', folder / 'TBX11K_val.json')
    return root, dict(train=4, val=4, test=4)


def prepare_chestx_det(root):
    shutil.copy(root / 'ChestX_Det_train.json', root / 'ChestX_Det_test.json')
    shutil.copytree(root / 'train', root / 'test')
    return root, dict(train=2, val=2, test=2)


def prepare_three_images(root):
    """NODE21, RSNA and Shenzhen miniatures have 3 images: 1 per split."""
    return root, dict(train=1, val=1, test=1)


def prepare_rsna(root):
    # boxes reach x = 818: 1024 x 1024 DICOMs, as RSNA's
    for path in (root / 'stage_2_train_images').iterdir():
        write_dicom(str(path), 1024, 1024)
    return root, dict(train=1, val=1, test=1)


def prepare_candid(root):
    with open(root / 'Pneumothorax_reports.csv', 'a') as f:
        f.write('1.2.3.6,-1\n')
    write_image(str(root / 'images' / '1.2.3.6.png'), size=(5, 4))
    return root, dict(train=1, val=1, test=1)


def prepare_siim(root):
    with open(root / 'train-rle.csv', 'a') as f:
        f.write('1.2.3.9, -1\n')
    write_dicom(
        str(root / 'dicom-images-train' / '1.2.9' / '1.2.9.1' / '1.2.3.9.dcm'),
        rows=4,
        cols=5)
    return root, dict(train=1, val=1, test=1)


# (fixture, root variable, dataset_name, prepare, split is fx_mm's,
#  loader overrides for the miniature)
NATIVE_SETS = [
    ('chexpert_root', 'FX_CHEXPERT_ROOT', 'chexpert', prepare_chexpert,
     False, {}),
    ('nih_root', 'FX_NIH_ROOT', 'nih_chestxray14', prepare_nih, False, {}),
    ('vindr_root', 'FX_VINDR_ROOT', 'vindr_cxr', prepare_vindr, False, {}),
    ('shenzhen_root', 'FX_SHENZHEN_ROOT', 'shenzhen', prepare_three_images,
     True, {}),
    ('mimic_root', 'FX_MIMIC_ROOT', 'mimic_cxr', prepare_mimic, False, {}),
    ('tbx_root', 'FX_TBX11K_ROOT', 'tbx11k', prepare_tbx11k, False, {}),
    ('node21_root', 'FX_NODE21_ROOT', 'node21', prepare_three_images, True,
     {}),
    # the miniatures' RLE masks are drawn on a 4 x 5 grid (1024 x 1024 in
    # the real sets, the loaders' default)
    ('candid_root', 'FX_CANDID_ROOT', 'candid_ptx', prepare_candid, True,
     dict(mask_size=(4, 5))),
    ('rsna_root', 'FX_RSNA_ROOT', 'rsna_pneumonia', prepare_rsna, True, {}),
    ('chestx_det_root', 'FX_CHESTX_DET_ROOT', 'chestx_det',
     prepare_chestx_det, False, {}),
    ('siim_root', 'FX_SIIM_ROOT', 'siim_acr', prepare_siim, True,
     dict(mask_size=(4, 5))),
]


@pytest.mark.parametrize(
    'fixture, variable, name, prepare, ours, overrides',
    NATIVE_SETS,
    ids=[s[2] for s in NATIVE_SETS])
def test_paper_slots_build_from_native_layouts(request, monkeypatch, fixture,
                                               variable, name, prepare, ours,
                                               overrides):
    root, sizes = prepare(request.getfixturevalue(fixture))
    if ours:
        run_docs_split_script(monkeypatch, variable, root)
    cfg = load_config(PAPER_CONFIG, monkeypatch, **{variable: root})
    tasks = [t for n, t in REFERENCE_SLOTS if n == name]
    ids = {}
    for split, slots in split_slots(cfg).items():
        built = []
        for slot in slots:
            if lazy(slot.dataset).dataset_name != name:
                continue
            dataset = DATASETS.build(dict(slot.dataset, **overrides))
            assert dataset.data_root == str(root)
            assert len(dataset) == sizes[split], (split, dataset.task)
            sample = dataset[0]  # through the config's pipeline
            assert tuple(sample['inputs'].shape) == (3, 224, 224)
            meta = sample['data_samples'].metainfo
            assert (meta['dataset'], meta['task']) == (name, dataset.task)
            built.append(dataset.task)
            ids.setdefault(split, set()).update(
                dataset.get_data_info(i)['img_id']
                for i in range(len(dataset)))
        assert built == tasks, split
    if ours:  # fx_mm's split: disjoint, every image in one split
        assert not ids['train'] & ids['val'] and \
            not ids['train'] & ids['test'] and not ids['val'] & ids['test']
        assert len(set.union(*ids.values())) == sum(sizes.values())


def test_vindr_val_reads_the_consensus_test_labels(
        vindr_root, monkeypatch):  # noqa: F811
    root, _ = prepare_vindr(vindr_root)
    cfg = load_config(PAPER_CONFIG, monkeypatch, FX_VINDR_ROOT=root)
    dataset = DATASETS.build(cfg.val_cfg.slots[2].dataset)
    info = dataset.get_data_info(1)
    assert info['img_id'] == 'eee'
    assert info['img_path'] == str(root / 'test' / 'eee.dicom')
    # COPD, Lung tumor, Pneumonia, Tuberculosis, Other diseases, No finding
    assert info['gt_score'].tolist() == [1, 0, 1, 0, 0, 0]


def test_docs_split_script_is_seeded_and_keeps_rsna_files_aligned(
        rsna_root, monkeypatch):  # noqa: F811
    run_docs_split_script(monkeypatch, 'FX_RSNA_ROOT', rsna_root)
    folder = rsna_root / 'fx_splits'
    first = {p.name: p.read_text() for p in folder.iterdir()}
    assert sorted(first) == sorted(
        f'stage_2_{kind}_{split}.csv'
        for kind in ('train_labels', 'detailed_class_info')
        for split in SPLITS)
    for split in SPLITS:
        # the same patients in both files, every row of a patient kept
        labels = first[f'stage_2_train_labels_{split}.csv'].splitlines()
        classes = first[
            f'stage_2_detailed_class_info_{split}.csv'].splitlines()
        assert labels[0] == 'patientId,x,y,width,height,Target'
        assert [r.split(',')[0] for r in labels[1:]] == \
            [r.split(',')[0] for r in classes[1:]]
    assert len(first['stage_2_train_labels_train.csv'].splitlines()) + len(
        first['stage_2_train_labels_val.csv'].splitlines()) + len(
            first['stage_2_train_labels_test.csv'].splitlines()) == 3 + 4
    shutil.rmtree(folder)
    run_docs_split_script(monkeypatch, 'FX_RSNA_ROOT', rsna_root)
    assert {p.name: p.read_text() for p in folder.iterdir()} == first


# ---------------------------------------------------------------------------
# JSRT multi-task config on the real JSRT data
def test_jsrt_multitask_config_datasets(jsrt_root, monkeypatch):
    cfg = load_config(JSRT_CONFIG, monkeypatch, FX_JSRT_ROOT=jsrt_root)
    metrics = metrics_by_slot(cfg.val_evaluator)
    assert sorted(metrics) == [('jsrt', 'cls'), ('jsrt', 'loc'),
                               ('jsrt', 'seg')]
    expected = {}
    for split in SPLITS:
        with open(osp.join(jsrt_root, 'splits', f'{split}.txt')) as f:
            expected[split] = [line.strip() for line in f if line.strip()]
    assert [len(expected[s]) for s in SPLITS] == [173, 25, 49]
    for split, slots in split_slots(cfg).items():
        tasks = []
        for slot in slots:
            dataset = DATASETS.build(slot.dataset)
            tasks.append(dataset.task)
            ids = [
                dataset.get_data_info(i)['img_id'] for i in range(len(dataset))
            ]
            assert sorted(ids) == sorted(
                osp.splitext(n)[0] for n in expected[split]), split
            classes = tuple(dataset.task_classes)
            assert head_size(cfg.model, dataset.task, 'jsrt') == len(classes)
            assert tuple(
                metrics[('jsrt', dataset.task)].class_names) == classes
        assert tasks == ['cls', 'loc', 'seg']
    seg = DATASETS.build(cfg.train_cfg.slots[2].dataset)
    assert seg.task_classes == ('heart', 'left_lung', 'right_lung',
                                'left_clavicle', 'right_clavicle')
    sample = seg[0]
    assert tuple(sample['inputs'].shape) == (3, 256, 256)
    masks = sample['data_samples'].gt_sem_seg.data
    assert tuple(masks.shape) == (5, 256, 256)


def test_jsrt_organ_loc_config(jsrt_root, monkeypatch):
    """A fourth slot: one box per SCR organ, its own 5-class decoder."""
    cfg = load_config(JSRT_ORGAN_CONFIG, monkeypatch, FX_JSRT_ROOT=jsrt_root)
    metrics = metrics_by_slot(cfg.val_evaluator)
    organs = ('heart', 'left_lung', 'right_lung', 'left_clavicle',
              'right_clavicle')
    assert tuple(metrics[('jsrt_organs', 'loc')].class_names) == organs
    assert head_size(cfg.model, 'loc', 'jsrt_organs') == 5
    assert head_size(cfg.model, 'loc', 'jsrt') == 1
    for split, slots in split_slots(cfg).items():
        assert [(s.dataset.get('dataset_name', 'jsrt'), s.dataset.task)
                for s in slots] == [('jsrt', 'cls'), ('jsrt', 'loc'),
                                    ('jsrt_organs', 'loc'), ('jsrt', 'seg')]
    dataset = DATASETS.build(cfg.val_cfg.slots[2].dataset)
    assert dataset.dataset_name == 'jsrt_organs'
    assert dataset.task_classes == organs and len(dataset) == 25
    sample = dataset[0]['data_samples']
    assert sample.gt_instances.labels.tolist() == [0, 1, 2, 3, 4]


def test_jsrt_multitask_config_trains_on_cpu(jsrt_root, tmp_path,
                                             monkeypatch):
    cfg = load_config(JSRT_CONFIG, monkeypatch, FX_JSRT_ROOT=jsrt_root)
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_cycles = 1
    # ceil(0.01 * 173) = 2 images = 1 batch of 2 per phase
    cfg.train_cfg.lock_fraction = 0.01
    cfg.train_cfg.release_fraction = 0.01
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.batch_size = 2
        loader.num_workers = 0
    for slots in (cfg.train_cfg.slots, cfg.val_cfg.slots):
        for slot in slots:
            for transform in slot.dataset.pipeline:
                if transform.type == 'mmdet.Resize':
                    transform.scale = (128, 128)
                if transform.type == 'mmpretrain.RandomResizedCrop':
                    transform.scale = 128
    for slot in cfg.val_cfg.slots:
        slot.dataset.indices = 2  # the first 2 val images of each slot
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    loop = runner.train_loop
    assert [(s['dataset_name'], s['task']) for s in loop.slots] == [
        ('jsrt', 'cls'), ('jsrt', 'loc'), ('jsrt', 'seg')
    ]
    assert [loop.phase_len(s, p) for s in loop.slots
            for p in ('lock', 'release')] == [1] * 6
    assert loop.iter == 6 and loop.epoch == 1
    scalars = runner.message_hub.log_scalars
    for network in ('student', 'teacher'):
        for key in ('cls/AUC', 'loc/mAP40', 'seg/Dice', 'seg/Dice_heart',
                    'seg/Dice_right_clavicle'):
            assert f'val/{network}/jsrt/{key}' in scalars, (network, key)
        dice = scalars[f'val/{network}/jsrt/seg/Dice'].current()
        assert not math.isnan(dice) and 0 <= dice <= 100
