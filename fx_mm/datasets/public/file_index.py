# Copyright (c) fx_mm contributors. All rights reserved.
"""Finding the image files of a public CXR dataset by name."""
import glob
import os
import os.path as osp
from typing import Dict, Iterator, Sequence

from ..base_cxr import CXRDatasetError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.dcm', '.dicom', '.mha')


class FileIndex:
    """File name -> path over folders given as glob patterns.

    Args:
        root (str): Folder the patterns are relative to.
        patterns (Sequence[str]): Folder patterns, e.g. ``('images',
            'images_*/images')``.
        suffixes (Sequence[str]): File suffixes to index (lower case).
        recursive (bool): Walk sub-folders too (SIIM's nested DICOMs).
        key (str): ``'name'`` (file name) or ``'stem'`` (name without
            suffix).
    """

    def __init__(self,
                 root: str,
                 patterns: Sequence[str],
                 suffixes: Sequence[str] = IMAGE_SUFFIXES,
                 recursive: bool = False,
                 key: str = 'name') -> None:
        self.root = root
        self.patterns = tuple(patterns)
        self.folders = sorted({
            osp.normpath(d)
            for p in self.patterns
            for d in glob.glob(osp.join(root, p)) if osp.isdir(d)
        })
        self.paths: Dict[str, str] = {}
        for folder in self.folders:
            for path in self._scan(folder, recursive):
                name = osp.basename(path)
                if not name.lower().endswith(tuple(suffixes)):
                    continue
                if key == 'stem':
                    name = strip_suffix(name)
                if name in self.paths and self.paths[name] != path:
                    raise CXRDatasetError(
                        f'{name}: found twice, {self.paths[name]} and '
                        f'{path}; remove one copy')
                self.paths[name] = path

    @staticmethod
    def _scan(folder: str, recursive: bool) -> Iterator[str]:
        if not recursive:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_file():
                        yield entry.path
            return
        for dirpath, _, names in os.walk(folder):
            for name in names:
                yield osp.join(dirpath, name)

    def find(self, name: str, check: bool = True) -> str:
        """Path of ``name``; raise (``check``) or guess when not indexed."""
        path = self.paths.get(name)
        if path is not None:
            return path
        if check:
            raise FileNotFoundError(
                f'{name}: image not found in {self.root} under '
                f'{list(self.patterns)} (searched {len(self.folders)} '
                'folders)')
        first = self.patterns[0] if self.patterns else ''
        return osp.normpath(osp.join(self.root, first, name))


def strip_suffix(name: str) -> str:
    """``'a/b.nii.gz'`` -> ``'a/b'``; ``'x.dcm'`` -> ``'x'``."""
    for suffix in ('.nii.gz', ):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return osp.splitext(name)[0]
