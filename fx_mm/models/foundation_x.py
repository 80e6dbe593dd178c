# Copyright (c) fx_mm contributors. All rights reserved.
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, BaseModule
from torch import Tensor

from fx_mm.registry import MODELS
from fx_mm.structures import TASK_BRANCHES
from .batch_routing import sample_route
from .task_branches.builder import build_in_scope


@MODELS.register_module()
class FoundationXNet(BaseModule):
    """One backbone shared by a classification, a localization and a
    segmentation branch, each with one head per dataset.

    Args:
        backbone (dict): Any registered backbone returning a tuple of
            multi-scale features, e.g. ``mmdet.SwinTransformer`` with
            ``out_indices=(0, 1, 2, 3)``.
        cls_branch, loc_branch, seg_branch (dict, optional): Branch configs
            (:class:`MultiDatasetClsBranch`, :class:`MultiDatasetDINO`,
            :class:`MultiDatasetUPerHead`); a missing branch means no such
            task.
    """

    def __init__(self,
                 backbone: dict,
                 cls_branch: Optional[dict] = None,
                 loc_branch: Optional[dict] = None,
                 seg_branch: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = build_in_scope(backbone, 'mmdet')
        for task, attr in TASK_BRANCHES.items():
            cfg = dict(cls=cls_branch, loc=loc_branch, seg=seg_branch)[task]
            setattr(self, attr,
                    None if cfg is None else build_in_scope(cfg, 'fx_mm'))

    def branch(self, task: str) -> nn.Module:
        if task not in TASK_BRANCHES:
            raise ValueError(f'unknown task {task!r}; expected one of '
                             f'{list(TASK_BRANCHES)}')
        branch = getattr(self, TASK_BRANCHES[task])
        if branch is None:
            raise ValueError(f'the model has no {task} branch '
                             f'({TASK_BRANCHES[task]} is not configured)')
        return branch

    def heads(self) -> Dict[str, List[str]]:
        """``{task: [dataset, ...]}`` of the configured heads."""
        return {
            task: list(getattr(self, attr).datasets)
            for task, attr in TASK_BRANCHES.items()
            if getattr(self, attr) is not None
        }

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor]:
        """(B, 3, H, W) -> backbone features, one (B, C_i, H_i, W_i) per
        stage."""
        return tuple(self.backbone(inputs))

    def loss(self, inputs: Tensor, data_samples: list, dataset: str,
             task: str) -> Tuple[dict, dict]:
        """Task losses and the student's consistency features."""
        feats = self.extract_feat(inputs)
        return self.branch(task).loss(feats, data_samples, dataset)

    def predict(self, inputs: Tensor, data_samples: list, dataset: str,
                task: str) -> list:
        feats = self.extract_feat(inputs)
        return self.branch(task).predict(feats, data_samples, dataset)

    def consistency_features(self, inputs: Tensor, data_samples: list,
                             dataset: str, task: str) -> dict:
        feats = self.extract_feat(inputs)
        return self.branch(task).consistency_features(feats, data_samples,
                                                      dataset)


def _l2_normalise(feature: Tensor) -> Tensor:
    """Normalise a (B, C, ...) map along channels."""
    return F.normalize(feature, dim=1)


@MODELS.register_module()
class FoundationX(BaseModel):
    """Foundation X: the multi-task student and its mean teacher.

    ``student`` and ``teacher`` are two :class:`FoundationXNet` of the same
    config; the teacher is an exponential moving average of the student
    (updated by :class:`~fx_mm.engine.MeanTeacherHook`), never trained by the
    optimizer, always in eval mode. Holding both in the model gives
    checkpointing, device placement and DDP wrapping for free; the released
    weights are the teacher's.

    Each batch belongs to ONE (dataset, task), read from the data samples'
    metainfo; only the backbone and that task's branch and dataset head run.

    Loss = ``task_weight`` * task loss + ``consistency_weight`` * MSE between
    student features and stop-gradient teacher features (paper: 0.5 / 0.5):
    cls on the pooled feature; seg on the L2-normalised PSP output and fused
    map; loc on the encoder memory and the decoder's matching-query states.
    The loc term carries gradients to the student (the research code computes
    it on a deep copy, so it never trains anything).

    Args:
        backbone, cls_branch, loc_branch, seg_branch: see
            :class:`FoundationXNet`.
        data_preprocessor (dict): Defaults to
            :class:`MultiTaskDataPreprocessor`.
        with_teacher (bool): Build the mean teacher. Defaults to True.
        task_weight (float): Weight of the task loss. Defaults to 1.0.
        consistency_weight (float): Weight of the consistency loss; 0
            disables it. Defaults to 0.
        predict_on (str): ``'teacher'`` or ``'student'``: which network
            ``predict`` uses. Defaults to ``'teacher'`` when a teacher exists.
        frozen_modules (Sequence[str]): Student submodules frozen for the
            whole run (e.g. ``('backbone', 'seg_branch.shared')`` to
            finetune only a head; ``'<branch>.shared'`` is the part of a
            task branch that its datasets share): ``requires_grad=False``
            from the start and kept in eval mode (BatchNorm statistics and
            dropout fixed) by :meth:`train`. The optimizer constructor
            leaves them out. Defaults to ``()``.
    """

    def __init__(self,
                 backbone: dict,
                 cls_branch: Optional[dict] = None,
                 loc_branch: Optional[dict] = None,
                 seg_branch: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 with_teacher: bool = True,
                 task_weight: float = 1.0,
                 consistency_weight: float = 0.0,
                 predict_on: Optional[str] = None,
                 frozen_modules: Sequence[str] = (),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='MultiTaskDataPreprocessor')
        super().__init__(
            data_preprocessor=build_in_scope(data_preprocessor, 'fx_mm'),
            init_cfg=init_cfg)
        net_cfg = dict(
            backbone=backbone,
            cls_branch=cls_branch,
            loc_branch=loc_branch,
            seg_branch=seg_branch)
        self.student = FoundationXNet(**copy.deepcopy(net_cfg))
        self.teacher = None
        if with_teacher:
            self.teacher = FoundationXNet(**copy.deepcopy(net_cfg))
            self.teacher.requires_grad_(False)
        if consistency_weight > 0 and not with_teacher:
            raise ValueError('consistency_weight > 0 needs with_teacher=True')
        self.task_weight = task_weight
        self.consistency_weight = consistency_weight
        self.predict_on = predict_on or ('teacher'
                                         if with_teacher else 'student')
        self.frozen_modules = self._freeze(frozen_modules)

    def _frozen_part(self, name: str) -> Tuple[List[nn.Module], list]:
        """(modules, parameters) that ``frozen_modules`` entry ``name``
        names: a student submodule, or ``'<branch>.shared'`` for the part
        of a task branch that its datasets share (the branch says which)."""
        branch_name, _, rest = name.partition('.')
        if rest == 'shared' and branch_name in TASK_BRANCHES.values():
            branch = getattr(self.student, branch_name)
            if branch is None:
                raise ValueError(f'frozen_modules: {name!r}, but the model '
                                 f'has no {branch_name}')
            return branch.shared_modules(), branch.shared_parameters()
        try:
            module = self.student.get_submodule(name)
        except AttributeError:
            children = [n for n, _ in self.student.named_children()]
            raise ValueError(
                f'frozen_modules: the student has no submodule {name!r} '
                f'(top-level: {children}; a branch\'s shared part: '
                '"<branch>.shared")') from None
        return [module], list(module.parameters())

    def frozen_parameters(self) -> List[nn.Parameter]:
        """The student parameters that ``frozen_modules`` keeps frozen."""
        return [
            param for name in self.frozen_modules
            for param in self._frozen_part(name)[1]
        ]

    def _freeze(self, names: Sequence[str]) -> Tuple[str, ...]:
        """Check and freeze the student parts ``names``."""
        if isinstance(names, str):
            names = (names, )
        for name in names:
            for param in self._frozen_part(name)[1]:
                param.requires_grad_(False)
        return tuple(names)

    # ------------------------------------------------------------------
    def init_weights(self) -> None:
        """Initialise the student, then copy it into the teacher."""
        self.student.init_weights()
        if self.teacher is not None:
            self.teacher.load_state_dict(self.student.state_dict())
        self._is_init = True

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """A released checkpoint (``publish_model.py``) holds one network
        under ``student.``; loading it into a model with a teacher fills
        the teacher with the same weights instead of leaving it at its
        initialisation."""
        if self.teacher is not None and not any(
                key.startswith(prefix + 'teacher.') for key in state_dict):
            student_prefix = prefix + 'student.'
            for key in [k for k in state_dict if k.startswith(student_prefix)]:
                state_dict[prefix + 'teacher.' +
                           key[len(student_prefix):]] = state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def train(self, mode: bool = True) -> 'FoundationX':
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        for name in self.frozen_modules:
            for module in self._frozen_part(name)[0]:
                module.eval()
        return self

    @property
    def predict_on(self) -> str:
        return self._predict_on

    @predict_on.setter
    def predict_on(self, value: str) -> None:
        if value not in ('teacher', 'student'):
            raise ValueError(f'predict_on must be "teacher" or "student", '
                             f'got {value!r}')
        if value == 'teacher' and self.teacher is None:
            raise ValueError('predict_on="teacher" but the model was built '
                             'with with_teacher=False')
        self._predict_on = value

    @property
    def predictor(self) -> FoundationXNet:
        return self.teacher if self.predict_on == 'teacher' else self.student

    # ------------------------------------------------------------------
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        dataset, task = sample_route(data_samples)
        task_losses, student_feats = self.student.loss(inputs, data_samples,
                                                       dataset, task)
        losses = {
            name: value * self.task_weight if 'loss' in name else value
            for name, value in task_losses.items()
        }
        if self.consistency_weight > 0:
            with torch.no_grad():
                teacher_feats = self.teacher.consistency_features(
                    inputs, data_samples, dataset, task)
            losses['loss_consistency'] = self.consistency_weight * \
                self.consistency_loss(student_feats, teacher_feats, task)
        return losses

    @staticmethod
    def consistency_loss(student_feats: Dict[str, Tensor],
                         teacher_feats: Dict[str,
                                             Tensor], task: str) -> Tensor:
        """Mean over feature kinds of the MSE to the teacher's features."""
        terms = []
        for key, student_feat in student_feats.items():
            teacher_feat = teacher_feats[key].detach()
            if task == 'seg':
                student_feat = _l2_normalise(student_feat)
                teacher_feat = _l2_normalise(teacher_feat)
            terms.append(F.mse_loss(student_feat, teacher_feat))
        return torch.stack(terms).mean()

    def predict(self, inputs: Tensor, data_samples: list) -> list:
        dataset, task = sample_route(data_samples)
        return self.predictor.predict(inputs, data_samples, dataset, task)

    def _forward(self, inputs: Tensor, data_samples: Optional[list] = None):
        """Backbone features of the predicting network (``tensor`` mode)."""
        return self.predictor.extract_feat(inputs)

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor]:
        return self.student.extract_feat(inputs)
