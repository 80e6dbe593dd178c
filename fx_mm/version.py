# Copyright (c) fx_mm contributors. All rights reserved.
__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse a version string into a tuple of ints (and a suffix string).

    Args:
        version_str (str): e.g. ``'0.1.0'`` or ``'0.1.0rc1'``.

    Returns:
        tuple: e.g. ``(0, 1, 0)`` or ``(0, 1, 0, 'rc1')``.
    """
    version_info = []
    for part in version_str.split('.'):
        if part.isdigit():
            version_info.append(int(part))
        elif 'rc' in part:
            number, rc = part.split('rc')
            version_info.extend([int(number), f'rc{rc}'])
    return tuple(version_info)


version_info = parse_version_info(__version__)
