# Copyright (c) fx_mm contributors. All rights reserved.
import torch.nn as nn
from mmdet.models.backbones import SwinTransformer

from fx_mm.registry import MODELS
from .swin_pretrained import (PRETRAINED_TYPES, FXPretrainedSwin,
                              init_swin_from_scratch)


@MODELS.register_module()
class FXSwinTransformer(SwinTransformer):
    """mmdet's Swin Transformer as fx_mm needs it.

    - ``init_cfg=dict(type='Pretrained' | 'FXPretrainedSwin', ...)`` loads
      a LOCAL checkpoint of any common Swin naming with a report
      (:func:`~fx_mm.models.backbones.swin_pretrained.load_pretrained_swin`);
      other init types go to mmdet's method;
    - ``out_norms=False`` returns un-normalised stages: the research
      Foundation X normalises the stage outputs per task (one LayerNorm set
      for classification, one for localization, none for segmentation),
      so each branch owns its input norms (``in_norm`` / ``in_norms``).

    mmdet's Swin itself is left as it is for any other code in the process.

    Args:
        out_norms (bool): Apply the ``norm{i}`` LayerNorm to each output as
            mmdet does. False: the outputs are the stages' raw tokens, and
            the model has no ``norm{i}``. Defaults to True.
        **kwargs: :class:`mmdet.models.backbones.SwinTransformer`
            arguments.
    """

    def __init__(self, out_norms: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.out_norms = out_norms
        if not out_norms:
            for i in self.out_indices:
                setattr(self, f'norm{i}', nn.Identity())

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if not (isinstance(cfg, dict)
                and cfg.get('type') in PRETRAINED_TYPES):
            return super().init_weights()
        args = dict(cfg)
        args.pop('type')
        if 'checkpoint' not in args:
            raise KeyError(f'{type(self).__name__}.init_cfg={cfg} has no '
                           '"checkpoint" (a local file path)')
        initializer = FXPretrainedSwin(**args)
        init_swin_from_scratch(self)
        initializer(self)
