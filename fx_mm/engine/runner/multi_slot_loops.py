# Copyright (c) fx_mm contributors. All rights reserved.
import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import BaseLoop
from mmengine.runner.amp import autocast

from fx_mm.registry import LOOPS
from fx_mm.utils.model_wrappers import unwrap_model
from .epoch_length import CycleLength
from .log_scalars import drop_log_scalars
from .slot_checks import VAL_SLOT_KEYS, check_slot_head, check_slot_keys


@LOOPS.register_module()
class MultiSlotValLoop(BaseLoop):
    """Evaluate every configured (dataset, task) slot, for the student and
    the teacher, in one pass each.

    Each slot's samples go to the metrics of its (dataset, task) (a metric's
    ``dataset_name`` and ``task``); metrics without them (e.g.
    ``DumpResults``) see every slot. Every metric key is prefixed with the
    network, also when only one is evaluated: ``teacher/jsrt/seg/Dice``
    (one key per value; docs/inference.md). ``run(slots=[(dataset, task),
    ...])`` evaluates only those slots (validation right after a slot is
    trained).

    Args:
        runner: The runner.
        dataloader (dict): Loader defaults (batch_size, num_workers,
            collate_fn); ``dataset`` is ignored.
        evaluator (list | dict): Metrics of all slots.
        slots (list[dict]): ``dict(dataset=<cfg>, batch_size=...)`` each.
        predict_on (list[str], optional): Networks to evaluate:
            ``['student', 'teacher']``; None = the model's ``predict_on``.
        fp16 (bool): Autocast. Defaults to False.
    """

    stage = 'val'

    def __init__(self,
                 runner,
                 dataloader: Union[dict, None],
                 evaluator: Union[list, dict, Evaluator],
                 slots: Sequence[dict],
                 predict_on: Optional[Sequence[str]] = None,
                 fp16: bool = False) -> None:
        self._runner = runner
        if not slots:
            raise ValueError(f'{type(self).__name__}: `slots` is empty')
        defaults = dict(dataloader or {})
        defaults.pop('dataset', None)
        self.slot_loaders = []
        for k, slot in enumerate(slots):
            check_slot_keys(slot, f'{self.stage}_cfg.slots[{k}]',
                            VAL_SLOT_KEYS)
            slot = dict(slot)
            loader_cfg = copy.deepcopy(defaults)
            loader_cfg.update({
                key: v
                for key, v in slot.items() if key != 'dataset'
            })
            loader_cfg['dataset'] = slot['dataset']
            loader_cfg.setdefault('sampler',
                                  dict(type='DefaultSampler', shuffle=False))
            self.slot_loaders.append(
                runner.build_dataloader(loader_cfg, seed=runner.seed))
            check_slot_head(runner.model, self.slot_loaders[-1].dataset,
                            f'{self.stage}_cfg.slots[{k}]')
        self.dataloader = self.slot_loaders[0]
        if isinstance(evaluator, (dict, list)):
            self.evaluator = runner.build_evaluator(evaluator)
        else:
            self.evaluator = evaluator
        self.slot_keys = [(getattr(loader.dataset, 'dataset_name',
                                   None), getattr(loader.dataset, 'task',
                                                  None))
                          for loader in self.slot_loaders]
        self.slot_evaluators = self._split_evaluator()
        self.predict_on = list(predict_on) if predict_on else None
        self.fp16 = fp16

    def _split_evaluator(self) -> List[Evaluator]:
        """One evaluator per slot holding the metrics of its (dataset,
        task) plus the metrics that take every sample."""

        def metric_key(metric):
            if not hasattr(metric, 'dataset_name'):
                return None
            return metric.dataset_name, metric.task

        for metric in self.evaluator.metrics:
            key = metric_key(metric)
            if key is not None and key not in self.slot_keys:
                raise ValueError(
                    f'{self.stage}_evaluator: {type(metric).__name__} for '
                    f'{key[0]}/{key[1]} has no {self.stage} slot; '
                    f'{self.stage} slots: '
                    f'{[f"{d}/{t}" for d, t in self.slot_keys]}')
        evaluators = []
        for slot_key in self.slot_keys:
            metrics = [
                m for m in self.evaluator.metrics
                if metric_key(m) in (None, slot_key)
            ]
            evaluators.append(Evaluator(metrics) if metrics else None)
        return evaluators

    @property
    def _model(self):
        return unwrap_model(self.runner.model)

    def _networks(self) -> List[str]:
        return self.predict_on or [self._model.predict_on]

    def run(self, slots: Optional[Sequence[tuple]] = None) -> Dict[str, float]:
        """Evaluate the networks on all slots, or only on ``slots``
        (``[(dataset, task), ...]``)."""
        selected = list(range(len(self.slot_loaders)))
        if slots is not None:
            wanted = {tuple(slot) for slot in slots}
            selected = [k for k in selected if self.slot_keys[k] in wanted]
        stage = self.stage
        self.runner.call_hook(f'before_{stage}')
        self.runner.call_hook(f'before_{stage}_epoch')
        self.runner.model.eval()
        metrics: Dict[str, float] = {}
        previous = self._model.predict_on
        networks = self._networks()
        self.dataloader = CycleLength(
            sum(len(self.slot_loaders[k]) for k in selected),
            self.slot_loaders[selected[0]].dataset if selected else None)
        for network in networks:
            self._model.predict_on = network
            network_metrics = self._run_network(selected)
            for key, value in network_metrics.items():
                metrics[f'{network}/{key}'] = value
        self._model.predict_on = previous
        # mmengine logs every `val/*` scalar the message hub holds; drop the
        # previous validations' values so that slots not evaluated now are
        # not logged again with stale numbers
        # (metric keys have a dataset/task path; `val/time` etc. stay)
        drop_log_scalars(
            self.runner.message_hub,
            lambda key: key.startswith(f'{stage}/') and key.count('/') > 1)
        self.runner.call_hook(f'after_{stage}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{stage}')
        return metrics

    def _run_network(self, selected: Sequence[int]) -> Dict[str, float]:
        # One evaluate() per slot loader: mmengine drops a distributed
        # sampler's padding by cutting the collected results at the
        # dataset's size, which only works loader by loader.
        metrics: Dict[str, float] = {}
        batch_idx = 0
        for k in selected:
            loader, evaluator = self.slot_loaders[k], self.slot_evaluators[k]
            for data_batch in loader:
                self.run_iter(batch_idx, data_batch, evaluator)
                batch_idx += 1
            if evaluator is not None:
                metrics.update(evaluator.evaluate(len(loader.dataset)))
        return metrics

    @torch.no_grad()
    def run_iter(self,
                 idx: int,
                 data_batch: dict,
                 evaluator: Optional[Evaluator] = None) -> None:
        stage = self.stage
        self.runner.call_hook(
            f'before_{stage}_iter', batch_idx=idx, data_batch=data_batch)
        with autocast(enabled=self.fp16):
            step = getattr(self.runner.model, f'{stage}_step')
            outputs = step(data_batch)
        if evaluator is not None:
            evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            f'after_{stage}_iter',
            batch_idx=idx,
            data_batch=data_batch,
            outputs=outputs)


@LOOPS.register_module()
class MultiSlotTestLoop(MultiSlotValLoop):
    """:class:`MultiSlotValLoop` for ``tools/test.py`` (test hooks)."""

    stage = 'test'
