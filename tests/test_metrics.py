# Copyright (c) fx_mm contributors. All rights reserved.
"""fx_mm's metrics against hand-computed values and pycocotools' own run."""
import json
import math

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData, PixelData
from mmpretrain.structures import DataSample
from mmseg.structures import SegDataSample
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from fx_mm.evaluation import DetectionMAP, DiceMetric, MultiLabelAUC
from fx_mm.registry import METRICS


# ----------------------------------------------------------------------
# sample builders (the layout of a data sample after ``to_dict()``)
# ----------------------------------------------------------------------
def cls_sample(pred, gt, mask=None, dataset='nih', img='a.png', **extra):
    sample = dict(
        dataset=dataset,
        task='cls',
        img_path=img,
        ori_shape=(64, 64),
        pred_score=torch.tensor(pred, dtype=torch.float32),
        gt_score=torch.tensor(gt, dtype=torch.float32))
    if mask is not None:
        sample['gt_label_mask'] = torch.tensor(mask, dtype=torch.bool)
    sample.update(extra)
    return sample


def det_sample(pred_boxes,
               pred_scores,
               pred_labels,
               gt_boxes,
               gt_labels,
               dataset='tbx11k',
               img='b.png',
               shape=(200, 300)):
    return dict(
        dataset=dataset,
        task='loc',
        img_path=img,
        ori_shape=shape,
        pred_instances=dict(
            bboxes=torch.tensor(pred_boxes,
                                dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor(pred_scores, dtype=torch.float32),
            labels=torch.tensor(pred_labels, dtype=torch.int64)),
        gt_instances=dict(
            bboxes=torch.tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor(gt_labels, dtype=torch.int64)))


def seg_sample(pred, gt, dataset='jsrt', img='c.png', logits=False):
    pred = torch.as_tensor(np.asarray(pred))
    gt = torch.as_tensor(np.asarray(gt, dtype=np.uint8))
    sample = dict(
        dataset=dataset,
        task='seg',
        img_path=img,
        ori_shape=tuple(gt.shape[1:]),
        gt_sem_seg=dict(data=gt))
    if logits:
        sample['seg_logits'] = dict(data=pred.float())
    else:
        sample['pred_sem_seg'] = dict(data=pred.to(torch.uint8))
    return sample


def evaluate(metric, samples, size=None):
    metric.process(None, samples)
    return metric.evaluate(len(samples) if size is None else size)


def box_mask(shape, *boxes):
    """(C, H, W) uint8 with channel c = 1 inside boxes[c] (y1, y2, x1, x2)
    lists."""
    out = np.zeros((len(boxes), ) + shape, dtype=np.uint8)
    for c, rects in enumerate(boxes):
        for y1, y2, x1, x2 in rects:
            out[c, y1:y2, x1:x2] = 1
    return out


# ----------------------------------------------------------------------
# MultiLabelAUC
# ----------------------------------------------------------------------
# class 0: positives {0.5, 0.8, 0.2}, negatives {0.1, 0.5}; of the 6 pairs
#   5 are won and (0.5, 0.5) is a tie: (1+.5+1+1+1+0) / 6 = 4.5/6 = 75 %.
# class 1: positives {0.9, 0.3}, negatives {0.3, 0.3, 0.1}: 0.9 wins 3,
#   0.3 ties 2 (= 1) and wins 1: 5/6 = 83.33 %.
AUC_PRED = [[0.1, 0.9], [0.5, 0.3], [0.5, 0.3], [0.8, 0.3], [0.2, 0.1]]
AUC_GT = [[0, 1], [0, 0], [1, 0], [1, 1], [1, 0]]


def test_auc_hand_values_with_ties():
    metric = MultiLabelAUC('nih', ['A', 'B'])
    res = evaluate(metric, [
        cls_sample(p, g, img=f'{i}.png')
        for i, (p, g) in enumerate(zip(AUC_PRED, AUC_GT))
    ])
    assert res['nih/cls/AUC_A'] == pytest.approx(75.0)
    assert res['nih/cls/AUC_B'] == pytest.approx(500 / 6)
    assert res['nih/cls/AUC'] == pytest.approx((75.0 + 500 / 6) / 2)
    assert 'nih/cls/AUC_all' not in res  # only with mean_over
    assert set(res) == {'nih/cls/AUC', 'nih/cls/AUC_A', 'nih/cls/AUC_B'}


def test_auc_single_value_class_is_nan_and_excluded():
    metric = MultiLabelAUC('nih', ['A', 'B', 'never'])
    samples = [
        cls_sample(p + [0.7 * i / 5], g + [0], img=f'{i}.png')
        for i, (p, g) in enumerate(zip(AUC_PRED, AUC_GT))
    ]
    res = evaluate(metric, samples)
    assert math.isnan(res['nih/cls/AUC_never'])
    # the mean is over A and B only: neither 0 nor 100 enters for 'never'
    assert res['nih/cls/AUC'] == pytest.approx((75.0 + 500 / 6) / 2)

    # all positives is just as undefined
    metric = MultiLabelAUC('nih', ['A', 'B', 'always'])
    res = evaluate(metric, [
        cls_sample(p + [0.5], g + [1], img=f'{i}.png')
        for i, (p, g) in enumerate(zip(AUC_PRED, AUC_GT))
    ])
    assert math.isnan(res['nih/cls/AUC_always'])
    assert res['nih/cls/AUC'] == pytest.approx((75.0 + 500 / 6) / 2)


def test_auc_masked_labels_excluded_per_class():
    # class A: the third sample (gt 1, score 0.1) would lose to the negative
    # 0.5; masked out, the known labels give 1 positive {0.9} vs 1 negative
    # {0.5}: 100 %. Unmasked it would be 50 %.
    # class B: the mask of the third sample is True, so it counts there:
    # positives {0.2, 0.6} vs negative {0.4}: 1 of 2 pairs = 50 %.
    preds = [[0.5, 0.4], [0.9, 0.2], [0.1, 0.6]]
    gts = [[0, 0], [1, 1], [1, 1]]
    masks = [[True, True], [True, True], [False, True]]
    samples = [
        cls_sample(p, g, m, img=f'{i}.png')
        for i, (p, g, m) in enumerate(zip(preds, gts, masks))
    ]
    res = evaluate(MultiLabelAUC('nih', ['A', 'B']), samples)
    assert res['nih/cls/AUC_A'] == pytest.approx(100.0)
    assert res['nih/cls/AUC_B'] == pytest.approx(50.0)
    assert res['nih/cls/AUC'] == pytest.approx(75.0)

    unmasked = [cls_sample(p, g) for p, g in zip(preds, gts)]
    res = evaluate(MultiLabelAUC('nih', ['A', 'B']), unmasked)
    assert res['nih/cls/AUC_A'] == pytest.approx(50.0)

    # a masked value that is not 0/1 (e.g. -1 for "unknown") is accepted
    samples[2]['gt_score'] = torch.tensor([-1.0, 1.0])
    res = evaluate(MultiLabelAUC('nih', ['A', 'B']), samples)
    assert res['nih/cls/AUC_A'] == pytest.approx(100.0)

    # masking leaves class A with positives only -> undefined
    masks = [[False, True], [True, True], [True, True]]
    samples = [cls_sample(p, g, m) for p, g, m in zip(preds, gts, masks)]
    res = evaluate(MultiLabelAUC('nih', ['A', 'B']), samples)
    assert math.isnan(res['nih/cls/AUC_A'])
    assert res['nih/cls/AUC'] == pytest.approx(50.0)


def test_auc_mean_over_subset_and_key_names():
    # C1 = 75, C2 = 83.33 (the tie case), 'Pleural Effusion' = 100 (scores
    # equal the labels), 'Other' = 0 (scores reversed)
    names = ['C1', 'C2', 'Pleural Effusion', 'Other']
    samples = []
    for i, (p, g) in enumerate(zip(AUC_PRED, AUC_GT)):
        y = i % 2
        samples.append(
            cls_sample(p + [0.2 + 0.6 * y, 0.8 - 0.6 * y], g + [y, y]))
    metric = MultiLabelAUC(
        'chexpert', names, mean_over=['C1', 'Pleural Effusion'])
    res = evaluate(metric, [dict(s, dataset='chexpert') for s in samples])
    assert res['chexpert/cls/AUC_Pleural_Effusion'] == pytest.approx(100.0)
    assert res['chexpert/cls/AUC_Other'] == pytest.approx(0.0)
    assert res['chexpert/cls/AUC'] == pytest.approx((75.0 + 100.0) / 2)
    assert res['chexpert/cls/AUC_all'] == pytest.approx(
        (75.0 + 500 / 6 + 100.0 + 0.0) / 4)


def test_auc_single_label_gt_label_matches_one_hot():
    """RSNA-style softmax: gt_label indices are scored one-vs-rest."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=12)
    labels = np.arange(12) % 3
    one_hot = np.eye(3)[labels]
    by_label = [
        dict(
            dataset='rsna',
            task='cls',
            img_path=f'{i}.png',
            pred_score=torch.tensor(p),
            gt_label=torch.tensor([k]))
        for i, (p, k) in enumerate(zip(probs, labels))
    ]
    by_score = [
        cls_sample(p.tolist(), g.tolist(), dataset='rsna')
        for p, g in zip(probs, one_hot)
    ]
    names = ['Normal', 'Lung Opacity', 'Not normal']
    res_label = evaluate(MultiLabelAUC('rsna', names), by_label)
    res_score = evaluate(MultiLabelAUC('rsna', names), by_score)
    assert res_label == pytest.approx(res_score)
    # class 0 by hand: rank-sum over the 4 positives and 8 negatives
    pos, neg = probs[labels == 0, 0], probs[labels != 0, 0]
    wins = (pos[:, None]
            > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
    assert res_label['rsna/cls/AUC_Normal'] == pytest.approx(
        100 * wins / (len(pos) * len(neg)))


def test_auc_bad_input_names_the_sample():
    metric = MultiLabelAUC('nih', ['A', 'B'])
    with pytest.raises(ValueError, match=r'bad\.png.*0 or 1'):
        metric.process(None, [cls_sample([0.1, 0.2], [0.5, 1], img='bad.png')])
    with pytest.raises(ValueError, match=r'bad\.png.*pred_score.*\(2, \)'):
        metric.process(None,
                       [cls_sample([0.1, 0.2, 0.3], [0, 1], img='bad.png')])
    with pytest.raises(KeyError, match=r'bad\.png.*dataset'):
        metric.process(None, [dict(task='cls', img_path='bad.png')])
    with pytest.raises(KeyError, match=r'bad\.png.*gt_score'):
        metric.process(None, [
            dict(
                dataset='nih',
                task='cls',
                img_path='bad.png',
                pred_score=torch.zeros(2))
        ])
    with pytest.raises(ValueError, match='not in class_names'):
        MultiLabelAUC('nih', ['A', 'B'], mean_over=['Edema'])
    with pytest.raises(ValueError, match='same key'):
        MultiLabelAUC('nih', ['Pleural Effusion', 'Pleural_Effusion'])


# ----------------------------------------------------------------------
# DetectionMAP
# ----------------------------------------------------------------------
def test_map_perfect_detection_is_100():
    metric = DetectionMAP('tbx11k', ['active', 'latent'])
    res = evaluate(metric, [
        det_sample([[10, 20, 60, 90], [100, 100, 150, 180]], [0.9, 0.8],
                   [0, 1], [[10, 20, 60, 90], [100, 100, 150, 180]], [0, 1],
                   img='1.png'),
        det_sample([[30, 30, 80, 80]], [0.7], [0], [[30, 30, 80, 80]], [0],
                   img='2.png'),
    ])
    for key in ('mAP40', 'mAP50', 'mAP75', 'mAP', 'AP40_active',
                'AP40_latent'):
        assert res[f'tbx11k/loc/{key}'] == pytest.approx(100.0), key


def test_map_iou_045_counts_at_040_not_050():
    # gt 100 x 100, detection 45 x 100 inside it: IoU = 4500 / 10000 = 0.45
    metric = DetectionMAP('tbx11k', ['tb'])
    res = evaluate(
        metric,
        [det_sample([[0, 0, 45, 100]], [0.9], [0], [[0, 0, 100, 100]], [0])])
    assert res['tbx11k/loc/mAP40'] == pytest.approx(100.0)
    assert res['tbx11k/loc/AP40_tb'] == pytest.approx(100.0)
    assert res['tbx11k/loc/mAP50'] == pytest.approx(0.0)
    assert res['tbx11k/loc/mAP'] == pytest.approx(0.0)


@pytest.mark.parametrize('fp_score, expected', [(0.9, 50.0), (0.1, 100.0)])
def test_map_false_positive_on_image_without_gt(fp_score, expected):
    """The FP ranked above the only TP: precision 0 then 1/2; COCO's
    interpolated precision is 0.5 at every recall -> AP 50. Ranked below,
    the TP reaches recall 1 at precision 1 -> AP 100."""
    metric = DetectionMAP('tbx11k', ['tb'])
    res = evaluate(metric, [
        det_sample([[10, 10, 50, 50]], [0.5], [0], [[10, 10, 50, 50]], [0],
                   img='with_gt.png'),
        det_sample([[5, 5, 40, 40]], [fp_score], [0], [], [],
                   img='healthy.png'),
    ])
    assert res['tbx11k/loc/mAP40'] == pytest.approx(expected)
    assert res['tbx11k/loc/mAP'] == pytest.approx(expected)


def test_map_zero_detections_is_zero():
    metric = DetectionMAP('node21', ['nodule'])
    res = evaluate(metric, [
        det_sample([], [], [], [[10, 10, 50, 50]], [0], dataset='node21'),
        det_sample([], [], [], [], [], dataset='node21', img='empty.png'),
    ])
    assert res['node21/loc/mAP40'] == 0.0
    assert res['node21/loc/mAP'] == 0.0
    assert res['node21/loc/AP40_nodule'] == 0.0


def test_map_max_dets_per_image_and_class():
    """With maxDets 1 only the best of two perfect detections counts:
    recall stops at 1/2, so precision is 1 at 51 of COCO's 101 recall
    points (0, 0.01, ..., 0.5) and 0 above."""
    sample = det_sample([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], [0, 0],
                        [[0, 0, 10, 10], [50, 50, 60, 60]], [0, 0])
    res = evaluate(DetectionMAP('tbx11k', ['tb'], max_dets=1), [sample])
    assert res['tbx11k/loc/mAP40'] == pytest.approx(100 * 51 / 101)
    res = evaluate(DetectionMAP('tbx11k', ['tb']), [sample])
    assert res['tbx11k/loc/mAP40'] == pytest.approx(100.0)


def test_map_class_without_gt_is_nan_and_excluded():
    metric = DetectionMAP('chestxdet', ['a', 'b'])
    res = evaluate(metric, [
        det_sample([[10, 10, 50, 50], [60, 60, 90, 90]], [0.9, 0.8], [0, 1],
                   [[10, 10, 50, 50]], [0],
                   dataset='chestxdet')
    ])
    assert res['chestxdet/loc/AP40_a'] == pytest.approx(100.0)
    assert math.isnan(res['chestxdet/loc/AP40_b'])
    assert res['chestxdet/loc/mAP40'] == pytest.approx(100.0)

    # no gt box at all: every AP undefined, no crash
    res = evaluate(
        DetectionMAP('chestxdet', ['a', 'b']),
        [det_sample([[1, 1, 5, 5]], [0.3], [1], [], [], dataset='chestxdet')])
    assert math.isnan(res['chestxdet/loc/mAP40'])


def test_map_ignored_instances_are_crowd_regions():
    """A detection on a box mmdet flagged ``ignore_flag=1`` is no FP."""
    base = det_sample([[10, 10, 50, 50], [100, 100, 150, 150]], [0.5, 0.9],
                      [0, 0], [[10, 10, 50, 50]], [0])
    res = evaluate(DetectionMAP('tbx11k', ['tb']), [dict(base)])
    assert res['tbx11k/loc/mAP40'] == pytest.approx(50.0)
    ignored = dict(
        base,
        ignored_instances=dict(
            bboxes=torch.tensor([[100., 100., 150., 150.]]),
            labels=torch.tensor([0])))
    res = evaluate(DetectionMAP('tbx11k', ['tb']), [ignored])
    assert res['tbx11k/loc/mAP40'] == pytest.approx(100.0)


def _random_detection_set(rng, num_images=12, num_classes=3):
    samples = []
    for i in range(num_images):
        h, w = 400 + 20 * i, 500
        # every 4th image has no box
        n_gt = 0 if i % 4 == 3 else int(rng.integers(1, 4))
        xy = rng.uniform(0, 300, size=(n_gt, 2))
        wh = rng.uniform(20, 150, size=(n_gt, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        gt_labels = rng.integers(0, num_classes, size=n_gt)
        # jittered copies of the gts (various IoUs) plus random FPs
        jitter = gt + rng.normal(0, 12, size=gt.shape)
        n_fp = int(rng.integers(0, 4))
        fxy = rng.uniform(0, 300, size=(n_fp, 2))
        fp = np.concatenate([fxy, fxy + rng.uniform(10, 100, (n_fp, 2))], 1)
        pred = np.concatenate([jitter, fp]).round(2)
        pred_labels = np.concatenate(
            [gt_labels, rng.integers(0, num_classes, size=n_fp)])
        scores = rng.uniform(0.05, 1, size=len(pred)).round(4)
        samples.append(
            det_sample(
                pred,
                scores,
                pred_labels,
                gt.round(2),
                gt_labels,
                img=f'img_{i}.png',
                shape=(h, w)))
    return samples


def _reference_coco_eval(tmp_path, samples, num_classes, iou_thrs):
    """pycocotools' documented path: a COCO json on disk, a results json,
    ``loadRes`` from the file and ``summarize``'s first stat."""
    images, anns, dets = [], [], []
    for img_id, s in enumerate(samples, start=7):  # ids need not be 1..N
        images.append(
            dict(
                id=img_id,
                file_name=s['img_path'],
                height=s['ori_shape'][0],
                width=s['ori_shape'][1]))
        for (x1, y1, x2, y2), lab in zip(s['gt_instances']['bboxes'].tolist(),
                                         s['gt_instances']['labels'].tolist()):
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=img_id,
                    category_id=lab + 11,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1),
                    iscrowd=0))
        pred = s['pred_instances']
        for (x1, y1, x2, y2), lab, score in zip(pred['bboxes'].tolist(),
                                                pred['labels'].tolist(),
                                                pred['scores'].tolist()):
            dets.append(
                dict(
                    image_id=img_id,
                    category_id=lab + 11,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    score=score))
    gt_file, dt_file = tmp_path / 'gt.json', tmp_path / 'dt.json'
    gt_file.write_text(
        json.dumps(
            dict(
                info={},
                images=images,
                annotations=anns,
                categories=[
                    dict(id=k + 11, name=str(k)) for k in range(num_classes)
                ])))
    dt_file.write_text(json.dumps(dets))
    coco_gt = COCO(str(gt_file))
    coco_eval = COCOeval(coco_gt, coco_gt.loadRes(str(dt_file)), 'bbox')
    coco_eval.params.iouThrs = np.asarray(iou_thrs)
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    return 100 * coco_eval.stats  # [AP over iouThrs, AP50, AP75, ...]


def test_map_matches_pycocotools_reference(tmp_path):
    samples = _random_detection_set(np.random.default_rng(3))
    assert any(len(s['gt_instances']['labels']) == 0 for s in samples)
    res = evaluate(DetectionMAP('tbx11k', ['x', 'y', 'z']), samples)

    ref40 = _reference_coco_eval(tmp_path, samples, 3, [0.40])
    ref = _reference_coco_eval(tmp_path, samples, 3, np.linspace(.5, 0.95, 10))
    assert 5 < ref40[0] < 95  # a non-trivial case
    assert res['tbx11k/loc/mAP40'] == pytest.approx(ref40[0], abs=1e-6)
    assert res['tbx11k/loc/mAP'] == pytest.approx(ref[0], abs=1e-6)
    assert res['tbx11k/loc/mAP50'] == pytest.approx(ref[1], abs=1e-6)
    assert res['tbx11k/loc/mAP75'] == pytest.approx(ref[2], abs=1e-6)
    assert res['tbx11k/loc/mAP40'] > res['tbx11k/loc/mAP50']


def test_map_bad_input_names_the_sample():
    metric = DetectionMAP('tbx11k', ['tb'])
    with pytest.raises(ValueError, match=r'bad\.png.*labels.*\[0, 1\)'):
        metric.process(
            None,
            [det_sample([[0, 0, 5, 5]], [0.5], [1], [], [], img='bad.png')])
    with pytest.raises(ValueError, match=r'bad\.png.*x2 < x1'):
        metric.process(
            None,
            [det_sample([], [], [], [[10, 0, 5, 5]], [0], img='bad.png')])
    with pytest.raises(ValueError, match='increasing'):
        DetectionMAP('tbx11k', ['tb'], iou_thrs=[0.5, 0.4])


# ----------------------------------------------------------------------
# DiceMetric
# ----------------------------------------------------------------------
def test_dice_perfect_and_empty_on_empty():
    gt = box_mask((8, 8), [(1, 5, 2, 6)], [])  # channel 1 empty
    res = evaluate(
        DiceMetric('jsrt', ['heart', 'clavicle']), [seg_sample(gt, gt)])
    assert res == pytest.approx({
        'jsrt/seg/Dice': 100.0,
        'jsrt/seg/IoU': 100.0,
        'jsrt/seg/Dice_heart': 100.0,
        'jsrt/seg/Dice_clavicle': 100.0,
        'jsrt/seg/IoU_heart': 100.0,
        'jsrt/seg/IoU_clavicle': 100.0,
    })


def test_dice_hand_values_multi_channel():
    shape = (6, 6)
    # image 1
    #  heart: pred rows 0-1 cols 0-1 (4 px), gt rows 1-2 cols 0-2 (6 px),
    #   overlap row 1 cols 0-1 = 2 px -> Dice 4/10 = 40, IoU 2/8 = 25
    #  lung: overlapping the heart channel is allowed; pred == gt = 9 px
    #   -> 100 / 100
    # image 2 (per-image averaging: a pooled Dice would differ)
    #  heart: empty pred, 4 px gt -> 0 / 0
    #  lung: 6 px pred, empty gt -> 0 / 0
    p1 = box_mask(shape, [(0, 2, 0, 2)], [(0, 3, 0, 3)])
    g1 = box_mask(shape, [(1, 3, 0, 3)], [(0, 3, 0, 3)])
    p2 = box_mask(shape, [], [(3, 5, 3, 6)])
    g2 = box_mask(shape, [(4, 6, 4, 6)], [])
    metric = DiceMetric('jsrt', ['heart', 'lung'])
    res = evaluate(metric, [seg_sample(p1, g1), seg_sample(p2, g2)])
    assert res['jsrt/seg/Dice_heart'] == pytest.approx((40 + 0) / 2)
    assert res['jsrt/seg/IoU_heart'] == pytest.approx((25 + 0) / 2)
    assert res['jsrt/seg/Dice_lung'] == pytest.approx((100 + 0) / 2)
    assert res['jsrt/seg/IoU_lung'] == pytest.approx((100 + 0) / 2)
    assert res['jsrt/seg/Dice'] == pytest.approx((20 + 50) / 2)
    assert res['jsrt/seg/IoU'] == pytest.approx((12.5 + 50) / 2)


def test_dice_keeps_counts_not_masks():
    gt = box_mask((40, 30), [(0, 10, 0, 10)], [(5, 20, 5, 20)])
    pred = box_mask((40, 30), [(0, 10, 0, 5)], [(5, 20, 5, 20)])
    metric = DiceMetric('jsrt', ['a', 'b'])
    metric.process(None, [seg_sample(pred, gt)])
    (record, ) = metric.results
    assert set(record) == {'counts'}
    np.testing.assert_array_equal(record['counts'],
                                  [[50, 225], [50, 225], [100, 225]])


def test_dice_from_logits_threshold():
    # sigmoid(0) = 0.5 is not above the 0.5 threshold
    logits = np.array([[[3.0, 0.0], [-2.0, 0.1]]])
    gt = np.array([[[1, 0], [0, 1]]])
    res = evaluate(
        DiceMetric('siim', ['ptx']),
        [seg_sample(logits, gt, dataset='siim', logits=True)])
    assert res['siim/seg/Dice'] == pytest.approx(100.0)
    # a higher threshold drops the 0.1 logit: 1 of 2 gt px -> Dice 2/3
    res = evaluate(
        DiceMetric('siim', ['ptx'], threshold=0.6),
        [seg_sample(logits, gt, dataset='siim', logits=True)])
    assert res['siim/seg/Dice'] == pytest.approx(200 / 3)


def test_dice_bad_input_names_the_sample():
    metric = DiceMetric('jsrt', ['a'])
    gt = np.zeros((1, 4, 4))
    with pytest.raises(ValueError, match=r'bad\.png.*binary.*255'):
        s = seg_sample(gt, gt, img='bad.png')
        s['gt_sem_seg']['data'][0, 0, 0] = 255
        metric.process(None, [s])
    with pytest.raises(ValueError, match=r'bad\.png.*\(1, H, W\)'):
        metric.process(None,
                       [seg_sample(np.zeros((2, 4, 4)), gt, img='bad.png')])
    with pytest.raises(ValueError, match=r'bad\.png.*ori_shape'):
        s = seg_sample(gt, gt, img='bad.png')
        s['ori_shape'] = (8, 8)
        metric.process(None, [s])
    with pytest.raises(KeyError, match=r'bad\.png.*pred_sem_seg'):
        s = seg_sample(gt, gt, img='bad.png')
        del s['pred_sem_seg']
        metric.process(None, [s])


# ----------------------------------------------------------------------
# routing: other datasets / tasks, empty slots, padding, Evaluator
# ----------------------------------------------------------------------
def _mixed_samples():
    """Samples of five slots: nih/cls, jsrt/cls, tbx11k/loc, jsrt/seg and
    jsrt/loc."""
    rng = np.random.default_rng(1)
    cls_own = [
        cls_sample(p, g, img=f'n{i}.png')
        for i, (p, g) in enumerate(zip(AUC_PRED, AUC_GT))
    ]
    # a foreign cls slot whose values would change nih's AUC if mixed in
    cls_other = [
        cls_sample([0.9, 0.9], [0, 0], dataset='jsrt', img=f'j{i}.png')
        for i in range(3)
    ]
    det_own = _random_detection_set(rng, num_images=4, num_classes=1)
    det_other = [
        det_sample([[0, 0, 9, 9]], [0.99], [0], [], [], dataset='jsrt')
    ]
    gt = box_mask((6, 6), [(1, 3, 0, 3)])
    seg_own = [seg_sample(box_mask((6, 6), [(0, 2, 0, 2)]), gt)]
    seg_other_task = dict(seg_own[0], task='cls')
    return (cls_own, cls_other, det_own, det_other, seg_own, [seg_other_task])


def test_metrics_ignore_other_datasets_and_tasks():
    cls_own, cls_other, det_own, det_other, seg_own, seg_x = \
        _mixed_samples()
    everything = cls_own + cls_other + det_own + det_other + seg_own
    # seg_x (jsrt, task cls) would crash the AUC metric of nih if routed
    # there, and the Dice metric of jsrt if routed by dataset only
    everything.insert(3, dict(seg_x[0], dataset='other'))
    everything.insert(7, seg_x[0])

    for metric_type, kwargs, own in [
        (MultiLabelAUC, dict(dataset_name='nih', class_names=['A',
                                                              'B']), cls_own),
        (DetectionMAP, dict(dataset_name='tbx11k',
                            class_names=['tb']), det_own),
        (DiceMetric, dict(dataset_name='jsrt',
                          class_names=['heart']), seg_own),
    ]:
        alone = evaluate(metric_type(**kwargs), own)
        mixed = evaluate(metric_type(**kwargs), everything)
        assert mixed == pytest.approx(alone, nan_ok=True)
        assert len(alone) >= 3


def test_metric_without_own_samples_returns_empty():
    # other samples only
    metric = DiceMetric('montgomery', ['lung'])
    gt = box_mask((4, 4), [(0, 2, 0, 2)])
    assert evaluate(metric, [seg_sample(gt, gt)]) == {}
    # nothing at all (mmengine warns about empty results and still calls
    # compute_metrics)
    for metric in (MultiLabelAUC('nih', ['A']), DetectionMAP('nih', ['A']),
                   DiceMetric('nih', ['A'])):
        assert metric.evaluate(0) == {}


def test_padded_duplicates_are_cut_at_dataset_size():
    """mmengine drops the samples a distributed sampler pads with by cutting
    the collected results at the dataset size; other slots' samples must
    keep their places for that cut to fall right."""
    preds = [[0.9], [0.1], [0.8], [0.3]]
    gts = [[1], [0], [0], [1]]
    samples = [cls_sample(p, g) for p, g in zip(preds, gts)]
    other = cls_sample([0.5], [1], dataset='vindr')
    # dataset of 5: 4 own + 1 other; the padding repeats samples 0 and 1
    stream = samples[:2] + [other] + samples[2:] + samples[:2]
    metric = MultiLabelAUC('nih', ['A'])
    res = evaluate(metric, stream, size=5)
    ref = evaluate(MultiLabelAUC('nih', ['A']), samples)
    # positives {0.9, 0.3} vs negatives {0.1, 0.8}: 3 of 4 pairs
    assert ref['nih/cls/AUC'] == pytest.approx(75.0)
    assert res == pytest.approx(ref)


def test_evaluator_routes_mixed_samples_built_from_configs():
    cls_own, cls_other, det_own, det_other, seg_own, _ = _mixed_samples()
    cfgs = [
        dict(type='MultiLabelAUC', dataset_name='nih', class_names=['A', 'B']),
        dict(type='DetectionMAP', dataset_name='tbx11k', class_names=['tb']),
        dict(type='DiceMetric', dataset_name='jsrt', class_names=['heart']),
        # a second metric of the same dataset, other task: no key clash
        dict(
            type='MultiLabelAUC', dataset_name='jsrt', class_names=['x', 'y']),
    ]
    evaluator = Evaluator(cfgs)
    assert [type(m) for m in evaluator.metrics
            ] == [MultiLabelAUC, DetectionMAP, DiceMetric, MultiLabelAUC]
    everything = cls_own + det_other + seg_own + cls_other + det_own
    for i in range(0, len(everything), 3):  # batches of 3
        evaluator.process(everything[i:i + 3])
    res = evaluator.evaluate(len(everything))

    expected = {}
    for cfg, own in zip(cfgs, (cls_own, det_own, seg_own, cls_other)):
        expected.update(evaluate(METRICS.build(cfg), own))
    assert res == pytest.approx(expected, nan_ok=True)
    assert res['nih/cls/AUC'] == pytest.approx((75.0 + 500 / 6) / 2)
    assert math.isnan(res['jsrt/cls/AUC_x'])  # all labels 0
    assert {k.split('/')[0] + '/' + k.split('/')[1]
            for k in res} == {'nih/cls', 'tbx11k/loc', 'jsrt/seg', 'jsrt/cls'}


def test_evaluator_with_openmmlab_data_samples():
    """Real DataSample / DetDataSample / SegDataSample objects through
    ``Evaluator.process`` (which calls ``to_dict()``) give the same results
    as the hand-built dicts: the key layout matches."""
    samples, dicts = [], []
    for i, (p, g) in enumerate(zip(AUC_PRED, AUC_GT)):
        meta = dict(
            dataset='nih', task='cls', img_path=f'{i}.png', ori_shape=(64, 64))
        ds = DataSample(metainfo=meta).set_gt_score(
            torch.tensor(g,
                         dtype=torch.float32)).set_pred_score(torch.tensor(p))
        mask = torch.tensor([True, i != 2])
        ds.set_field(mask, 'gt_label_mask')
        samples.append(ds)
        dicts.append(cls_sample(p, g, mask.tolist(), img=f'{i}.png'))

    for d in _random_detection_set(np.random.default_rng(5), 5, 2):
        det = DetDataSample(
            metainfo=dict(
                dataset='tbx11k',
                task='loc',
                img_path=d['img_path'],
                ori_shape=d['ori_shape']))
        det.pred_instances = InstanceData(**d['pred_instances'])
        # mmdet's LoadAnnotations gives HorizontalBoxes, not a tensor
        det.gt_instances = InstanceData(
            bboxes=HorizontalBoxes(d['gt_instances']['bboxes']),
            labels=d['gt_instances']['labels'])
        det.ignored_instances = InstanceData(
            bboxes=HorizontalBoxes(torch.zeros(0, 4)),
            labels=torch.zeros(0, dtype=torch.int64))
        samples.append(det)
        dicts.append(d)

    p1 = box_mask((6, 6), [(0, 2, 0, 2)], [(0, 3, 0, 3)])
    g1 = box_mask((6, 6), [(1, 3, 0, 3)], [(0, 3, 0, 3)])
    seg = SegDataSample(
        metainfo=dict(
            dataset='jsrt', task='seg', img_path='s.png', ori_shape=(6, 6)))
    seg.gt_sem_seg = PixelData(data=torch.from_numpy(g1))
    seg.pred_sem_seg = PixelData(data=torch.from_numpy(p1))
    seg.seg_logits = PixelData(data=torch.from_numpy(p1 * 20.0 - 10))
    samples.append(seg)
    dicts.append(seg_sample(p1, g1, img='s.png'))

    def run(batch):
        evaluator = Evaluator([
            MultiLabelAUC('nih', ['A', 'B']),
            DetectionMAP('tbx11k', ['tb', 'other']),
            DiceMetric('jsrt', ['heart', 'lung'])
        ])
        evaluator.process(batch)
        return evaluator.evaluate(len(batch))

    from_objects, from_dicts = run(samples), run(dicts)
    assert from_objects == pytest.approx(from_dicts, nan_ok=True)
    assert from_objects['nih/cls/AUC_A'] == pytest.approx(75.0)
    # B without sample 2: positives {0.9, 0.3} vs negatives {0.3, 0.1}:
    # 1 + 1 + 0.5 + 1 of 4 pairs
    assert from_objects['nih/cls/AUC_B'] == pytest.approx(87.5)
    assert from_objects['jsrt/seg/Dice_heart'] == pytest.approx(40.0)
    assert 'tbx11k/loc/mAP40' in from_objects


# ----------------------------------------------------------------------
# two processes (gloo): mmengine's collection across ranks
# ----------------------------------------------------------------------
# sample 0 is a negative scored above every positive but one: a padded
# duplicate of it would change the AUC
DIST_PREDS = [[0.95], [0.9], [0.1], [0.8], [0.3], [0.6], [0.2]]
DIST_GTS = [[0], [1], [0], [0], [1], [1], [0]]
DIST_OTHER = (2, 5)  # indices of samples of another dataset


def _dist_samples():
    return [
        cls_sample(
            p,
            g,
            dataset='vindr' if i in DIST_OTHER else 'nih',
            img=f'{i}.png')
        for i, (p, g) in enumerate(zip(DIST_PREDS, DIST_GTS))
    ]


def _dist_worker(rank, world_size, port, out_file):
    import torch.distributed as torch_dist
    from mmengine.dataset import DefaultSampler
    from mmengine.dist import get_dist_info
    torch_dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=world_size)
    try:
        assert get_dist_info() == (rank, world_size)
        samples = _dist_samples()
        # 7 samples on 2 ranks: rank 1 is padded with sample 0
        indices = list(DefaultSampler(samples, shuffle=False))
        evaluator = Evaluator(
            [MultiLabelAUC('nih', ['A']),
             MultiLabelAUC('vindr', ['A'])])
        for i in range(0, len(indices), 2):
            evaluator.process([samples[j] for j in indices[i:i + 2]])
        res = evaluator.evaluate(len(samples))
        if rank == 0:
            with open(out_file, 'w') as f:
                json.dump(dict(indices=indices, res=res), f)
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.dist
def test_distributed_collection_drops_padding(tmp_path):
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out_file = str(tmp_path / 'res.json')
    mp.spawn(_dist_worker, args=(2, port, out_file), nprocs=2, join=True)
    with open(out_file) as f:
        got = json.load(f)
    assert got['indices'] == [0, 2, 4, 6]  # rank 0's shard

    samples = _dist_samples()
    own = [s for s in samples if s['dataset'] == 'nih']
    ref = evaluate(MultiLabelAUC('nih', ['A']), own)
    # positives {0.9, 0.3} vs negatives {0.95, 0.8, 0.2}: 0.9 beats 2,
    # 0.3 beats 1 -> 3 of 6 pairs
    assert ref['nih/cls/AUC'] == pytest.approx(50.0)
    with_dup = evaluate(MultiLabelAUC('nih', ['A']), own + own[:1])
    assert with_dup['nih/cls/AUC'] != pytest.approx(50.0)
    assert got['res']['nih/cls/AUC'] == pytest.approx(50.0)
    # vindr: positive {0.6} vs negative {0.1}
    assert got['res']['vindr/cls/AUC'] == pytest.approx(100.0)
