# Copyright (c) fx_mm contributors. All rights reserved.
from typing import Callable, Union

from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from fx_mm.registry import RUNNERS
from fx_mm.utils.checkpoint import load_checkpoint_file
from fx_mm.utils.model_wrappers import unwrap_model


@RUNNERS.register_module()
class FXRunner(Runner):
    """mmengine's ``Runner`` reading checkpoints with fx_mm's safe loader.

    ``load_from``, ``resume`` / ``--resume`` and ``tools/test.py``'s
    checkpoint all go through :meth:`load_checkpoint`, which reads the file
    with :func:`fx_mm.utils.checkpoint.load_checkpoint_file` instead of
    mmengine's ``CheckpointLoader``: local files only (a URL or remote path
    is refused before anything is fetched), ``weights_only=True`` with
    fx_mm's allow-list (``FX_MM_ALLOW_UNSAFE_PICKLE=1`` to load a local file
    you trust that holds other objects). Everything else is mmengine's.

    Selected by ``runner_type = 'FXRunner'`` (``configs/_base_/
    default_runtime.py``); ``tools/train.py`` and ``tools/test.py`` use it
    for configs that name no runner.
    """

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:
        checkpoint = load_checkpoint_file(filename, map_location=map_location)
        # the same steps as mmengine's Runner.load_checkpoint from here on
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = unwrap_model(self.model)
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


def build_runner(cfg) -> Runner:
    """The config's runner: ``runner_type`` if it names one, else
    :class:`FXRunner` (what ``tools/train.py`` / ``tools/test.py`` run)."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return FXRunner.from_cfg(cfg)
