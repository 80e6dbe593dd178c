# Copyright (c) fx_mm contributors. All rights reserved.
"""Inference of a Foundation X model on chest radiographs.

:class:`FXInferencer` runs mmengine's ``BaseInferencer`` steps with the
pieces of :mod:`fx_mm.apis`: reading inputs (:mod:`.inputs`), the network
that predicts (:mod:`.weights`), the heads, their transforms and packing
(:mod:`.heads`), overlays (:mod:`.overlay`) and JSON results
(:mod:`.results`).
"""
import copy
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

import mmcv
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import DefaultScope

from fx_mm.datasets.config_slots import ClassNames, config_slot_datasets
from fx_mm.datasets.transforms import PackFXInputs
from fx_mm.registry import INFERENCERS
from fx_mm.utils.checkpoint import check_local_checkpoint
from fx_mm.utils.setup_env import register_all_modules
from fx_mm.visualization import FXVisualizer
from . import heads as _heads
from .heads import Head, head_class_names, head_transforms, pack_for_head
from .inputs import (IMAGE_SUFFIXES, folder_images, inputs_to_list, load_input,
                     unique_names)
from .overlay import draw_overlay
from .results import (HeadSamples, mask_to_rle, pred_to_dict, pred_to_json,
                      save_pred)
from .weights import build_model


@INFERENCERS.register_module()
class FXInferencer(BaseInferencer):
    """Run a Foundation X model on radiographs: every selected (dataset,
    task) head, one forward per head.

    The model routes a batch to one head through the data samples'
    ``dataset`` / ``task`` metainfo, so each image is packed once per head
    (with that head's test-pipeline transforms, e.g. ``Resize``) and each
    head runs as its own batch. Predictions come back in pixels of the
    ORIGINAL image: the loc branch rescales boxes by ``scale_factor``, the
    seg branch resizes masks to ``ori_shape``.

    Example::

        >>> from fx_mm.apis import FXInferencer
        >>> inferencer = FXInferencer('configs/<cfg>.py', 'iter_100.pth')
        >>> result = inferencer('cxr.dcm', tasks=('seg', ), out_dir='out')
        >>> result['predictions'][0]['heads']['jsrt']['seg']['areas']

    Args:
        model (str | Config | dict): The training / test config (path or
            object); its ``model`` is built and its test (else val) slots
            give the transforms and class names of each head.
        weights (str, optional): Local checkpoint (a URL is refused: fx_mm
            never downloads). A training checkpoint holds ``student.*``
            and ``teacher.*`` weights; a checkpoint of one network (keys
            ``backbone.*``, ``cls_branch.*`` ...) is loaded into the
            network ``model_key`` picks. Loaded through
            :func:`fx_mm.utils.load_fx_checkpoint` (``weights_only``).
            None runs randomly initialised weights (with a warning).
        device (str, optional): ``'cpu'``, ``'cuda:0'`` ... Defaults to the
            available device.
        model_key (str, optional): ``'teacher'`` or ``'student'``: the
            network that predicts. Defaults to the teacher when the model
            and the checkpoint have one (the released weights are the
            teacher's), else the student. A release of
            ``tools/model_converters/publish_model.py`` holds one network
            (stored as ``student.*`` or bare); its ``meta`` names which, and
            that name is the ``model_key`` (``'teacher'`` by default).
        class_names (dict, optional): ``{dataset: {task: [names]}}``;
            overrides the names read from the config's datasets. Heads
            without names report ``class_<i>``.
        scope (str): Registry scope. Defaults to ``'fx_mm'``.
        show_progress (bool): Progress bar over batches (as mmdet's
            inferencers). Defaults to True.
        allow_unsafe_pickle (bool): Load a checkpoint holding arbitrary
            pickled objects (only for files you trust). Defaults to False.
        vis_max_height (int): Height limit of each head's tile in the
            saved overlay. Defaults to 512.
    """

    preprocess_kwargs: set = {'tasks', 'datasets'}
    forward_kwargs: set = set()
    visualize_kwargs: set = {
        'show', 'wait_time', 'return_vis', 'no_save_vis', 'img_out_dir'
    }
    postprocess_kwargs: set = {
        'print_result', 'pred_out_dir', 'no_save_pred', 'score_thr'
    }

    def __init__(self,
                 model: Union[str, Config, dict],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 model_key: Optional[str] = None,
                 class_names: Optional[ClassNames] = None,
                 scope: str = 'fx_mm',
                 show_progress: bool = True,
                 allow_unsafe_pickle: bool = False,
                 vis_max_height: int = 512) -> None:
        if model is None:
            raise ValueError('FXInferencer needs the config the checkpoint '
                             'was trained with (model=...)')
        if isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f'{model}: config file not found')
        if model_key not in (None, 'teacher', 'student'):
            raise ValueError(f'model_key must be "teacher" or "student", '
                             f'got {model_key!r}')
        if weights is not None:
            weights = check_local_checkpoint(weights)  # refuses URLs
            if not osp.isfile(weights):
                raise FileNotFoundError(
                    f'{weights}: checkpoint file not found')
        register_all_modules(init_default_scope=False)
        self._requested_key = model_key
        self._weights = weights
        self._allow_unsafe_pickle = allow_unsafe_pickle
        self._user_class_names = copy.deepcopy(class_names or {})
        self.vis_max_height = vis_max_height
        #: the network whose weights predict (what predictions report)
        self.model_key: Optional[str] = None
        # the network of the built model that holds them (a release keeps
        # its one network in the student's place)
        self._predict_on: Optional[str] = None
        with DefaultScope.overwrite_default_scope(scope):
            super().__init__(
                model=model,
                weights=weights,
                device=device,
                scope=scope,
                show_progress=show_progress)

    # ------------------------------------------------------------------
    # model
    def _init_model(self,
                    cfg: Config,
                    weights: Optional[str],
                    device: str = 'cpu') -> nn.Module:
        """The config's model with ``weights`` in the predicting network
        (see :func:`~fx_mm.apis.weights.build_model`)."""
        model, self.model_key, self._predict_on = build_model(
            cfg, weights, self._requested_key, self._allow_unsafe_pickle)
        model.cfg = cfg
        model.to(device)
        model.eval()
        return model

    # ------------------------------------------------------------------
    # heads, transforms, class names
    #: outputs of a head (see :func:`~fx_mm.apis.heads.head_size`)
    head_size = staticmethod(_heads.head_size)

    def _init_pipeline(self, cfg: Config) -> Any:
        """Per head: the test transforms between loading and packing, and
        the class names; the "pipeline" itself reads an input."""
        by_stage = config_slot_datasets(cfg, where='FXInferencer')
        net = self.model.student
        self.head_transforms: Dict[Head, List[Any]] = head_transforms(
            by_stage, net, cfg.get('test_pipeline'))
        self.class_names: ClassNames = head_class_names(
            by_stage, net, self._user_class_names)
        # the packer of the test pipelines (every shipped config uses its
        # default keys): inference packs what testing does
        self.packer = PackFXInputs()
        return self._load_input

    def _init_collate(self, cfg: Config):
        return pseudo_collate

    def _init_visualizer(self, cfg: Config) -> FXVisualizer:
        return FXVisualizer(
            name=f'fx_inferencer_{id(self)}', class_names=self.class_names)

    def heads(self) -> Dict[str, List[str]]:
        """``{task: [dataset, ...]}`` of the model's heads."""
        return self.model.student.heads()

    def select_heads(self,
                     tasks: Optional[Sequence[str]] = None,
                     datasets: Optional[Sequence[str]] = None) -> List[Head]:
        """(dataset, task) heads to run; None = all of the model's (see
        :func:`~fx_mm.apis.heads.select_heads`)."""
        return _heads.select_heads(self.heads(), tasks, datasets)

    # ------------------------------------------------------------------
    # inputs (see :mod:`fx_mm.apis.inputs`)
    _folder_images = staticmethod(folder_images)
    _load_input = staticmethod(load_input)
    _unique_names = staticmethod(unique_names)
    _inputs_to_list = staticmethod(inputs_to_list)

    def pack(self, loaded: dict, head: Head) -> dict:
        """One loaded image -> ``dict(inputs, data_samples)`` for a head
        (see :func:`~fx_mm.apis.heads.pack_for_head`)."""
        return pack_for_head(loaded, head, self.head_transforms[head],
                             self.packer)

    def preprocess(self, loaded: List[dict], head: Head) -> dict:
        """A batch of loaded images packed for one head."""
        return self.collate_fn([self.pack(item, head) for item in loaded])

    @torch.no_grad()
    def forward(self, inputs: dict, **kwargs) -> list:
        return self.model.test_step(inputs)

    # ------------------------------------------------------------------
    def __call__(self,
                 inputs: Any,
                 tasks: Optional[Sequence[str]] = None,
                 datasets: Optional[Sequence[str]] = None,
                 batch_size: int = 1,
                 pred_score_thr: float = 0.3,
                 return_datasamples: bool = False,
                 out_dir: str = '',
                 no_save_vis: bool = False,
                 no_save_pred: bool = False,
                 return_vis: bool = False,
                 show: bool = False,
                 wait_time: float = 0.,
                 draw_pred: bool = True,
                 print_result: bool = False,
                 score_thr: Optional[float] = None) -> dict:
        """Predict every selected head on every input.

        Args:
            inputs: A path (PNG, JPEG, DICOM ...), a folder, an (H, W) /
                (H, W, 3) numpy array, or a list of paths / arrays.
            tasks (Sequence[str], optional): Subset of ``('cls', 'loc',
                'seg')``; None = every task of the model.
            datasets (Sequence[str], optional): Head names; None = all.
            batch_size (int): Images per forward. Defaults to 1.
            pred_score_thr (float): Boxes with a score above it are kept
                (output and overlay), mmdet's name. Defaults to 0.3.
            return_datasamples (bool): Return the data samples
                ``{dataset: {task: sample}}`` instead of dicts.
            out_dir (str): Write ``preds/<name>.json`` and ``vis/<name>.png``
                there (``<name>``: the file name without suffix, or
                ``array_<index>``). Defaults to '' (nothing written).
            no_save_vis (bool): Do not write ``vis/``.
            no_save_pred (bool): Do not write ``preds/``.
            return_vis (bool): Also return the overlays (RGB arrays).
            show (bool): Display the overlays.
            wait_time (float): Seconds each overlay is shown.
            draw_pred (bool): Draw the predictions on the overlays; False
                writes the bare images. Defaults to True.
            print_result (bool): Print the prediction dicts.
            score_thr (float, optional): Deprecated name of
                ``pred_score_thr`` (a DeprecationWarning says so).

        Returns:
            dict: ``predictions`` (one per input: a JSON-ready dict, see
            :meth:`pred_to_dict`, or the data samples) and ``visualization``
            (overlays when ``return_vis``).
        """
        if score_thr is not None:
            warnings.warn(
                'FXInferencer: `score_thr` is deprecated, use mmdet\'s '
                '`pred_score_thr`', DeprecationWarning, stacklevel=2)
            pred_score_thr = score_thr
        score_thr = pred_score_thr
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        heads = self.select_heads(tasks, datasets)
        items = self._inputs_to_list(inputs)
        names = self._unique_names(items)
        img_out_dir = osp.join(out_dir, 'vis') if out_dir and \
            not no_save_vis else ''
        pred_out_dir = osp.join(out_dir, 'preds') if out_dir and \
            not no_save_pred else ''
        predictions, visualization = [], []
        chunks = list(self._get_chunk_data(range(len(items)), batch_size))
        if self.show_progress:
            from rich.progress import track
            chunks = track(chunks, description='Inference')
        for chunk in chunks:
            loaded = []
            for index in chunk:
                item = self._load_input(items[index], index)
                item['name'] = names[index]
                loaded.append(item)
            per_image: List[HeadSamples] = [{} for _ in loaded]
            for head in heads:
                samples = self.forward(self.preprocess(loaded, head))
                for result, sample in zip(per_image, samples):
                    result.setdefault(head[0], {})[head[1]] = sample
            visualization += self.visualize(
                loaded,
                per_image,
                show=show,
                wait_time=wait_time,
                img_out_dir=img_out_dir,
                score_thr=score_thr,
                return_vis=return_vis,
                draw_pred=draw_pred)
            predictions += self.postprocess(
                loaded,
                per_image,
                return_datasamples=return_datasamples,
                score_thr=score_thr,
                pred_out_dir=pred_out_dir,
                print_result=print_result)
        return dict(predictions=predictions, visualization=visualization)

    def visualize(self,
                  loaded: List[dict],
                  preds: List[HeadSamples],
                  show: bool = False,
                  wait_time: float = 0.,
                  img_out_dir: str = '',
                  score_thr: float = 0.3,
                  return_vis: bool = False,
                  draw_pred: bool = True) -> List[np.ndarray]:
        """One overlay per image (see
        :func:`~fx_mm.apis.overlay.draw_overlay`), shown, written to
        ``<img_out_dir>/<name>.png`` and / or returned."""
        if not (show or img_out_dir or return_vis):
            return []
        results = []
        for item, heads in zip(loaded, preds):
            drawn = draw_overlay(self.visualizer, item['image'], heads,
                                 score_thr, self.vis_max_height, draw_pred)
            if show:
                self.visualizer.show(
                    drawn, win_name=item['name'], wait_time=wait_time)
            if img_out_dir:
                mmcv.imwrite(drawn[..., ::-1],
                             osp.join(img_out_dir, f'{item["name"]}.png'))
            if return_vis:
                results.append(drawn)
        return results

    def pred_to_dict(self, item: dict, heads: HeadSamples,
                     score_thr: float) -> dict:
        """JSON-ready predictions of one image: ``img_path``, ``name``,
        ``height``, ``width``, ``model_key`` and ``heads`` ``{dataset:
        {task: entry}}`` (see :func:`~fx_mm.apis.results.pred_to_dict`;
        boxes and masks in pixels of the original image)."""
        net = self.model.student
        multi_label = {
            dataset: bool(net.cls_branch.specs[dataset]['multi_label'])
            for dataset, tasks in heads.items() if 'cls' in tasks
        }
        return pred_to_dict(item, heads, self.class_names, multi_label,
                            self.model_key, score_thr)

    def postprocess(self,
                    loaded: List[dict],
                    preds: List[HeadSamples],
                    return_datasamples: bool = False,
                    score_thr: float = 0.3,
                    pred_out_dir: str = '',
                    print_result: bool = False) -> list:
        """Dicts (or the data samples); write ``<name>.json`` files."""
        results = []
        for item, heads in zip(loaded, preds):
            as_dict = None
            if pred_out_dir or print_result or not return_datasamples:
                as_dict = self.pred_to_dict(item, heads, score_thr)
            if pred_out_dir:
                save_pred(as_dict, pred_out_dir)
            if print_result:
                print(pred_to_json(as_dict))
            results.append(heads if return_datasamples else as_dict)
        return results


# ``mask_to_rle`` and ``IMAGE_SUFFIXES`` were defined here first
__all__ = ['FXInferencer', 'mask_to_rle', 'IMAGE_SUFFIXES']
