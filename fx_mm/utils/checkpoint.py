# Copyright (c) fx_mm contributors. All rights reserved.
"""Checkpoint loading that works on torch >= 2.6 without unsafe defaults.

Why this exists: torch 2.6 changed ``torch.load``'s default to
``weights_only=True``. mmengine 0.10.7 calls ``torch.load(path)`` for local
files, and its own training checkpoints hold more than tensors (the message
hub's ``HistoryBuffer`` objects, numpy arrays and scalars in the meta, the
numpy RNG state fx_mm saves for exact resume), so resume and ``load_from``
fail with an ``UnpicklingError``. The fix on mmengine's main branch is not
released.

fx_mm keeps ``weights_only=True`` and allow-lists exactly the types that
mmengine's and fx_mm's checkpoints contain. Anything else is refused with a
message naming the file and the offending type; loading an untrusted pickle
requires the explicit ``allow_unsafe_pickle=True`` argument. Users never have
to set an environment variable.
"""
import os.path as osp
import pickle
from typing import Any, Callable, List, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader


def _numpy_safe_globals() -> List[Any]:
    """numpy objects that a pickled array, dtype or scalar references."""
    core = getattr(np, '_core', None) or np.core
    safe = [
        np.ndarray, np.dtype, core.multiarray._reconstruct,
        core.multiarray.scalar
    ]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType')
        ]
    return safe


_HISTORY_BUFFER_METHODS = frozenset(('min', 'max', 'current', 'mean'))


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to what a pickled ``HistoryBuffer`` asks for.

    mmengine's ``HistoryBuffer`` pickles its statistics methods as
    ``builtins.getattr(HistoryBuffer, 'min')``; plain ``getattr`` in the
    allow-list would let a malicious file reach any attribute.
    """
    allowed = _HISTORY_BUFFER_METHODS.union(
        getattr(HistoryBuffer, '_statistics_methods', {}))
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def checkpoint_safe_globals() -> List[Any]:
    """The allow-list of non-tensor types in fx_mm / mmengine checkpoints."""
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')
            ] + _numpy_safe_globals()


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds a type outside fx_mm's allow-list."""


def load_fx_checkpoint(filename: str,
                       map_location: Optional[Any] = 'cpu',
                       allow_unsafe_pickle: bool = False) -> Any:
    """Load a checkpoint file with ``weights_only=True`` and an allow-list.

    Args:
        filename (str): Local path of the checkpoint.
        map_location: Passed to :func:`torch.load`. Defaults to ``'cpu'``.
        allow_unsafe_pickle (bool): Load with ``weights_only=False`` (runs
            arbitrary pickled code: only for files you trust).
            Defaults to False.

    Returns:
        The unpickled object (usually a dict with ``state_dict``).

    Raises:
        FileNotFoundError: The file does not exist.
        UnsafeCheckpointError: The file holds types outside the allow-list.
        RuntimeError: The file is not a readable torch checkpoint
            (truncated, or not a checkpoint at all).
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    if allow_unsafe_pickle:
        return torch.load(
            filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if 'weights_only' in str(err) or 'global' in str(err).lower():
            raise UnsafeCheckpointError(
                f'{filename}: the checkpoint contains objects outside the '
                'types fx_mm allows when loading (tensors, numpy arrays, '
                "mmengine's HistoryBuffer). If you trust this file, load it "
                'with load_fx_checkpoint(..., allow_unsafe_pickle=True). '
                f'torch said: {str(err).splitlines()[0]}') from err
        raise RuntimeError(
            f'{filename}: not a readable checkpoint ({err})') from err
    except (RuntimeError, EOFError, OSError) as err:
        raise RuntimeError(
            f'{filename}: not a readable checkpoint (truncated or not a '
            f'torch file): {err}') from err


def _load_from_local(filename: str, map_location: Any) -> Any:
    """mmengine's local-file scheme, served by :func:`load_fx_checkpoint`."""
    filename = osp.expanduser(filename)
    return load_fx_checkpoint(filename, map_location=map_location)


_PATCHED: List[Callable] = []


def patch_mmengine_checkpoint_loading() -> None:
    """Route mmengine's local checkpoint loading through fx_mm's loader.

    Replaces the loader of the ``''`` (local path) scheme of
    :class:`mmengine.runner.CheckpointLoader`, which ``Runner.resume``,
    ``Runner.load_checkpoint`` and ``load_from`` all use. Idempotent.
    """
    if _PATCHED:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_from_local, force=True)
    _PATCHED.append(_load_from_local)
    print_log(
        'fx_mm: local checkpoints load with weights_only=True and an '
        'allow-list (torch >= 2.6 compatible)',
        logger='current',
        level=10)
