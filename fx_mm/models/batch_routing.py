# Copyright (c) fx_mm contributors. All rights reserved.
"""Which head a batch goes to: the (dataset, task) its data samples carry
(set by :class:`~fx_mm.datasets.transforms.PackFXInputs`)."""


def sample_route(data_samples) -> tuple:
    """(dataset, task) of a batch; all its samples must share them."""
    if not data_samples:
        raise ValueError('fx_mm: a batch without data samples cannot be '
                         'routed to a task head')
    routes = {(s.metainfo.get('dataset'), s.metainfo.get('task'))
              for s in data_samples}
    if len(routes) != 1:
        raise ValueError(
            f'fx_mm: one batch must hold ONE (dataset, task), got {routes}; '
            'each slot needs its own dataloader')
    dataset, task = routes.pop()
    if dataset is None or task is None:
        raise ValueError('fx_mm: data samples lack "dataset"/"task" in '
                         'their metainfo (use PackFXInputs)')
    return dataset, task
