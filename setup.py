# Copyright (c) fx_mm contributors. All rights reserved.
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    with open(osp.join(HERE, 'fx_mm', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def parse_requirements(fname: str) -> list:
    """Read a requirements file, following ``-r`` includes."""
    requirements = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if not line:
                continue
            if line.startswith('-r '):
                requirements += parse_requirements(line[3:].strip())
            else:
                requirements.append(line)
    return requirements


def extras_require() -> dict:
    """The extras: ``all`` is every feature (OpenMMLab packages and the
    optional export packages) and nothing of the tests."""
    extras = {
        'tests': parse_requirements('requirements/tests.txt'),
        'optional': parse_requirements('requirements/optional.txt'),
        'mim': parse_requirements('requirements/mminstall.txt'),
    }
    extras['all'] = extras['mim'] + extras['optional']
    return extras


if __name__ == '__main__':
    setup(
        name='fx_mm',
        version=get_version(),
        description='Foundation X chest X-ray foundation model on OpenMMLab',
        long_description=open(osp.join(HERE, 'README.md')).read()
        if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'demo')),
        include_package_data=True,
        python_requires='>=3.9',
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require=extras_require(),
        classifiers=[
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Medical Science Apps.',
        ],
        zip_safe=False)
