# Copyright (c) fx_mm contributors. All rights reserved.
"""Distributed launch on machines without a GPU (gloo)."""
import datetime

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from torch.nn.parallel import DistributedDataParallel

from fx_mm.registry import MODEL_WRAPPERS


def accelerator_available() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` can be built here."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Start a ``--launcher pytorch`` job on a machine without a GPU.

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` and
    wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail
    without a GPU. Here the process group is initialised with the config's
    ``env_cfg.dist_cfg`` (the Runner then skips its own initialisation) and
    DDP is told to wrap a CPU module (``device_ids=None``).
    """
    if launcher != 'pytorch' or accelerator_available():
        return
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'nccl')
    if backend != 'gloo':
        raise RuntimeError(
            'no GPU is visible, so distributed runs need the gloo backend, '
            f'but the config uses {backend!r}: set env_cfg = '
            "dict(dist_cfg=dict(backend='gloo')) or pass --cfg-options "
            'env_cfg.dist_cfg.backend=gloo')
    if 'timeout' in dist_cfg:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo', **dist_cfg)

    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:  # mmengine's default wrapper, for a CPU module
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        return
    wrapper_cls = MODEL_WRAPPERS.get(
        wrapper.get('type', 'MMDistributedDataParallel'))
    if isinstance(wrapper_cls, type) and issubclass(wrapper_cls,
                                                    DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
