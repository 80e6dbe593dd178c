# Copyright (c) fx_mm contributors. All rights reserved.
import os.path as osp
import warnings
from typing import Dict, Optional, Sequence, Set, Tuple

from mmengine.hooks import Hook
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer

from fx_mm.datasets.config_slots import dataset_class_names, unwrap_dataset
from fx_mm.registry import HOOKS
from fx_mm.utils.model_wrappers import unwrap_model
from fx_mm.visualization import (FXVisualizer, gt_in_original_frame,
                                 gt_to_original, load_rgb_image)


@HOOKS.register_module()
class FXVisualizationHook(Hook):
    """Draw validation / test predictions of every (dataset, task) slot, for
    each network the loop evaluates (student / teacher).

    Works with :class:`~fx_mm.engine.MultiSlotValLoop` /
    ``MultiSlotTestLoop`` (and mmengine's plain loops): it reads the class
    names of each slot dataset, and whether that dataset's pipeline leaves
    ground truth in original pixels, when the loop starts. Pictures are
    drawn by :class:`~fx_mm.visualization.FXVisualizer` on the original
    image (read from ``img_path``; DICOM included), ground truth on the
    left and prediction on the right.

    - validation: the first batch of every (network, slot) and every
      ``interval``-th batch; the first sample of the batch goes to the
      visualizer's backends as ``val_<network>_<dataset>_<task>`` at the
      current training iteration;
    - test: every sample; with ``test_out_dir`` written to
      ``<work_dir>/<timestamp>/<test_out_dir>/<network>/<dataset>_<task>/
      <img_id>.png`` (an absolute ``test_out_dir`` is used as is), else to
      the backends as ``test_<network>_<dataset>_<task>``.

    ``show=True`` displays the pictures and disables the backends (as
    mmdet's ``DetVisualizationHook``).

    Args:
        draw (bool): Draw at all. Defaults to False (no cost in training).
        interval (int): Validation batches between drawings. Defaults to 50.
        score_thr (float): Boxes above this score are drawn. Defaults to
            0.3.
        show (bool): Display the pictures. Defaults to False.
        wait_time (float): Seconds each picture is shown. Defaults to 0.
        test_out_dir (str, optional): Folder of the test pictures.
        draw_gt (bool): Draw the ground truth next to the prediction.
            Defaults to True.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 score_thr: float = 0.3,
                 show: bool = False,
                 wait_time: float = 0.,
                 test_out_dir: Optional[str] = None,
                 draw_gt: bool = True) -> None:
        if interval < 1:
            raise ValueError(f'FXVisualizationHook: interval must be >= 1, '
                             f'got {interval}')
        self.draw = draw
        self.interval = interval
        self.score_thr = score_thr
        self.show = show
        self.wait_time = wait_time
        self.test_out_dir = test_out_dir
        self.draw_gt = draw_gt
        self._visualizer: Optional[FXVisualizer] = None
        self._gt_original: Dict[Tuple[str, str], bool] = {}
        self._seen: Set[Tuple[str, str, str]] = set()
        self._out_dir: Optional[str] = None
        self._test_index = 0

    # ------------------------------------------------------------------
    def _get_visualizer(self) -> FXVisualizer:
        """The runner's visualizer when it is an :class:`FXVisualizer`, else
        an FXVisualizer writing to the same backends."""
        if self._visualizer is not None:
            return self._visualizer
        current = Visualizer.get_current_instance()
        if isinstance(current, FXVisualizer):
            visualizer = current
        else:
            warnings.warn(
                'FXVisualizationHook: the runner visualizer is '
                f'{type(current).__name__}, not FXVisualizer (set '
                "visualizer=dict(type='FXVisualizer', ...)); drawing with "
                'an FXVisualizer on the same backends')
            visualizer = FXVisualizer.get_instance(
                f'{current.instance_name}_fx')
            visualizer._vis_backends = dict(current._vis_backends)
        if self.show:
            # shown pictures are not stored (as mmdet's hook)
            visualizer._vis_backends = {}
        self._visualizer = visualizer
        return visualizer

    @staticmethod
    def _loop_datasets(loop) -> Sequence:
        loaders = getattr(loop, 'slot_loaders', None)
        if loaders is None:
            loaders = [getattr(loop, 'dataloader', None)]
        return [
            loader.dataset for loader in loaders
            if getattr(loader, 'dataset', None) is not None
        ]

    def _prepare(self, loop) -> None:
        """Class names and ground-truth frames of the loop's slots."""
        visualizer = self._get_visualizer()
        datasets = self._loop_datasets(loop)
        visualizer.set_class_names(dataset_class_names(datasets))
        for dataset in datasets:
            dataset = unwrap_dataset(dataset)
            if dataset is None:
                continue
            transforms = getattr(dataset.pipeline, 'transforms', [])
            self._gt_original[(dataset.dataset_name, dataset.task)] = \
                gt_in_original_frame(transforms)
        self._seen = set()

    @staticmethod
    def _network(runner) -> str:
        model = unwrap_model(runner.model)
        return str(getattr(model, 'predict_on', 'model'))

    def _draw(self, runner, data_sample, name: str, step: int,
              out_file: Optional[str]) -> None:
        meta = data_sample.metainfo
        image = load_rgb_image(meta['img_path'])
        route = (meta.get('dataset'), meta.get('task'))
        sample = gt_to_original(data_sample,
                                self._gt_original.get(route, True))
        self._get_visualizer().add_datasample(
            name,
            image,
            data_sample=sample,
            draw_gt=self.draw_gt,
            draw_pred=True,
            show=self.show,
            wait_time=self.wait_time,
            out_file=out_file,
            step=step,
            pred_score_thr=self.score_thr)

    # ------------------------------------------------------------------
    def before_val(self, runner) -> None:
        if self.draw:
            self._prepare(runner.val_loop)

    def before_test(self, runner) -> None:
        if not self.draw:
            return
        self._prepare(runner.test_loop)
        self._test_index = 0
        self._out_dir = None
        if self.test_out_dir is not None:
            self._out_dir = osp.join(runner.work_dir, runner.timestamp,
                                     self.test_out_dir)
            mkdir_or_exist(self._out_dir)

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence) -> None:
        if not self.draw or not outputs:
            return
        sample = outputs[0]
        network = self._network(runner)
        key = (network, sample.metainfo.get('dataset'),
               sample.metainfo.get('task'))
        if key in self._seen and batch_idx % self.interval != 0:
            return
        self._seen.add(key)
        name = osp.basename(sample.metainfo['img_path']) if self.show \
            else 'val_{}_{}_{}'.format(*key)
        self._draw(runner, sample, name, runner.iter, None)

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        if not self.draw:
            return
        network = self._network(runner)
        for sample in outputs:
            self._test_index += 1
            meta = sample.metainfo
            head = f'{meta.get("dataset")}_{meta.get("task")}'
            out_file = None
            if self._out_dir is not None:
                image_id = meta.get('img_id') or osp.splitext(
                    osp.basename(meta['img_path']))[0]
                out_file = osp.join(self._out_dir, network, head,
                                    f'{image_id}.png')
            name = osp.basename(meta['img_path']) if self.show \
                else f'test_{network}_{head}'
            self._draw(runner, sample, name, self._test_index, out_file)
