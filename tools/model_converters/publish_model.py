# Copyright (c) fx_mm contributors. All rights reserved.
"""Turn an fx_mm training checkpoint into a release file.

Like mmdet's ``publish_model.py``: keeps ``meta`` and ``state_dict`` only
(the optimizer, schedulers, message hub and RNG states go), and appends the
first 8 hex digits of the file's SHA-256 to its name
(``fx_swin-b.pth`` -> ``fx_swin-b-1a2b3c4d.pth``).

Foundation X releases the mean TEACHER. By default the teacher's weights
are written under the student's names (``teacher.X`` -> ``student.X``) and
the student copy is dropped, so that a FoundationX built with
``with_teacher=False`` loads the file strictly (``load_from=...`` in a
finetuning config). ``--net-only`` writes bare FoundationXNet keys instead
(no ``student.`` prefix, no data preprocessor). ``--keep-student`` keeps
both networks under their training names, for a FoundationX WITH teacher
(predict_on='teacher' then gives the released model). ``meta`` records
which network the file holds (``fx_mm_publish.weights``): the inferencer's
predictions name it as their ``model_key``.

Examples::

    python tools/model_converters/publish_model.py \\
        work_dirs/fx/cycle_32.pth releases/fx_swin-b.pth
    python tools/model_converters/publish_model.py IN OUT --net-only
"""
import argparse
import hashlib
import os
import os.path as osp
from collections import OrderedDict
from typing import Mapping, Optional, Sequence

import torch

from fx_mm.utils import load_fx_checkpoint
from fx_mm.utils.checkpoint import PUBLISH_META_KEY

# training state that a release does not need
_META_DROPPED = ('rng_states', 'message_hub', 'optimizer')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Publish the teacher of an fx_mm checkpoint')
    parser.add_argument('in_file', help='training checkpoint')
    parser.add_argument(
        'out_file',
        help='output file name (the hash is '
        'added before the extension)')
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--keep-student',
        action='store_true',
        help='keep student.* and teacher.* as trained (for a FoundationX '
        'with teacher)')
    group.add_argument(
        '--net-only',
        action='store_true',
        help='bare FoundationXNet keys (no "student." prefix)')
    parser.add_argument(
        '--weights',
        choices=['teacher', 'student'],
        default='teacher',
        help='network to publish when not --keep-student. Defaults to '
        'teacher')
    parser.add_argument(
        '--allow-unsafe-pickle',
        action='store_true',
        help='unpickle arbitrary objects (trusted files only)')
    return parser.parse_args(argv)


def release_state_dict(state_dict: Mapping,
                       weights: str = 'teacher',
                       keep_student: bool = False,
                       net_only: bool = False,
                       source: str = 'checkpoint') -> 'OrderedDict':
    """The published ``state_dict`` of a FoundationX training state dict.

    Args:
        state_dict (Mapping): ``student.*``, ``teacher.*`` (and possibly
            ``data_preprocessor.*``) keys.
        weights (str): Network to publish, ``'teacher'`` or ``'student'``.
        keep_student (bool): Keep everything as trained.
        net_only (bool): Bare FoundationXNet keys.
        source (str): Name for messages.

    Returns:
        OrderedDict: The renamed tensors.
    """
    if keep_student:
        return OrderedDict(state_dict)
    prefix = f'{weights}.'
    if not any(k.startswith(prefix) for k in state_dict):
        hint = (' (trained with with_teacher=False? publish the student with '
                '--weights student)' if weights == 'teacher' else '')
        raise KeyError(f'{source}: no {prefix}* weights in the state dict'
                       f'{hint}; first keys: {list(state_dict)[:5]}')
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(prefix):
            name = key[len(prefix):]
            out[name if net_only else f'student.{name}'] = value
        elif key.startswith(('student.', 'teacher.')):
            continue  # the other network
        elif not net_only:
            out[key] = value  # e.g. data_preprocessor buffers
    return out


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def publish(in_file: str,
            out_file: str,
            weights: str = 'teacher',
            keep_student: bool = False,
            net_only: bool = False,
            allow_unsafe_pickle: bool = False) -> str:
    """Write the release file; returns its final (hashed) path."""
    checkpoint = load_fx_checkpoint(
        in_file, map_location='cpu', allow_unsafe_pickle=allow_unsafe_pickle)
    if not isinstance(checkpoint, Mapping) or 'state_dict' not in checkpoint:
        raise KeyError(f'{in_file}: not an mmengine checkpoint (no '
                       "'state_dict' entry)")
    state_dict = release_state_dict(
        checkpoint['state_dict'],
        weights=weights,
        keep_student=keep_student,
        net_only=net_only,
        source=in_file)
    meta = {
        k: v
        for k, v in dict(checkpoint.get('meta') or {}).items()
        if k not in _META_DROPPED
    }
    # what the file holds: FXInferencer reports `weights` as the model_key
    # of its predictions (fx_mm.utils.checkpoint.published_network)
    meta[PUBLISH_META_KEY] = dict(
        source=osp.basename(in_file),
        weights='student+teacher' if keep_student else weights,
        layout='FoundationXNet' if net_only else 'FoundationX')
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state_dict), out_file)
    stem, ext = osp.splitext(out_file)
    final = f'{stem}-{_sha256(out_file)[:8]}{ext or ".pth"}'
    os.replace(out_file, final)
    return final


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    final = publish(
        args.in_file,
        args.out_file,
        weights=args.weights,
        keep_student=args.keep_student,
        net_only=args.net_only,
        allow_unsafe_pickle=args.allow_unsafe_pickle)
    print(final)
    return final


if __name__ == '__main__':
    main()
