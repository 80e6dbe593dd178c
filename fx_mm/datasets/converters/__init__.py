# Copyright (c) fx_mm contributors. All rights reserved.
"""Convert the public CXR datasets to COCO json, read by the very loaders
that training uses.

For one dataset and one task, the converter builds the registered fx_mm
dataset of every split from the publisher's files, fetches each data info
(``get_data_info``: masks materialised as in training, then stacked by
:class:`LoadCXRAnnotations`) and writes:

- ``<out_dir>/<name>_<task>.json``, a COCO json:

  - ``images``: ``id`` (int, 1..N), ``file_name`` (relative to the data
    root when the image lies below it, else absolute), ``width`` and
    ``height`` (read from the image header, checked against the size the
    annotations state), ``fx_img_id`` (the loader's image id, the key of
    the split lists) and ``fx_split``; cls images also ``fx_labels`` (C
    ints 0/1, after the loader's label policy) and, when some labels are
    unknown, ``fx_label_mask`` (C bools, False = ignored);
  - ``categories``: ``id`` = class index + 1, ``name`` = the task's class;
  - ``annotations``: loc: one per box, ``bbox`` ``[x, y, w, h]`` in
    pixels, ``area`` = w * h, ``iscrowd`` = the loader's ignore flag; seg:
    one per image and non-empty mask channel, ``segmentation`` a compressed
    COCO RLE (counts as text), ``iscrowd`` 1 (COCO's flag for RLE masks),
    ``bbox`` and ``area`` of the mask;
  - ``fx_task`` and ``fx_dataset_name`` (the loader's head key).

- ``<out_dir>/<name>_<task>_<split>.txt``: the ``fx_img_id`` of each image
  of a split, one per line.

:class:`~fx_mm.datasets.CXRCocoDataset` reads the result back. The per-set
command line tools are ``tools/dataset_converters/<name>.py``.

What to read per dataset: :mod:`.specs`; the COCO writer:
:mod:`.coco_writer`; one conversion: :mod:`.conversion`; the command line:
``tools/dataset_converters/converter_cli.py``.
"""
from .coco_writer import CocoTaskWriter
from .conversion import build_native_dataset, convert
from .specs import CONVERTERS, ConverterSpec

__all__ = [
    'CONVERTERS', 'ConverterSpec', 'CocoTaskWriter', 'build_native_dataset',
    'convert'
]
