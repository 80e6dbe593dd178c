# Copyright (c) fx_mm contributors. All rights reserved.
"""Predictions of :class:`~fx_mm.apis.FXInferencer` as JSON-ready dicts
and ``<name>.json`` files."""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import numpy as np
from pycocotools import mask as mask_utils

from fx_mm.datasets.config_slots import ClassNames

HeadSamples = Dict[str, Dict[str, Any]]  # {dataset: {task: data sample}}


def mask_to_rle(mask: np.ndarray) -> dict:
    """(H, W) binary mask -> COCO RLE with ``counts`` as str (JSON-ready).

    Decode with ``pycocotools.mask.decode(rle)`` (``counts`` may stay str).
    """
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def cls_to_dict(sample: Any, names: List[str], multi_label: bool) -> dict:
    """A cls head's prediction: ``scores`` ``{class: probability}``,
    ``multi_label``, plus mmpretrain's inferencer keys (``pred_scores``,
    ``pred_label``, ``pred_score``, ``pred_class``: the best class)."""
    scores = sample.pred_score.float().cpu().tolist()
    best = int(np.argmax(scores))
    return dict(
        scores=dict(zip(names, scores)),
        multi_label=multi_label,
        pred_scores=scores,
        pred_label=best,
        pred_score=scores[best],
        pred_class=names[best])


def loc_to_dict(sample: Any, names: List[str], score_thr: float) -> dict:
    """A loc head's prediction: the boxes scored above ``score_thr``,
    ``bboxes`` (N, 4) ``[x1, y1, x2, y2]`` in pixels of the original image,
    ``scores``, ``labels`` (names), ``label_ids`` and ``score_thr``."""
    inst = sample.pred_instances.cpu()
    inst = inst[inst.scores > score_thr]
    label_ids = inst.labels.tolist()
    return dict(
        bboxes=inst.bboxes.float().tolist(),
        scores=inst.scores.float().tolist(),
        labels=[names[i] for i in label_ids],
        label_ids=label_ids,
        score_thr=score_thr)


def seg_to_dict(sample: Any, names: List[str]) -> dict:
    """A seg head's prediction: ``classes``, ``masks`` ``{class: COCO
    RLE}`` of the original image size (one independent binary channel per
    class, so masks may overlap) and ``areas`` ``{class: pixels}``."""
    masks = sample.pred_sem_seg.data.cpu().numpy() > 0  # (C, H, W)
    return dict(
        classes=list(names),
        masks={
            name: mask_to_rle(mask)
            for name, mask in zip(names, masks)
        },
        areas={
            name: int(mask.sum())
            for name, mask in zip(names, masks)
        })


def pred_to_dict(item: dict, heads: HeadSamples, class_names: ClassNames,
                 multi_label: Dict[str, bool], model_key: Optional[str],
                 score_thr: float) -> dict:
    """JSON-ready predictions of one image.

    Args:
        item (dict): The loaded input: ``image`` (H, W, 3), ``img_path``,
            ``name``.
        heads (dict): ``{dataset: {task: data sample}}`` predicted.
        class_names (dict): ``{dataset: {task: [names]}}``.
        multi_label (dict): ``{dataset: bool}`` of the cls heads.
        model_key (str, optional): The network that predicted.
        score_thr (float): Boxes scored above it are kept.

    Returns:
        dict: ``img_path``, ``name``, ``height``, ``width``, ``model_key``
        and ``heads``: ``{dataset: {task: entry}}`` (see
        :func:`cls_to_dict`, :func:`loc_to_dict`, :func:`seg_to_dict`).
    """
    height, width = item['image'].shape[:2]
    out = dict(
        img_path=item['img_path'],
        name=item['name'],
        height=height,
        width=width,
        model_key=model_key,
        heads={})
    for dataset, tasks in heads.items():
        for task, sample in tasks.items():
            names = class_names[dataset][task]
            if task == 'cls':
                entry = cls_to_dict(sample, names, multi_label[dataset])
            elif task == 'loc':
                entry = loc_to_dict(sample, names, score_thr)
            else:
                entry = seg_to_dict(sample, names)
            out['heads'].setdefault(dataset, {})[task] = entry
    return out


def pred_to_json(pred: dict) -> str:
    """The text of a prediction dict, as printed and saved."""
    return json.dumps(pred, indent=1)


def save_pred(pred: dict, out_dir: str) -> str:
    """Write ``<out_dir>/<name>.json``; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, f'{pred["name"]}.json')
    with open(path, 'w') as f:
        f.write(pred_to_json(pred))
    return path
