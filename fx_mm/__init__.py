# Copyright (c) fx_mm contributors. All rights reserved.
import mmcv
import mmdet
import mmengine
import mmpretrain
import mmseg
from mmengine.utils import digit_version

from .version import __version__, version_info

# (package, installed version, minimum inclusive, maximum exclusive)
_REQUIRED = [
    ('mmcv', mmcv.__version__, '2.1.0', '2.2.0'),
    ('mmengine', mmengine.__version__, '0.10.7', '0.11.0'),
    ('mmdet', mmdet.__version__, '3.3.0', '3.4.0'),
    ('mmsegmentation', mmseg.__version__, '1.2.2', '1.3.0'),
    ('mmpretrain', mmpretrain.__version__, '1.2.0', '1.3.0'),
]

for _name, _version, _min, _max in _REQUIRED:
    if not digit_version(_min) <= digit_version(_version) < digit_version(
            _max):
        raise ImportError(
            f'fx_mm {__version__} needs {_name}>={_min},<{_max}, but '
            f'{_name}=={_version} is installed. Run `bash tools/install.sh` '
            'to create a matching environment (see docs/get_started.md).')


__all__ = ['__version__', 'version_info']
