# Copyright (c) fx_mm contributors. All rights reserved.
"""The network of a Foundation X model that predicts for
:class:`~fx_mm.apis.FXInferencer`: the config's model built, the teacher
or the student chosen, the checkpoint loaded into it."""
import copy
import warnings
from typing import Any, Dict, Optional, Tuple

import torch.nn as nn
from mmengine.config import Config

from fx_mm.registry import MODELS
from fx_mm.utils.checkpoint import (CheckpointMismatchError,
                                    check_checkpoint_matches,
                                    load_fx_checkpoint, published_network)
from fx_mm.utils.logging import init_info_at_debug


def build_model(
        cfg: Config,
        weights: Optional[str],
        requested: Optional[str] = None,
        allow_unsafe_pickle: bool = False) -> Tuple[nn.Module, str, str]:
    """Build the config's FoundationX model and load ``weights``.

    Args:
        cfg (Config): The training / test config (its ``model``).
        weights (str, optional): A local checkpoint, loaded through
            :func:`fx_mm.utils.load_fx_checkpoint`; None keeps randomly
            initialised weights (with a warning).
        requested (str, optional): The ``model_key`` asked for.
        allow_unsafe_pickle (bool): Load a checkpoint holding arbitrary
            pickled objects. Defaults to False.

    Returns:
        tuple[nn.Module, str, str]: The model (on CPU, ``predict_on`` set),
        ``model_key`` and ``predict_on`` (see :func:`load_weights`).
    """
    if 'model' not in cfg:
        raise ValueError('FXInferencer: the config has no `model`')
    model = MODELS.build(copy.deepcopy(cfg.model))
    if not hasattr(model, 'student'):
        raise TypeError(
            f'FXInferencer runs fx_mm FoundationX models; the config '
            f'builds {type(model).__name__}')
    if weights is None:
        warnings.warn('FXInferencer: no checkpoint given; predictions '
                      'come from randomly initialised weights')
        with init_info_at_debug():  # mmengine logs every initialised weight
            model.init_weights()
        model_key = predict_on = resolve_model_key(model, requested)
    else:
        checkpoint = load_fx_checkpoint(
            weights,
            map_location='cpu',
            allow_unsafe_pickle=allow_unsafe_pickle)
        model_key, predict_on = load_weights(model, checkpoint, weights,
                                             requested)
    model.predict_on = predict_on
    return model, model_key, predict_on


def resolve_model_key(model: nn.Module,
                      requested: Optional[str],
                      has: Optional[Dict[str, bool]] = None,
                      path: Optional[str] = None) -> str:
    """The network that predicts: ``requested``, else the teacher when the
    model (and the checkpoint) have one, else the student.

    Args:
        model (nn.Module): The built FoundationX model.
        requested (str, optional): ``'teacher'``, ``'student'`` or None.
        has (dict, optional): ``{'student': bool, 'teacher': bool}``:
            whether the checkpoint holds ``<network>.*`` keys; None without
            a checkpoint (or for the weights of one bare network).
        path (str, optional): The checkpoint, named in errors.

    Returns:
        str: ``'teacher'`` or ``'student'``.
    """
    key = requested
    has_teacher = model.teacher is not None
    if key == 'teacher' and not has_teacher:
        raise ValueError(
            "model_key='teacher' but the config builds no teacher "
            '(model.with_teacher=False); use model_key="student"')
    if key is None:
        key = 'teacher' if has_teacher else 'student'
        if has and has['student'] and not has['teacher']:
            key = 'student'
    if has and (has['student'] or has['teacher']) and not has[key]:
        raise ValueError(f'{path}: the checkpoint has no {key} weights '
                         f'(no "{key}." keys); choose the other model_key')
    return key


def load_weights(model: nn.Module, checkpoint: Any, path: str,
                 requested: Optional[str]) -> Tuple[str, str]:
    """Load a checkpoint into the network that predicts.

    A training checkpoint holds ``student.*`` and ``teacher.*`` weights
    and is loaded whole (only the predicting network must be complete); a
    checkpoint of one network (``backbone.*``, ``cls_branch.*`` ...) is
    loaded into the network ``requested`` picks. A release of
    ``tools/model_converters/publish_model.py`` names its network in its
    ``meta`` and is stored in the student's place.

    Args:
        model (nn.Module): The built FoundationX model.
        checkpoint (Any): The loaded checkpoint (a dict with a
            ``state_dict`` or a state dict).
        path (str): The checkpoint file, named in errors.
        requested (str, optional): The ``model_key`` asked for.

    Returns:
        tuple[str, str]: ``(model_key, predict_on)``: the network whose
        weights predict (what predictions report) and the network of
        ``model`` that holds them.
    """
    state = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f'{path}: no state_dict in the checkpoint')
    state = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state.items()
    }
    has = {
        net: any(k.startswith(f'{net}.') for k in state)
        for net in ('student', 'teacher')
    }
    published = published_network(checkpoint)
    if published is None:
        model_key = key = resolve_model_key(model, requested, has, path)
    else:
        if requested not in (None, published):
            raise ValueError(f'{path}: a publish_model.py release of the '
                             f'{published}\'s weights only; model_key='
                             f'{requested!r} is not in it')
        # a release keeps its one network in the student's place
        model_key, key = published, 'student'
    if has['student'] or has['teacher']:
        target, target_state = model, state
    else:  # the weights of one network
        target = getattr(model, key)
        target_state = {
            k: v
            for k, v in state.items() if not k.startswith('data_preprocessor.')
        }
    try:  # raises on shape mismatches
        found = check_checkpoint_matches(target, target_state, strict=False)
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(
            str(err).replace('<checkpoint>', str(path))) from err
    missing, unexpected = found['missing'], found['unexpected']
    if target is model:  # only the predicting network must be complete
        missing = [
            k for k in missing
            if k.startswith(f'{key}.') or not k.startswith(('student.',
                                                            'teacher.'))
        ]
        unexpected = [k for k in unexpected if k.startswith(f'{key}.')]
    if missing or unexpected:
        raise CheckpointMismatchError(
            f'{path}: the checkpoint does not fit the config\'s {key}: '
            f'{len(missing)} missing weights {missing[:3]}, '
            f'{len(unexpected)} unexpected weights {unexpected[:3]}')
    target.load_state_dict(target_state, strict=False)
    return model_key, key
