# Copyright (c) fx_mm contributors. All rights reserved.
"""The interface every multi-dataset task branch offers.

A branch is the part of :class:`~fx_mm.models.FoundationXNet` that turns the
shared backbone features into one task's outputs, with a part shared by all
datasets and one part per dataset. Everything outside the branch (the lock
plan, the slot checks, the inferencer, the parameter statistics) asks the
branch through this interface and never names its attributes, so a new
branch (e.g. the research-compatible ones) plugs in by implementing it.
"""
from typing import Dict, List, Sequence, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor


def image_extent(metainfo: dict) -> Tuple[int, int]:
    """(H, W) of the network input that the image covers, from the top-left
    corner; the rest is padding, of the batch (data preprocessor) or of a
    letterbox pipeline (``mmdet.Resize(keep_ratio=True)`` + ``FXPad``,
    which reports the padded size as ``img_shape``).

    It is the original size times the resize's ``scale_factor`` (W, H)
    (1 without a resize), at most ``img_shape``: predictions cropped to it
    map back to the original pixels by that scale alone.
    """
    height, width = metainfo['img_shape'][:2]
    ori_shape = metainfo.get('ori_shape')
    if ori_shape is None:
        return int(height), int(width)
    w_scale, h_scale = metainfo.get('scale_factor') or (1.0, 1.0)
    return (min(int(height), int(round(ori_shape[0] * h_scale))),
            min(int(width), int(round(ori_shape[1] * w_scale))))


class MultiDatasetBranch(BaseModule):
    """Base class of fx_mm's task branches.

    Subclasses hold their per-dataset parts in one mmengine ``ModuleDict``
    named by :attr:`dataset_container` (e.g. ``'heads'``) and implement
    :meth:`num_outputs`, :meth:`loss`, :meth:`predict` and
    :meth:`consistency_features`.

    The class only adds methods; it keeps :class:`BaseModule`'s constructor
    so that it can sit next to an OpenMMLab head (``UPerHead``) in a class's
    bases.
    """

    #: the task the branch serves: ``'cls'``, ``'loc'`` or ``'seg'``
    task: str = ''
    #: name of the ``ModuleDict`` that maps a dataset to its own modules
    dataset_container: str = ''

    # ------------------------------------------------------------------
    # structure
    def _dataset_dict(self) -> nn.ModuleDict:
        return getattr(self, self.dataset_container)

    @property
    def datasets(self) -> List[str]:
        """The datasets with a head, in config order."""
        return list(self._dataset_dict().keys())

    def check_dataset(self, dataset: str) -> None:
        """Raise a KeyError naming the known datasets."""
        if dataset not in self._dataset_dict():
            raise KeyError(f'no {self.task} head for dataset {dataset!r}; '
                           f'{self.task} heads: {self.datasets}')

    def dataset_modules(self, dataset: str) -> List[nn.Module]:
        """The modules that belong to ``dataset`` alone (what a lock phase
        of that dataset trains)."""
        self.check_dataset(dataset)
        return [self._dataset_dict()[dataset]]

    def shared_modules(self) -> List[nn.Module]:
        """Child modules shared by every dataset. Parameters held by the
        branch itself (e.g. a level embedding) are shared as well; see
        :meth:`shared_parameters`."""
        own = self._dataset_dict()
        return [
            module for module in self.children()
            if module is not own and any(True for _ in module.parameters())
        ]

    def shared_parameters(self) -> List[nn.Parameter]:
        """Every parameter of the branch that no single dataset owns."""
        owned = {
            id(p)
            for dataset in self.datasets
            for module in self.dataset_modules(dataset)
            for p in module.parameters()
        }
        return [p for p in self.parameters() if id(p) not in owned]

    def num_outputs(self, dataset: str) -> int:
        """Outputs of ``dataset``'s head as the dataset sees them: classes
        (cls, loc) or mask channels (seg)."""
        raise NotImplementedError

    # ------------------------------------------------------------------
    # computation; ``feats`` are the backbone's multi-scale features
    def loss(self, feats: Sequence[Tensor], data_samples: list,
             dataset: str) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        """(task losses, the student's consistency features)."""
        raise NotImplementedError

    def predict(self, feats: Sequence[Tensor], data_samples: list,
                dataset: str) -> list:
        """Set the task's predictions on the data samples."""
        raise NotImplementedError

    def consistency_features(self, feats: Sequence[Tensor], data_samples,
                             dataset: str) -> Dict[str, Tensor]:
        """The features compared between student and teacher (the same
        keys as the second output of :meth:`loss`)."""
        raise NotImplementedError
