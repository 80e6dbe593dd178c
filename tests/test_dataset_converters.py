# Copyright (c) fx_mm contributors. All rights reserved.
"""COCO converters of the public CXR datasets and ``CXRCocoDataset``.

Every converter runs on a native-layout miniature (``dataset_fixtures``);
the COCO json must load in pycocotools, hold the loader's boxes (as xywh),
masks (decoded RLE == the masks training stacks) and labels, list the image
sizes of the files, and read back through ``CXRCocoDataset`` into the same
data infos as the native loader.
"""
import contextlib
import io
import json
import os
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
from dataset_fixtures import *  # noqa: F401,F403 (the native fixtures)
from dataset_fixtures import write_dicom, write_image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from fx_mm.datasets import CXRCocoDataset, CXRDatasetError, CXRReadError
from fx_mm.datasets.converters import CONVERTERS, convert
from fx_mm.datasets.io import read_image_size
from fx_mm.datasets.transforms import LoadCXRAnnotations, LoadCXRImage
from fx_mm.registry import DATASETS

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def case(dataset_type, size, splits, root=None, options=None):
    """A converter test case.

    Args:
        dataset_type (str): The native loader.
        size (tuple): (W, H) of every image of the miniature.
        splits (dict): task -> {split: native loader kwargs}, written out
            here independently of the converter's own table.
        root (str, optional): Sub-folder of the fixture that is the data
            root.
        options (dict, optional): Extra loader arguments (also given to the
            converter).
    """
    return dict(
        type=dataset_type,
        size=size,
        splits=splits,
        root=root,
        options=options or {})


TRAIN = dict(train=dict())
CASES = dict(
    nih=('nih_root',
         case(
             'NIHChestXray14Dataset', (1024, 1024),
             dict(
                 cls=dict(
                     train_val=dict(split_file='train_val_list.txt'),
                     test=dict(split_file='test_list.txt')),
                 loc=dict(all=dict())))),
    vindr_cxr=('vindr_root',
               case('VinDrCXRDataset', (640, 640), dict(cls=TRAIN,
                                                        loc=TRAIN))),
    tbx11k=('tbx_root',
            case(
                'TBX11KDataset', (32, 32),
                dict(
                    cls=dict(
                        train=dict(
                            ann_file='annotations/json/TBX11K_train.json')),
                    loc=dict(
                        train=dict(
                            ann_file='annotations/json/TBX11K_train.json'))))),
    node21=('node21_root',
            case('NODE21Dataset', (32, 32), dict(cls=TRAIN, loc=TRAIN))),
    rsna=('rsna_root',
          case('RSNAPneumoniaDataset', (1024, 1024),
               dict(cls=TRAIN, loc=TRAIN))),
    chestx_det=('chestx_det_root',
                case(
                    'ChestXDetDataset', (32, 32), {
                        task:
                        dict(
                            train=dict(
                                ann_file='ChestX_Det_train.json',
                                data_prefix=dict(img_path='train')))
                        for task in ('cls', 'loc', 'seg')
                    })),
    siim_acr=('siim_root',
              case(
                  'SIIMACRDataset', (5, 4),
                  dict(cls=TRAIN, loc=TRAIN, seg=TRAIN),
                  options=dict(mask_size=(4, 5)))),
    candid_ptx=('candid_root',
                case(
                    'CANDIDPTXDataset', (5, 4),
                    dict(cls=dict(all={}), loc=dict(all={}), seg=dict(all={})),
                    options=dict(mask_size=(4, 5)))),
    chexmask=('chexmask_root',
              case('CheXmaskDataset', (5, 4),
                   dict(loc=dict(all={}), seg=dict(all={})))),
    vindr_ribcxr=('vindr_rib_root',
                  case(
                      'VinDrRibCXRDataset', (32, 32),
                      dict(
                          seg=dict(
                              train=dict(
                                  ann_file='Vindr_RibCXR_train_mask.json'))))),
    montgomery=('montgomery_root',
                case('MontgomeryDataset', (10, 8),
                     dict(cls=dict(all={}), seg=dict(all={})))),
    montgomery_two_lungs=('montgomery_root',
                          case(
                              'MontgomeryDataset', (10, 8),
                              dict(seg=dict(all={})),
                              options=dict(merge_lungs=False))),
    shenzhen=('shenzhen_root',
              case('ShenzhenDataset', (32, 32), dict(cls=dict(all={})))),
    chexpert=('chexpert_root',
              case(
                  'CheXpertDataset', (32, 32),
                  dict(cls=dict(train=dict(ann_file='train.csv'))),
                  root='CheXpert-v1.0-small',
                  options=dict(uncertainty='ignore'))),
    mimic_cxr=(
        'mimic_root',
        case(
            'MIMICCXRDataset', (32, 32),
            dict(cls=dict(train=dict(split='train'), test=dict(
                split='test'))))),
)


# ---------------------------------------------------------------------------
# helpers
def load_coco(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(path)


def build_native(dataset_type, root, task, kwargs, options):
    return DATASETS.get(dataset_type)(
        data_root=root, task=task, **kwargs, **options)


def loaded(info):
    """The sample as training loads it (image decoded, masks stacked)."""
    return LoadCXRAnnotations()(LoadCXRImage()(dict(info)))


def enlarge_images(root, size=(1024, 1024)):
    """Rewrite the PNGs and DICOMs below ``root`` at ``size`` (W, H).

    The loader miniatures of NIH, VinDr-CXR and RSNA hold boxes as large as
    the real ones on tiny images; a box outside its image is a conversion
    error.
    """
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            if name.endswith('.png'):
                write_image(path, size=size)
            elif name.endswith(('.dcm', '.dicom')):
                write_dicom(path, rows=size[1], cols=size[0])


def mask_bbox(mask):
    ys, xs = np.nonzero(mask)
    return [
        float(xs.min()),
        float(ys.min()),
        float(xs.max() - xs.min() + 1),
        float(ys.max() - ys.min() + 1)
    ]


def check_image_entry(task, info, img, anns, classes):
    """One COCO image entry and its annotations against a native info."""
    if task == 'cls':
        assert not anns
        assert img['fx_labels'] == info['gt_score'].astype(int).tolist()
        assert img.get('fx_label_mask', [True] * len(classes)) == \
            info['gt_label_mask'].tolist()
    elif task == 'loc':
        boxes = [inst['bbox'] for inst in info['instances']]
        assert len(anns) == len(boxes)
        for ann, inst in zip(anns, info['instances']):
            x1, y1, x2, y2 = inst['bbox']
            np.testing.assert_allclose(ann['bbox'], [x1, y1, x2 - x1, y2 - y1])
            assert ann['area'] == pytest.approx((x2 - x1) * (y2 - y1))
            assert ann['category_id'] - 1 == inst['bbox_label']
            assert ann['iscrowd'] == inst['ignore_flag']
    else:
        masks = loaded(info)['gt_seg_map']  # (H, W, C) as in training
        assert masks.shape == (img['height'], img['width'], len(classes))
        by_class = {ann['category_id'] - 1: ann for ann in anns}
        assert len(by_class) == len(anns)  # one annotation per channel
        for channel in range(len(classes)):
            mask = masks[..., channel]
            if not mask.any():
                assert channel not in by_class
                continue
            ann = by_class[channel]
            assert ann['iscrowd'] == 1
            assert isinstance(ann['segmentation']['counts'], str)
            np.testing.assert_array_equal(
                mask_utils.decode(ann['segmentation']), mask)
            assert ann['area'] == int(mask.sum())
            assert ann['bbox'] == mask_bbox(mask)


def assert_same_infos(back, native):
    """CXRCocoDataset infos == native infos (paths, ids, targets)."""
    assert len(back) == len(native)
    assert back.task_classes == native.task_classes
    assert back.dataset_name == native.dataset_name
    for idx in range(len(native)):
        ours, theirs = back.get_data_info(idx), native.get_data_info(idx)
        assert osp.normpath(ours['img_path']) == \
            osp.normpath(theirs['img_path'])
        assert ours['img_id'] == theirs['img_id']
        if native.task == 'cls':
            np.testing.assert_array_equal(ours['gt_score'], theirs['gt_score'])
            np.testing.assert_array_equal(ours['gt_label_mask'],
                                          theirs['gt_label_mask'])
        elif native.task == 'loc':
            assert len(ours['instances']) == len(theirs['instances'])
            for a, b in zip(ours['instances'], theirs['instances']):
                np.testing.assert_allclose(a['bbox'], b['bbox'], atol=1e-9)
                assert a['bbox_label'] == b['bbox_label']
                assert a['ignore_flag'] == b['ignore_flag']
        else:
            np.testing.assert_array_equal(
                loaded(ours)['gt_seg_map'],
                loaded(theirs)['gt_seg_map'])


def check_round_trip(name, root, spec, out_dir, max_images=None):
    """Convert every task of ``spec`` and check json + read-back.

    Returns:
        dict: task -> written paths.
    """
    written = {}
    for task, splits in spec['splits'].items():
        written.update(
            convert(
                name,
                root,
                out_dir,
                tasks=[task],
                splits=list(splits),
                max_images=max_images,
                dataset_options=spec['options']))
        paths = written[task]
        coco = load_coco(paths['json'])
        assert coco.dataset['fx_task'] == task
        natives = {
            split:
            build_native(spec['type'], root, task,
                         dict(kw, indices=max_images), spec['options'])
            for split, kw in splits.items()
        }
        classes = next(iter(natives.values())).task_classes
        assert [c['name'] for c in coco.dataset['categories']] == \
            list(classes)
        assert [c['id'] for c in coco.dataset['categories']] == \
            list(range(1, len(classes) + 1))
        infos = [(split, ds.get_data_info(i)) for split, ds in natives.items()
                 for i in range(len(ds))]
        assert len(coco.dataset['images']) == len(infos)
        assert coco.dataset['fx_dataset_name'] == \
            next(iter(natives.values())).dataset_name
        for (split, info), img in zip(infos, coco.dataset['images']):
            assert img['fx_img_id'] == info['img_id']
            assert img['fx_split'] == split
            assert osp.normpath(osp.join(root, img['file_name'])) == \
                osp.normpath(info['img_path'])
            assert (img['width'], img['height']) == spec['size']
            anns = sorted(coco.imgToAnns[img['id']], key=lambda a: a['id'])
            check_image_entry(task, info, img, anns, classes)
        for split, ds in natives.items():
            with open(paths[f'split:{split}']) as f:
                assert f.read().split('\n')[:-1] == [
                    ds.get_data_info(i)['img_id'] for i in range(len(ds))
                ]
            back = CXRCocoDataset(
                ann_file=paths['json'],
                task=task,
                data_root=root,
                split_file=paths[f'split:{split}'])
            assert_same_infos(back, ds)
    return written


# ---------------------------------------------------------------------------
@pytest.mark.parametrize('name', list(CASES))
def test_converter_round_trip(name, request, tmp_path_factory):
    fixture, spec = CASES[name]
    root = request.getfixturevalue(fixture)
    if isinstance(root, tuple):  # montgomery_root: (root, union mask)
        root = root[0]
    root = str(root / spec['root']) if spec['root'] else str(root)
    if name in ('nih', 'vindr_cxr', 'rsna'):
        enlarge_images(root, spec['size'])
    converter = name.replace('_two_lungs', '')
    assert CONVERTERS[converter].dataset_type == spec['type']
    check_round_trip(converter, root, spec,
                     str(tmp_path_factory.mktemp('coco')))


def test_every_box_or_mask_set_has_a_converter():
    expected = {
        'nih', 'vindr_cxr', 'tbx11k', 'node21', 'rsna', 'chestx_det',
        'siim_acr', 'candid_ptx', 'chexmask', 'vindr_ribcxr', 'montgomery',
        'jsrt', 'shenzhen', 'chexpert', 'mimic_cxr'
    }
    assert set(CONVERTERS) == expected
    for name in expected:
        script = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                          f'{name}.py')
        assert osp.isfile(script), script


def test_hand_values_nih_boxes(request, tmp_path_factory):
    """Values read from the miniature's files by hand, not via loaders."""
    nih_root = request.getfixturevalue('nih_root')
    out = str(tmp_path_factory.mktemp('coco'))
    enlarge_images(nih_root)
    convert('nih', str(nih_root), out, tasks=['loc'])
    coco = json.load(open(osp.join(out, 'nih_loc.json')))
    # BBox_List_2017.csv line 2 is already [x, y, w, h]
    np.testing.assert_allclose(coco['annotations'][0]['bbox'], [
        225.084745762712, 547.019216763771, 86.7796610169491, 79.1864406779661
    ])
    assert [a['category_id'] for a in coco['annotations']] == [1, 4, 3]
    with open(osp.join(out, 'nih_loc_all.txt')) as f:
        assert f.read() == '00000003_000.png\n00000013_006.png\n'


def test_hand_values_siim_masks(request, tmp_path_factory):
    siim_root = request.getfixturevalue('siim_root')
    out = str(tmp_path_factory.mktemp('coco'))
    convert(
        'siim_acr',
        str(siim_root),
        out,
        tasks=['seg'],
        dataset_options=dict(mask_size=(4, 5)))
    coco = json.load(open(osp.join(out, 'siim_acr_seg.json')))
    union = np.array([[0, 1, 1, 0, 0],
                      [0, 1, 1, 0, 0],
                      [0, 0, 0, 0, 1],
                      [1, 0, 0, 0, 1]], dtype=np.uint8)  # yapf: disable
    assert len(coco['annotations']) == 1  # the negative image has none
    np.testing.assert_array_equal(
        mask_utils.decode(coco['annotations'][0]['segmentation']), union)
    assert coco['annotations'][0]['bbox'] == [0, 0, 5, 4]
    assert coco['annotations'][0]['area'] == 7


# ---------------------------------------------------------------------------
# command line
def run_script(script, argv):
    old = sys.argv
    sys.argv = [script] + list(argv)
    try:
        runpy.run_path(script, run_name='__main__')
    finally:
        sys.argv = old


def test_command_line_scripts(request, tmp_path_factory):
    root, union = request.getfixturevalue('montgomery_root')
    tmp_path = tmp_path_factory.mktemp('coco')
    script = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                      'montgomery.py')
    run_script(script,
               [str(root), '--out-dir',
                str(tmp_path / 'a'), '--tasks', 'seg'])
    coco = json.load(open(tmp_path / 'a' / 'montgomery_seg.json'))
    assert [c['name'] for c in coco['categories']] == ['lungs']
    assert len(coco['images']) == 2 and len(coco['annotations']) == 2
    for ann in coco['annotations']:  # both images have the same lungs
        np.testing.assert_array_equal(
            mask_utils.decode(ann['segmentation']), union)
    assert not osp.exists(tmp_path / 'a' / 'montgomery_cls.json')
    # the generic script with a loader option
    run_script(
        osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'cxr2coco.py'), [
            'montgomery',
            str(root), '--out-dir',
            str(tmp_path / 'b'), '--tasks', 'seg', '--dataset-options',
            'merge_lungs=False', '--max-images', '1'
        ])
    coco = json.load(open(tmp_path / 'b' / 'montgomery_seg.json'))
    assert [c['name']
            for c in coco['categories']] == ['left_lung', 'right_lung']
    assert len(coco['images']) == 1 and len(coco['annotations']) == 2
    decoded = sum(
        mask_utils.decode(a['segmentation']) for a in coco['annotations'])
    np.testing.assert_array_equal(decoded, union)  # disjoint lungs


# ---------------------------------------------------------------------------
# real data
def test_real_jsrt_subset(jsrt_root, tmp_path):
    spec = case('JSRTDataset', (1024, 1024), {
        task: dict(test=dict(split='test'))
        for task in ('cls', 'loc', 'seg')
    })
    written = check_round_trip(
        'jsrt', jsrt_root, spec, str(tmp_path), max_images=3)
    coco = json.load(open(written['seg']['json']))
    assert [c['name'] for c in coco['categories']] == [
        'heart', 'left_lung', 'right_lung', 'left_clavicle', 'right_clavicle'
    ]
    # every real JSRT image shows all five organs
    assert len(coco['annotations']) == 3 * 5
    with open(osp.join(jsrt_root, 'splits', 'test.txt')) as f:
        first = [osp.splitext(line.strip())[0] for line in f][:3]
    assert [i['fx_img_id'] for i in coco['images']] == first
    # a converted set trains like any fx_mm dataset (built from a config)
    dataset = DATASETS.build(
        dict(
            type='CXRCocoDataset',
            data_root=jsrt_root,
            ann_file=written['seg']['json'],
            task='seg',
            pipeline=[
                dict(type='LoadCXRImage'),
                dict(type='LoadCXRAnnotations'),
                dict(type='mmdet.Resize', scale=(64, 64), keep_ratio=False),
                dict(type='PackFXInputs')
            ]))
    packed = dataset[0]
    assert packed['inputs'].shape == (3, 64, 64)
    sample = packed['data_samples']
    assert sample.gt_sem_seg.data.shape == (5, 64, 64)
    assert sample.metainfo['dataset'] == 'jsrt'
    assert sample.metainfo['img_id'] == first[0]


def test_real_tbx11k_and_its_own_json(shared_data, tmp_path):
    root = osp.join(shared_data, 'misc', 'tbx11k_test_data')
    if not osp.isdir(root):
        pytest.skip('tbx11k_test_data is not available')
    written = convert('tbx11k', root, str(tmp_path), splits=['train'])
    coco = json.load(open(written['loc']['json']))
    # sizes from the PNG headers agree with the json TBX11K ships
    assert {(i['width'], i['height']) for i in coco['images']} == {(512, 512)}
    assert [i['fx_img_id'] for i in coco['images']
            ] == ['tb/tb0005', 'tb/tb0007', 'health/h0001']
    assert len(coco['annotations']) == 3
    native = DATASETS.get('TBX11KDataset')(task='loc', data_root=root)
    # CXRCocoDataset also reads the publisher's plain COCO json
    plain = CXRCocoDataset(
        ann_file='annotations/json/TBX11K_train.json',
        task='loc',
        data_root=root,
        data_prefix=dict(img_path='imgs'),
        dataset_name='tbx11k')
    assert_same_infos(plain, native)
    assert plain.get_data_info(0)['instances'][0]['bbox'] == pytest.approx([
        381.8337097167969, 126.8733901977539,
        381.8337097167969 + 40.236907958984375,
        126.8733901977539 + 44.565773010253906
    ])
    # cls from a plain json: 1 for each category with a box on the image
    cls = CXRCocoDataset(
        ann_file=osp.join(root, 'annotations/json/TBX11K_train.json'),
        task='cls',
        data_root=root,
        data_prefix=dict(img_path='imgs'))
    assert cls.dataset_name == 'TBX11K_train'
    assert [cls.get_data_info(i)['gt_score'].tolist()
            for i in range(3)] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


# ---------------------------------------------------------------------------
# image headers and errors
def test_read_image_size_formats(tmp_path):
    write_image(str(tmp_path / 'a.png'), size=(7, 5))
    write_image(str(tmp_path / 'b.jpg'), size=(9, 4))
    write_dicom(str(tmp_path / 'c.dcm'), rows=6, cols=11)
    import SimpleITK as sitk
    sitk.WriteImage(
        sitk.GetImageFromArray(np.zeros((3, 8), np.int16)),
        str(tmp_path / 'd.mha'))
    assert read_image_size(str(tmp_path / 'a.png')) == (7, 5)
    assert read_image_size(str(tmp_path / 'b.jpg')) == (9, 4)
    assert read_image_size(str(tmp_path / 'c.dcm')) == (11, 6)
    assert read_image_size(str(tmp_path / 'd.mha')) == (8, 3)
    (tmp_path / 'e.png').write_bytes(b'not an image')
    with pytest.raises(CXRReadError, match='e.png: cannot read the image'):
        read_image_size(str(tmp_path / 'e.png'))
    (tmp_path / 'f.dcm').write_bytes(b'\x00' * 10)
    with pytest.raises(CXRReadError, match='f.dcm: not a readable DICOM'):
        read_image_size(str(tmp_path / 'f.dcm'))
    with pytest.raises(FileNotFoundError, match='g.png: image file not'):
        read_image_size(str(tmp_path / 'g.png'))


def test_conversion_errors_name_the_file(request, tmp_path_factory):
    tbx_root = request.getfixturevalue('tbx_root')
    tmp_path = tmp_path_factory.mktemp('coco')
    # the image differs from the size the json states
    write_image(str(tbx_root / 'imgs/health/h0001.png'), size=(16, 20))
    with pytest.raises(
            CXRDatasetError,
            match=r'h0001.png: the image is 16x20 \(WxH\) but its '
            'annotations state 32x32'):
        convert('tbx11k', str(tbx_root), str(tmp_path), splits=['train'])
    write_image(str(tbx_root / 'imgs/health/h0001.png'), size=(32, 32))
    # a split the user does not have
    with pytest.raises(
            FileNotFoundError,
            match=r'TBX11K_val.json: annotation file not found .*split '
            "'val'.*--splits"):
        convert('tbx11k', str(tbx_root), str(tmp_path), tasks=['loc'])


def test_conversion_errors_nih(request, tmp_path_factory):
    nih_root = request.getfixturevalue('nih_root')
    tmp_path = tmp_path_factory.mktemp('coco')
    # a box outside its image (NIH's 32 x 32 miniature)
    with pytest.raises(
            CXRDatasetError,
            match=r'00000003_000.png: box 0 .* outside the 32x32 image'):
        convert('nih', str(nih_root), str(tmp_path), tasks=['loc'])
    with pytest.raises(
            ValueError,
            match=r"unknown split 'test' for task "
            r"'loc'; expected one of \['all'\]"):
        convert('nih', str(nih_root), str(tmp_path), splits=['test'])
    with pytest.raises(ValueError, match="task 'seg' not supported"):
        convert('nih', str(nih_root), str(tmp_path), tasks=['seg'])


def _write_json(path, coco):
    with open(path, 'w') as f:
        json.dump(coco, f)
    return str(path)


def test_coco_dataset_errors(tmp_path):
    write_image(str(tmp_path / 'a.png'), size=(8, 6))
    image = dict(id=1, file_name='a.png', width=8, height=6)
    cats = [dict(id=1, name='x'), dict(id=2, name='y')]
    good = dict(
        images=[image],
        categories=cats,
        annotations=[dict(id=7, image_id=1, category_id=2, bbox=[1, 1, 2, 3])])
    path = _write_json(tmp_path / 'good.json', dict(good, fx_task='loc'))
    ds = CXRCocoDataset(ann_file=path, task='loc', data_root=str(tmp_path))
    assert ds.task_classes == ('x', 'y')
    assert ds.get_data_info(0)['instances'] == [
        dict(bbox=[1.0, 1.0, 3.0, 4.0], bbox_label=1, ignore_flag=0)
    ]
    assert ds.get_data_info(0)['img_id'] == 'a'
    # classes given in metainfo reorder the labels by name
    renamed = CXRCocoDataset(
        ann_file=path,
        task='loc',
        data_root=str(tmp_path),
        metainfo=dict(box_classes=('y', 'x')))
    assert renamed.get_data_info(0)['instances'][0]['bbox_label'] == 0
    with pytest.raises(CXRDatasetError, match=r"categories \['x'\] are not"):
        CXRCocoDataset(
            ann_file=path,
            task='loc',
            data_root=str(tmp_path),
            metainfo=dict(box_classes=('y', )))
    with pytest.raises(
            CXRDatasetError, match="converted for task 'loc'.*'seg'"):
        CXRCocoDataset(ann_file=path, task='seg', data_root=str(tmp_path))
    (tmp_path / 'split.txt').write_text('b\nc\n')
    with pytest.raises(
            CXRDatasetError, match='split.txt: none of its 2 image ids'):
        CXRCocoDataset(
            ann_file=path,
            task='loc',
            data_root=str(tmp_path),
            split_file='split.txt')
    bad = dict(good)
    bad['annotations'] = [dict(good['annotations'][0], bbox=[1, 1, 0, 3])]
    with pytest.raises(
            CXRDatasetError,
            match='bad.json annotation id 7: bbox .* non-positive'):
        CXRCocoDataset(
            ann_file=_write_json(tmp_path / 'bad.json', bad),
            task='loc',
            data_root=str(tmp_path))
    bad['annotations'] = [dict(good['annotations'][0], category_id=5)]
    with pytest.raises(
            CXRDatasetError, match="annotation id 7: category_id 5 is not"):
        CXRCocoDataset(
            ann_file=_write_json(tmp_path / 'bad.json', bad),
            task='loc',
            data_root=str(tmp_path))
    with pytest.raises(
            CXRDatasetError, match='annotation id 7: no segmentation'):
        CXRCocoDataset(
            ann_file=_write_json(tmp_path / 'bad.json', good),
            task='seg',
            data_root=str(tmp_path))
    # polygons of a plain COCO file become masks; two of a class merge
    polygons = dict(good)
    polygons['annotations'] = [
        dict(
            id=1,
            image_id=1,
            category_id=1,
            bbox=[0, 0, 2, 2],
            segmentation=[[0, 0, 2, 0, 2, 2, 0, 2]]),
        dict(
            id=2,
            image_id=1,
            category_id=1,
            bbox=[4, 2, 2, 2],
            segmentation=[[4, 2, 6, 2, 6, 4, 4, 4]]),
    ]
    seg = CXRCocoDataset(
        ann_file=_write_json(tmp_path / 'poly.json', polygons),
        task='seg',
        data_root=str(tmp_path))
    info = seg.get_data_info(0)
    assert info['seg_rles'][1] is None
    masks = loaded(info)['gt_seg_map']
    assert masks.shape == (6, 8, 2) and not masks[..., 1].any()
    ys, xs = np.nonzero(masks[..., 0])
    assert set(zip(ys.tolist(), xs.tolist())) >= {(0, 0), (1, 1), (2, 4),
                                                  (3, 5)}
    assert masks[0:2, 2:4, 0].sum() <= 2  # nothing between the squares
