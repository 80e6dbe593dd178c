# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Dict, List, Tuple

from mmengine.hooks import Hook

from fx_mm.registry import HOOKS


def _slot_datasets(runner) -> List[Tuple[str, object]]:
    """(slot name, dataset) of every training slot of the cyclic loop."""
    slots = getattr(runner.train_loop, 'slots', None)
    if slots is not None:
        return [(slot['name'], slot['dataset']) for slot in slots]
    dataset = getattr(runner.train_dataloader, 'dataset', None)
    return [] if dataset is None else [(type(dataset).__name__, dataset)]


@HOOKS.register_module()
class BadSampleHook(Hook):
    """Report the samples that datasets with ``on_bad_record='skip'`` left
    out: the records dropped when loading (at the start) and the training
    samples that failed to load and were replaced (per cycle and in total).

    Every single skip is also logged by the dataset itself, with its file and
    reason; this hook adds the per-slot counts.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._reported: Dict[str, int] = {}

    def before_train(self, runner) -> None:
        for name, dataset in _slot_datasets(runner):
            records = getattr(dataset, 'skipped_records', None)
            if records:
                runner.logger.warning(
                    f'BadSampleHook: {name}: {len(records)} bad records '
                    f'were left out when loading (first: {records[0][1]})')
            self._reported[name] = getattr(dataset, 'num_skipped_samples', 0)

    def after_train_epoch(self, runner) -> None:
        self._report(runner, f'cycle {runner.epoch + 1}')

    def after_train(self, runner) -> None:
        counts = {
            name: getattr(dataset, 'num_skipped_samples', 0)
            for name, dataset in _slot_datasets(runner)
        }
        total = sum(counts.values())
        if total:
            runner.logger.warning(
                f'BadSampleHook: {total} training samples failed to load and '
                'were replaced in this run: ' +
                ', '.join(f'{name} {n}' for name, n in counts.items() if n))

    def _report(self, runner, period: str) -> None:
        lines = []
        for name, dataset in _slot_datasets(runner):
            count = getattr(dataset, 'num_skipped_samples', 0)
            new = count - self._reported.get(name, 0)
            self._reported[name] = count
            if new:
                lines.append(f'{name} {new} (total {count})')
        if lines:
            runner.logger.warning(
                f'BadSampleHook: samples skipped in {period}: ' +
                ', '.join(lines))
