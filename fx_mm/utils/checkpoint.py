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
requires the explicit ``allow_unsafe_pickle=True`` argument (or, for the
paths mmengine loads itself -- ``load_from``, ``--resume``, ``Pretrained``
init configs -- the opt-in environment variable
``FX_MM_ALLOW_UNSAFE_PICKLE=1``). fx_mm's own checkpoints never need either.

Remote checkpoints (``http(s)://``, ``s3://``, ``open-mmlab://``, ...) are
refused before anything is fetched (:func:`check_local_checkpoint`): fx_mm
never downloads at run time, and mmengine's URL loader unpickles with
``weights_only=False``. :func:`load_checkpoint_file` is the one loader
behind every way a checkpoint enters fx_mm: ``load_from`` / ``--resume`` /
``tools/test.py`` (:class:`fx_mm.engine.FXRunner`), ``Pretrained`` init
configs (:class:`fx_mm.models.utils.FXPretrainedInit`), the backbone's
pretrained loading, the inferencer and the tools.

Writing: :class:`AtomicLocalBackend` (mmengine file backend
``'fx_atomic_local'``, used by :class:`SlotCheckpointHook`) writes a
checkpoint to a temporary file in the same folder and renames it over the
target, so a crash mid-write leaves the previous file intact.

:func:`check_checkpoint_matches` compares a checkpoint with a model and lists
missing / unexpected keys and shape mismatches (a checkpoint of another
architecture).
"""
import os
import os.path as osp
import pickle
import re
import tempfile
import zipfile
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer, print_log

from .model_wrappers import unwrap_model

#: Opt-in for loading untrusted pickles through mmengine's loading paths.
UNSAFE_PICKLE_ENV = 'FX_MM_ALLOW_UNSAFE_PICKLE'


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


class RemoteCheckpointError(ValueError):
    """A checkpoint was given as a URL / remote path (fx_mm never
    downloads)."""


# "scheme://" (http, https, s3, open-mmlab, torchvision, ...), also with
# mmengine's "<backend>:s3://" form
_REMOTE = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9+.-]+:)?//')


def check_local_checkpoint(checkpoint: str) -> str:
    """The local path of a checkpoint; refuse anything remote.

    ``file://`` is stripped. A URL or a remote storage path is refused
    before anything is fetched: fx_mm never downloads at run time, and a
    downloaded file would bypass the checks of :func:`load_fx_checkpoint`
    (mmengine and ``torch.hub`` unpickle downloads with
    ``weights_only=False``).

    Raises:
        TypeError: ``checkpoint`` is not a non-empty string.
        RemoteCheckpointError: ``checkpoint`` is a URL / remote path.
    """
    if not isinstance(checkpoint, str) or not checkpoint:
        raise TypeError(f'checkpoint must be a local file path, got '
                        f'{checkpoint!r}')
    if checkpoint.startswith('file://'):
        return checkpoint[len('file://'):]
    if _REMOTE.match(checkpoint):
        raise RemoteCheckpointError(
            f'{checkpoint}: fx_mm loads checkpoints from local files only '
            'and never downloads (a downloaded file would be unpickled '
            'without the safety checks). Download the file yourself and '
            'pass its local path.')
    return checkpoint


def load_fx_checkpoint(filename: str,
                       map_location: Optional[Any] = 'cpu',
                       allow_unsafe_pickle: bool = False) -> Any:
    """Load a checkpoint file with ``weights_only=True`` and an allow-list.

    Args:
        filename (str): Local path of the checkpoint (``file://`` allowed;
            URLs and remote paths are refused).
        map_location: Passed to :func:`torch.load`. Defaults to ``'cpu'``.
        allow_unsafe_pickle (bool): Load with ``weights_only=False`` (runs
            arbitrary pickled code: only for files you trust).
            Defaults to False.

    Returns:
        The unpickled object (usually a dict with ``state_dict``).

    Raises:
        RemoteCheckpointError: ``filename`` is a URL or a remote path.
        FileNotFoundError: The file does not exist.
        UnsafeCheckpointError: The file holds types outside the allow-list.
        RuntimeError: The file is not a readable torch checkpoint
            (truncated, or not a checkpoint at all).
    """
    filename = osp.expanduser(check_local_checkpoint(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    _check_torch_file(filename)
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
                'with load_fx_checkpoint(..., allow_unsafe_pickle=True) (for '
                f'load_from / --resume: set {UNSAFE_PICKLE_ENV}=1). '
                f'torch said: {str(err).splitlines()[0]}') from err
        raise RuntimeError(
            f'{filename}: not a readable checkpoint ({err})') from err
    except Exception as err:  # torch raises many types for a bad file
        raise RuntimeError(
            f'{filename}: not a readable checkpoint (truncated or not a '
            f'torch file): {type(err).__name__}: {err}') from err


def _check_torch_file(filename: str) -> None:
    """Recognise an empty, truncated or non-torch file before unpickling
    (torch's own errors for these are cryptic, e.g. ``KeyError: 101``).

    torch >= 1.6 saves a zip archive (``PK\\x03\\x04`` ... end record); the
    legacy format is a pickle stream (first byte ``\\x80``).
    """
    size = osp.getsize(filename)
    if size == 0:
        raise RuntimeError(
            f'{filename}: not a readable checkpoint: the file is empty')
    with open(filename, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK\x03\x04'):
        if not zipfile.is_zipfile(filename):
            raise RuntimeError(
                f'{filename}: not a readable checkpoint: truncated torch '
                f'zip archive ({size} bytes, no end-of-archive record; was '
                'the save interrupted?)')
        return
    if head[:1] != b'\x80':
        raise RuntimeError(
            f'{filename}: not a readable checkpoint: not a torch file '
            f'(it starts with {head!r})')


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint for mmengine's code paths (``load_from``,
    ``--resume``, ``tools/test.py``, ``Pretrained`` init configs).

    :func:`load_fx_checkpoint` (local files only, ``weights_only=True``
    with fx_mm's allow-list); ``FX_MM_ALLOW_UNSAFE_PICKLE=1`` allows
    arbitrary pickles in local files (files you trust only; fx_mm's own
    checkpoints never need it). URLs are refused either way.
    """
    filename = check_local_checkpoint(filename)
    unsafe = os.environ.get(UNSAFE_PICKLE_ENV, '') not in ('', '0')
    if unsafe:
        print_log(
            f'{UNSAFE_PICKLE_ENV} is set: loading {filename} with '
            'weights_only=False (arbitrary code in the file can run)',
            logger='current',
            level=30)
    return load_fx_checkpoint(
        filename, map_location=map_location, allow_unsafe_pickle=unsafe)


#: ``meta`` entry that ``tools/model_converters/publish_model.py`` writes:
#: ``dict(source=..., weights='teacher' | 'student' | 'student+teacher',
#: layout='FoundationX' | 'FoundationXNet')``.
PUBLISH_META_KEY = 'fx_mm_publish'


def published_network(checkpoint: Any) -> Optional[str]:
    """``'teacher'`` or ``'student'`` when ``checkpoint`` is a release of
    that one network (publish_model.py stores it as ``student.*`` or as
    bare keys, whichever network it was); None for anything else
    (training checkpoints, releases keeping both networks)."""
    if not isinstance(checkpoint, dict):
        return None
    meta = checkpoint.get('meta')
    info = meta.get(PUBLISH_META_KEY) if isinstance(meta, dict) else None
    weights = info.get('weights') if isinstance(info, dict) else None
    return weights if weights in ('teacher', 'student') else None


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model (keys or shapes)."""


def check_checkpoint_matches(model: torch.nn.Module,
                             checkpoint: Union[dict, str],
                             strict: bool = True,
                             max_listed: int = 10) -> Dict[str, list]:
    """Compare a checkpoint's ``state_dict`` with a model's.

    Args:
        model (nn.Module): The model (a wrapper is unwrapped).
        checkpoint (dict | str): A loaded checkpoint (with or without the
            ``state_dict`` level) or a file path.
        strict (bool): Raise when anything differs; otherwise only
            shape mismatches raise (they cannot be loaded at all).
        max_listed (int): Keys listed per kind in the message.

    Returns:
        dict: ``missing`` (in the model, not in the file), ``unexpected``
        (in the file only) and ``shape`` (``(key, file shape, model
        shape)``).

    Raises:
        CheckpointMismatchError: The message names the file, counts each
            kind and lists the first keys (with both shapes).
    """
    filename = checkpoint if isinstance(checkpoint, str) else '<checkpoint>'
    if isinstance(checkpoint, str):
        checkpoint = load_fx_checkpoint(checkpoint)
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'{filename}: not a checkpoint dict (got '
            f'{type(checkpoint).__name__})')
    state = checkpoint.get('state_dict', checkpoint)
    model = unwrap_model(model)
    own = model.state_dict()
    ignore = 'num_batches_tracked'
    found = dict(
        missing=[k for k in own if k not in state and ignore not in k],
        unexpected=[k for k in state if k not in own],
        shape=[(k, tuple(v.shape), tuple(own[k].shape))
               for k, v in state.items() if k in own and hasattr(v, 'shape')
               and tuple(v.shape) != tuple(own[k].shape)])
    if found['shape'] or (strict and
                          (found['missing'] or found['unexpected'])):
        lines = [
            f'{filename}: the checkpoint does not match '
            f'{type(model).__name__} (another architecture or other '
            'heads?)'
        ]
        for kind, label in (('shape', 'shape mismatches (file vs model)'),
                            ('missing', 'keys missing from the file'),
                            ('unexpected', 'keys not in the model')):
            items = found[kind]
            if not items:
                continue
            shown = [f'{k}: {a} vs {b}' for k, a, b in items[:max_listed]
                     ] if kind == 'shape' else items[:max_listed]
            more = len(items) - max_listed
            lines.append(f'  {len(items)} {label}: ' + ', '.join(shown) +
                         (f' ... (+{more} more)' if more > 0 else ''))
        raise CheckpointMismatchError('\n'.join(lines))
    return found


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic writes.

    ``put`` / ``put_text`` write to a hidden temporary file in the target's
    folder, flush it to disk and ``os.replace`` it over the target: readers
    (and a resumed run after a crash) see the old file or the new one,
    never a truncated one.
    """

    def put(self, obj: bytes, filepath) -> None:
        self._atomic_write(bytes(obj), str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        self._atomic_write(obj.encode(encoding), str(filepath))

    @staticmethod
    def _write_file(fileobj, data: bytes) -> None:
        fileobj.write(data)

    def _atomic_write(self, data: bytes, filepath: str) -> None:
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f'.{osp.basename(filepath)}.', suffix='.tmp', dir=folder)
        umask = os.umask(0)
        os.umask(umask)
        try:
            with os.fdopen(fd, 'wb') as f:
                # mkstemp creates 0600; give the file the usual permissions
                os.fchmod(f.fileno(), 0o666 & ~umask)
                self._write_file(f, data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        try:  # make the rename itself durable
            dir_fd = os.open(folder, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


register_backend('fx_atomic_local', AtomicLocalBackend, force=True)
#: ``backend_args`` that select :class:`AtomicLocalBackend`.
ATOMIC_BACKEND_ARGS = dict(backend='fx_atomic_local')
