# Copyright (c) fx_mm contributors. All rights reserved.
"""``init_cfg=dict(type='Pretrained', ...)`` through fx_mm's safe loader.

mmengine's ``PretrainedInit`` reads the checkpoint with mmengine's
``CheckpointLoader``, which fetches ``http(s)://`` checkpoints through
``torch.hub`` and unpickles them with ``weights_only=False`` (a payload in
the file runs). fx_mm registers its own ``Pretrained`` initializer in its
``WEIGHT_INITIALIZERS`` registry, so that with ``default_scope='fx_mm'``
(every fx_mm config) any module's ``Pretrained`` init config -- the
segmentation, localization and classification branches, mmdet / mmseg /
mmpretrain parts, the whole model -- reads its file with
:func:`fx_mm.utils.checkpoint.load_checkpoint_file`: local files only,
``weights_only=True`` with fx_mm's allow-list. The arguments and the result
are those of mmengine's ``Pretrained``. (mmdet's Swin backbone has its own
loader, :mod:`fx_mm.models.backbones.swin_pretrained`, which reads the file the
same way.)
"""
from collections.abc import Mapping

from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.runner.checkpoint import (_load_checkpoint_to_model,
                                        load_state_dict)

from fx_mm.registry import WEIGHT_INITIALIZERS
from fx_mm.utils.checkpoint import check_local_checkpoint, load_checkpoint_file


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class FXPretrainedInit(PretrainedInit):
    """mmengine's ``Pretrained`` initializer reading local files safely.

    Args:
        checkpoint (str): Local path of the checkpoint (a URL is refused
            with :class:`fx_mm.utils.checkpoint.RemoteCheckpointError`
            before anything is fetched).
        prefix (str, optional): Load only the keys under this prefix (e.g.
            ``'teacher.seg_branch.'``), with the prefix stripped.
        map_location (str): Passed to ``torch.load``. Defaults to ``'cpu'``.
    """

    def __init__(self, checkpoint, prefix=None, map_location='cpu') -> None:
        super().__init__(
            check_local_checkpoint(checkpoint),
            prefix=prefix,
            map_location=map_location)

    def __call__(self, module) -> None:
        checkpoint = load_checkpoint_file(
            self.checkpoint, map_location=self.map_location)
        if not isinstance(checkpoint, Mapping):
            raise TypeError(f'{self.checkpoint}: expected a checkpoint dict, '
                            f'got {type(checkpoint).__name__}')
        if self.prefix is None:
            print_log(f'load model from: {self.checkpoint}', logger='current')
            _load_checkpoint_to_model(
                module, checkpoint, strict=False, logger='current')
        else:
            print_log(
                f'load {self.prefix} in model from: {self.checkpoint}',
                logger='current')
            load_state_dict(
                module,
                self._select_prefix(checkpoint),
                strict=False,
                logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _select_prefix(self, checkpoint: Mapping) -> dict:
        state_dict = checkpoint.get('state_dict', checkpoint)
        prefix = self.prefix if self.prefix.endswith('.') else \
            self.prefix + '.'
        selected = {
            key[len(prefix):]: value
            for key, value in state_dict.items() if key.startswith(prefix)
        }
        if not selected:
            raise KeyError(
                f'{self.checkpoint}: no key starts with {prefix!r} (its first '
                f'keys: {list(state_dict)[:5]})')
        return selected
