# Copyright (c) fx_mm contributors. All rights reserved.
"""FXInferencer: inputs (PNG, odd-size JPEG, arrays, DICOM, folders),
checkpoint networks, box / mask coordinates, JSON output, the demo."""
import copy
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from fx_test_utils import load_tool, tiny_demo_config
from mmengine.dataset import pseudo_collate
from pycocotools import mask as mask_utils

from fx_mm.apis import FXInferencer
from fx_mm.registry import DATASETS, MODELS

SIIM_UID = '1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819'
HEADS = {(v, t)
         for v in ('phantom_a', 'phantom_b')
         for t in ('cls', 'loc', 'seg')}


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Tiny config, its phantoms, a checkpoint whose student and teacher
    differ, and an inferencer on it (teacher)."""
    root = str(tmp_path_factory.mktemp('inferencer'))
    cfg = tiny_demo_config(root, num_images=4, image_size=128)
    test_slot = cfg.test_cfg.slots[0].dataset  # phantom_a / cls
    dataset = DATASETS.build(test_slot)  # generates the phantoms
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for param in model.student.parameters():
            param.add_(0.05 * torch.randn_like(param))
        # an untrained DINO scores every box at its 0.01 class prior: give
        # the boxes confident scores so that the score threshold keeps some
        for network in (model.student, model.teacher):
            for unit in network.loc_branch.decoders.values():
                for branch in unit.bbox_head.cls_branches:
                    branch.bias.zero_()
    ckpt = osp.join(root, 'fx.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), ckpt)
    inferencer = FXInferencer(cfg, weights=ckpt)
    png = dataset[0]['data_samples'].img_path
    return dict(
        root=root,
        cfg=cfg,
        ckpt=ckpt,
        model=model.eval(),
        dataset=dataset,
        inferencer=inferencer,
        png=png)


def head_outputs(pred: dict) -> dict:
    """Arrays of a prediction dict: {(dataset, task): array}."""
    out = {}
    for dataset, tasks in pred['heads'].items():
        for task, entry in tasks.items():
            if task == 'cls':
                value = np.array(list(entry['scores'].values()))
            elif task == 'loc':
                value = np.concatenate([
                    np.reshape(entry['bboxes'], (-1, 4)),
                    np.reshape(entry['scores'], (-1, 1))
                ],
                                       axis=1)
            else:
                value = np.stack([
                    mask_utils.decode(rle) for rle in entry['masks'].values()
                ])
            out[(dataset, task)] = value
    return out


def assert_same_predictions(a: dict, b: dict, atol=1e-4):
    """Same heads, equal masks, scores / boxes equal up to ``atol``."""
    assert a.keys() == b.keys()
    for key in a:
        if key[1] == 'seg':
            np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))
        else:
            np.testing.assert_allclose(
                a[key], b[key], atol=atol, err_msg=str(key))


def test_teacher_by_default_and_matches_dataset_pipeline(setup):
    inferencer = setup['inferencer']
    assert inferencer.model_key == 'teacher'
    saved = torch.load(setup['ckpt'])['state_dict']
    name = 'teacher.cls_branch.heads.phantom_a.fc.weight'
    loaded = dict(inferencer.model.named_parameters())[name]
    torch.testing.assert_close(loaded, saved[name])

    # the same image through the dataset's own test pipeline and the
    # original model: identical class scores for both networks
    batch = pseudo_collate([setup['dataset'][0]])
    student = FXInferencer(
        setup['cfg'], weights=setup['ckpt'], model_key='student')
    for network, inf in (('teacher', inferencer), ('student', student)):
        setup['model'].predict_on = network
        with torch.no_grad():
            expected = setup['model'].test_step(batch)[0].pred_score
        result = inf(setup['png'], tasks='cls', datasets='phantom_a')
        scores = result['predictions'][0]['heads']['phantom_a']['cls'][
            'scores']
        assert list(scores) == ['nodule', 'cardiomegaly']
        np.testing.assert_allclose(
            list(scores.values()), expected.numpy(), atol=1e-5)
    teacher_scores = inferencer(setup['png'], tasks='cls')['predictions'][0]
    student_scores = student(setup['png'], tasks='cls')['predictions'][0]
    teacher_cls = head_outputs(teacher_scores)
    student_cls = head_outputs(student_scores)
    assert teacher_cls.keys() == student_cls.keys()
    assert any(
        np.abs(teacher_cls[k] - student_cls[k]).max() > 1e-3
        for k in teacher_cls)


def check_against_samples(inferencer, image_path, pred, samples, score_thr):
    """JSON dict vs data samples; boxes vs a rescale=False run scaled by
    hand to the original image. Returns the number of boxes checked."""
    height, width = pred['height'], pred['width']
    num_boxes = 0
    for dataset, tasks in samples.items():
        for task, sample in tasks.items():
            entry = pred['heads'][dataset][task]
            if task == 'cls':
                np.testing.assert_allclose(
                    list(entry['scores'].values()), sample.pred_score)
            elif task == 'seg':
                masks = sample.pred_sem_seg.data.numpy()
                assert masks.shape[1:] == (height, width)
                for k, name in enumerate(entry['classes']):
                    decoded = mask_utils.decode(entry['masks'][name])
                    np.testing.assert_array_equal(decoded, masks[k])
                    assert entry['areas'][name] == int(masks[k].sum())
            else:
                inst = sample.pred_instances
                keep = inst.scores > score_thr
                np.testing.assert_allclose(
                    np.reshape(entry['bboxes'], (-1, 4)),
                    inst.bboxes[keep].reshape(-1, 4))
                # boxes of the resized input, scaled by hand
                loaded = inferencer._load_input(image_path)
                loaded['name'] = pred['name']
                data = inferencer.model.data_preprocessor(
                    inferencer.preprocess([loaded], (dataset, task)), False)
                net = inferencer.model.teacher
                feats = net.extract_feat(data['inputs'])
                raw = net.loc_branch.predict(
                    feats, data['data_samples'], dataset,
                    rescale=False)[0].pred_instances
                in_h, in_w = data['inputs'].shape[2:]
                by_hand = raw.bboxes[raw.scores > score_thr].clone()
                by_hand[:, 0::2] *= width / in_w
                by_hand[:, 1::2] *= height / in_h
                by_hand[:, 0::2] = by_hand[:, 0::2].clamp(0, width)
                by_hand[:, 1::2] = by_hand[:, 1::2].clamp(0, height)
                np.testing.assert_allclose(
                    entry['bboxes'], by_hand.reshape(-1, 4), atol=1e-3)
                assert entry['labels'] == [
                    'nodule' if dataset == 'phantom_a' else 'opacity'
                ] * len(by_hand)
                num_boxes += len(by_hand)
    return num_boxes


def test_png_json_roundtrip_and_original_coordinates(setup, tmp_path):
    inferencer = setup['inferencer']
    out_dir = str(tmp_path / 'out')
    score_thr = 0.2
    samples = inferencer(
        setup['png'],
        return_datasamples=True,
        pred_score_thr=score_thr,
        out_dir=out_dir)['predictions'][0]
    assert {(d, t) for d, tasks in samples.items() for t in tasks} == HEADS
    name = osp.splitext(osp.basename(setup['png']))[0]
    with open(osp.join(out_dir, 'preds', f'{name}.json')) as f:
        pred = json.load(f)
    assert (pred['height'], pred['width']) == (256, 256)
    assert pred['model_key'] == 'teacher'
    assert pred['heads']['phantom_b']['seg']['classes'] == [
        'left_clavicle', 'right_clavicle'
    ]
    assert check_against_samples(inferencer, setup['png'], pred, samples,
                                 score_thr) > 0
    # overlay: rows cls / loc / seg of 256 px tiles (+4 px gaps); the cls
    # row is widest: two tiles of image + panel
    vis = cv2.imread(osp.join(out_dir, 'vis', f'{name}.png'))
    assert vis.shape == (3 * (256 + 4), 2 * (512 + 4), 3)


def test_odd_size_jpeg(setup, tmp_path):
    image = cv2.imread(setup['png'], cv2.IMREAD_GRAYSCALE)
    odd = cv2.resize(image, (97, 131))  # W x H, non-uniform scale
    path = str(tmp_path / 'odd.jpg')
    cv2.imwrite(path, odd)
    inferencer = setup['inferencer']
    samples = inferencer(
        path, tasks=('loc', 'seg'), return_datasamples=True)['predictions'][0]
    pred = inferencer(path, tasks=('loc', 'seg'))['predictions'][0]
    assert (pred['height'], pred['width']) == (131, 97)
    assert check_against_samples(inferencer, path, pred, samples, 0.3) > 0
    boxes = np.array(pred['heads']['phantom_a']['loc']['bboxes'])
    if len(boxes):
        assert (boxes[:, 0::2] <= 97).all() and (boxes[:, 1::2] <= 131).all()


def test_real_odd_size_jpeg(setup, shared_data):
    path = osp.join(shared_data, 'misc', '16747_3_1.jpg')
    if not osp.isfile(path):
        pytest.skip('16747_3_1.jpg is not in ../shared/data/misc')
    height, width = cv2.imread(path, cv2.IMREAD_GRAYSCALE).shape
    pred = setup['inferencer'](path, tasks='seg')['predictions'][0]
    assert (pred['height'], pred['width']) == (height, width)
    for tasks in pred['heads'].values():
        for rle in tasks['seg']['masks'].values():
            assert mask_utils.decode(rle).shape == (height, width)


def letterbox_config(cfg, size: int):
    """``cfg`` with every val / test pipeline letterboxed: aspect kept,
    padded to a ``size`` square (docs/datasets.md)."""
    cfg = copy.deepcopy(cfg)
    for slots in (cfg.val_cfg.slots, cfg.test_cfg.slots):
        for slot in slots:
            pipeline = []
            for transform in slot.dataset.pipeline:
                if transform.type == 'mmdet.Resize':
                    pad = dict(type='FXPad', size=(size, size))
                    pipeline += [dict(transform, keep_ratio=True), pad]
                else:
                    pipeline.append(transform)
            slot.dataset.pipeline = pipeline
    return cfg


def test_letterbox_predictions_map_back_to_the_original(setup):
    """A non-square image through a letterbox pipeline: the network sees
    the image padded to a square; masks and boxes come back in the
    original pixels. Reference: the same image padded by hand to the
    square (the same network input), whose predictions cropped to the
    image must be the letterboxed image's."""
    size = 128
    inferencer = FXInferencer(
        letterbox_config(setup['cfg'], size), weights=setup['ckpt'])
    gray = cv2.resize(
        cv2.imread(setup['png'], cv2.IMREAD_GRAYSCALE), (size, size))
    image = np.ascontiguousarray(gray[:, :96])  # H 128 x W 96
    padded = np.zeros_like(gray)
    padded[:, :96] = image
    pred, ref = (
        inferencer(x, pred_score_thr=0.0)['predictions'][0]
        for x in (image, padded))
    assert (pred['height'], pred['width']) == (128, 96)
    out, expected = head_outputs(pred), head_outputs(ref)
    assert out.keys() == expected.keys() == HEADS
    for (dataset, task), value in out.items():
        reference = expected[(dataset, task)]
        if task == 'seg':
            assert value.shape[1:] == (128, 96)
            np.testing.assert_array_equal(value, reference[:, :, :96])
        elif task == 'loc':  # boxes clipped to the image
            reference[:, [0, 2]] = reference[:, [0, 2]].clip(max=96)
            np.testing.assert_allclose(value, reference, atol=1e-3)
            assert (value[:, [0, 2]] <= 96).all()
        else:
            np.testing.assert_allclose(value, reference, atol=1e-5)


def test_arrays_match_file_input(setup):
    inferencer = setup['inferencer']
    gray = cv2.imread(setup['png'], cv2.IMREAD_GRAYSCALE)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    results = inferencer([setup['png'], gray, rgb],
                         tasks=('cls', 'seg'))['predictions']
    assert [r['name'] for r in results][1:] == ['array_0001', 'array_0002']
    reference = head_outputs(results[0])
    for result in results[1:]:
        assert result['img_path'] is None
        assert_same_predictions(head_outputs(result), reference)
    with pytest.raises(ValueError, match=r'input 0 .*\(H, W\) grayscale'):
        inferencer(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        inferencer(str(osp.join(setup['root'], 'missing.png')))


def write_dicom(path, pixels, photometric):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (ExplicitVRLittleEndian,
                             SecondaryCaptureImageStorage, generate_uid)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'CR'
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_and_monochrome1_twins(setup, shared_data, tmp_path):
    misc = osp.join(shared_data, 'misc')
    original = osp.join(misc, SIIM_UID + '.dcm')
    fake = osp.join(misc, 'Fake_MONOHR1.dcm')
    if not (osp.isfile(original) and osp.isfile(fake)):
        pytest.skip('the SIIM DICOMs are not in ../shared/data/misc')
    import pydicom
    pixels = pydicom.dcmread(original).pixel_array
    assert pixels.dtype == np.uint8 and pixels.shape == (1024, 1024)
    # the shared twin stores the SAME pixels with the tag switched to
    # MONOCHROME1 (see ../shared/data/README.md and test_dicom_io.py), so
    # honouring the tag shows the inverted picture; a true twin (inverted
    # pixels + MONOCHROME1) shows the original picture
    np.testing.assert_array_equal(pydicom.dcmread(fake).pixel_array, pixels)
    assert pydicom.dcmread(fake).PhotometricInterpretation == 'MONOCHROME1'
    true_twin = str(tmp_path / 'true_twin.dcm')
    write_dicom(true_twin, 255 - pixels, 'MONOCHROME1')

    inferencer = setup['inferencer']
    results = inferencer([original, pixels, fake, 255 - pixels, true_twin],
                         tasks=('cls', 'seg'),
                         datasets='phantom_a',
                         batch_size=2)['predictions']
    assert results[0]['name'] == SIIM_UID
    assert (results[0]['height'], results[0]['width']) == (1024, 1024)
    dicom, array, fake_pred, inverted, twin = map(head_outputs, results)
    assert_same_predictions(dicom, array)
    assert_same_predictions(fake_pred, inverted)
    assert_same_predictions(twin, dicom)
    # ... and the model does see the difference
    assert np.abs(fake_pred[('phantom_a', 'cls')] -
                  dicom[('phantom_a', 'cls')]).max() > 1e-4


def test_folder_writes_json_and_overlays(setup, tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    image = cv2.imread(setup['png'], cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(folder / 'b.png'), image)
    cv2.imwrite(str(folder / 'a.jpg'), image[:200, :180])
    (folder / 'notes.txt').write_text('not an image')
    out_dir = str(tmp_path / 'out')
    results = setup['inferencer'](
        str(folder), tasks=('loc', ), out_dir=out_dir,
        batch_size=2)['predictions']
    assert [r['name'] for r in results] == ['a', 'b']
    assert [(r['height'], r['width']) for r in results] == [(200, 180),
                                                            (256, 256)]
    assert sorted(os.listdir(osp.join(out_dir,
                                      'preds'))) == ['a.json', 'b.json']
    assert sorted(os.listdir(osp.join(out_dir, 'vis'))) == ['a.png', 'b.png']
    # one loc row, two 200 / 256 px tiles
    vis = cv2.imread(osp.join(out_dir, 'vis', 'a.png'))
    assert vis.shape == (200 + 4, 2 * (180 + 4), 3)
    # a folder inside a list is expanded in place
    mixed = setup['inferencer']([str(folder), setup['png']],
                                tasks='cls')['predictions']
    assert [r['name'] for r in mixed
            ] == ['a', 'b',
                  osp.splitext(osp.basename(setup['png']))[0]]
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no image files'):
        setup['inferencer'](str(empty))


def test_head_selection_checkpoints_and_errors(setup, tmp_path):
    inferencer = setup['inferencer']
    assert inferencer.select_heads('seg',
                                   ['phantom_b']) == [('phantom_b', 'seg')]
    assert set(inferencer.select_heads()) == HEADS
    with pytest.raises(ValueError, match="no head of dataset 'jsrt'"):
        inferencer.select_heads(datasets=['jsrt'])
    with pytest.raises(ValueError, match="unknown task 'det'"):
        inferencer.select_heads(tasks=['det'])

    state = torch.load(setup['ckpt'])['state_dict']
    # a checkpoint of the student only: the default falls back to it,
    # the teacher cannot be asked for
    student_only = str(tmp_path / 'student.pth')
    torch.save({
        k: v
        for k, v in state.items() if k.startswith('student.')
    }, student_only)
    assert FXInferencer(setup['cfg'], student_only).model_key == 'student'
    with pytest.raises(ValueError, match='has no teacher weights'):
        FXInferencer(setup['cfg'], student_only, model_key='teacher')
    # the bare weights of one network load into the chosen network
    bare = str(tmp_path / 'bare_teacher.pth')
    torch.save(
        {
            k[len('teacher.'):]: v
            for k, v in state.items() if k.startswith('teacher.')
        }, bare)
    bare_inf = FXInferencer(setup['cfg'], bare)
    png = setup['png']
    assert_same_predictions(
        head_outputs(bare_inf(png, tasks='cls')['predictions'][0]),
        head_outputs(inferencer(png, tasks='cls')['predictions'][0]))
    # a checkpoint of another model is refused with the file named
    wrong = str(tmp_path / 'wrong.pth')
    torch.save({'student.backbone.nope': torch.zeros(1)}, wrong)
    with pytest.raises(
            RuntimeError, match='wrong.pth: the checkpoint does '
            'not fit'):
        FXInferencer(setup['cfg'], wrong, model_key='student')
    # ... and so is one whose head has another size
    resized = dict(state)
    resized['teacher.seg_branch.conv_segs.phantom_a.weight'] = torch.zeros(
        5, 64, 3, 3)
    torch.save(dict(state_dict=resized), wrong)
    with pytest.raises(RuntimeError, match=r'wrong.pth(.|\n)*conv_segs'):
        FXInferencer(setup['cfg'], wrong)
    with pytest.raises(ValueError, match='1 class names for phantom_a/seg'):
        FXInferencer(
            setup['cfg'], bare, class_names=dict(phantom_a=dict(seg=['x'])))


def test_published_release_reports_the_teacher(setup, tmp_path):
    """publish_model.py stores the teacher as ``student.*`` (or bare):
    predictions say ``teacher`` and equal the teacher's."""
    publish = load_tool('tools/model_converters/publish_model.py')
    png = setup['png']
    teacher = head_outputs(setup['inferencer'](png)['predictions'][0])
    for name, extra in (('fx.pth', []), ('net.pth', ['--net-only'])):
        release = publish.main([setup['ckpt'], str(tmp_path / name)] + extra)
        inferencer = FXInferencer(setup['cfg'], release)
        assert inferencer.model_key == 'teacher'
        pred = inferencer(png)['predictions'][0]
        assert pred['model_key'] == 'teacher', name
        assert_same_predictions(head_outputs(pred), teacher)
        with pytest.raises(ValueError, match="release of the teacher's"):
            FXInferencer(setup['cfg'], release, model_key='student')
    # a release of the student says so
    release = publish.main(
        [setup['ckpt'],
         str(tmp_path / 'student.pth'), '--weights', 'student'])
    assert FXInferencer(setup['cfg'], release).model_key == 'student'


def test_demo_script(setup, tmp_path):
    demo = load_tool('demo/image_demo.py')
    out_dir = str(tmp_path / 'demo')
    results = demo.main([
        setup['png'],
        _dump(setup), '--weights', setup['ckpt'], '--tasks', 'seg',
        '--datasets', 'phantom_a', '--out-dir', out_dir, '--model-key',
        'student'
    ])
    pred = results['predictions'][0]
    assert pred['model_key'] == 'student'
    assert list(pred['heads']) == ['phantom_a']
    assert list(pred['heads']['phantom_a']) == ['seg']
    name = osp.splitext(osp.basename(setup['png']))[0]
    assert osp.isfile(osp.join(out_dir, 'preds', f'{name}.json'))
    assert osp.isfile(osp.join(out_dir, 'vis', f'{name}.png'))


def _dump(setup) -> str:
    path = osp.join(setup['root'], 'tiny_config.py')
    setup['cfg'].dump(path)
    return path


def test_mmdet_and_mmpretrain_names(setup, tmp_path):
    """mmdet's argument names (the old ``score_thr`` still works, with a
    DeprecationWarning), mmpretrain's cls keys, ``draw_pred=False``, and a
    progress bar by default."""
    inferencer = setup['inferencer']
    assert inferencer.show_progress
    new = inferencer(setup['png'], pred_score_thr=0.2)['predictions'][0]
    with pytest.warns(DeprecationWarning, match='pred_score_thr'):
        old = inferencer(setup['png'], score_thr=0.2)['predictions'][0]
    assert old == new
    for dataset, tasks in new['heads'].items():
        if 'cls' not in tasks:
            continue
        cls = tasks['cls']
        scores = list(cls['scores'].values())
        assert cls['pred_scores'] == scores
        assert cls['pred_score'] == max(scores)
        assert cls['pred_label'] == scores.index(max(scores))
        assert cls['pred_class'] == list(cls['scores'])[cls['pred_label']]
    out_dir = str(tmp_path / 'bare')
    inferencer(
        setup['png'], out_dir=out_dir, draw_pred=False, no_save_pred=True)
    name = osp.splitext(osp.basename(setup['png']))[0]
    bare = cv2.imread(osp.join(out_dir, 'vis', f'{name}.png'))
    assert bare.shape == (256 + 4, 256 + 4, 3)  # the image alone
    assert not osp.exists(osp.join(out_dir, 'preds'))


def test_no_init_report_without_weights(tmp_path, capfd):
    """Random weights: a warning, but not mmengine's per-parameter
    initialisation report (over a thousand INFO lines; DEBUG shows it)."""
    cfg = tiny_demo_config(str(tmp_path))
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    capfd.readouterr()
    with pytest.warns(UserWarning, match='no checkpoint given'):
        FXInferencer(config)
    out, err = capfd.readouterr()
    assert 'init_weights' not in out + err
    assert len((out + err).splitlines()) < 50
