# Copyright (c) fx_mm contributors. All rights reserved.
"""requirements/ and setup.py: runtime, tests and optional packages apart,
and nothing listed that fx_mm does not use."""
import glob
import os.path as osp
import re
from importlib.metadata import packages_distributions, requires

from fx_test_utils import REPO_ROOT, load_tool

NO_IMPORT_HEADER = '# needed without an import of ours'


def requirement_name(line: str) -> str:
    return re.split(r'[<>=!~\[; ]', line, maxsplit=1)[0]


def runtime_sections() -> tuple:
    """(packages fx_mm imports, packages listed as needed without an
    import) of requirements/runtime.txt."""
    imported, indirect, current = [], [], None
    with open(osp.join(REPO_ROOT, 'requirements', 'runtime.txt')) as f:
        for line in f:
            line = line.strip()
            if line.startswith(NO_IMPORT_HEADER):
                current = indirect
            elif line and not line.startswith('#'):
                (indirect if current is indirect else imported).append(
                    requirement_name(line))
    return imported, indirect


def our_imports() -> set:
    """Top-level modules imported by fx_mm, tools/ and demo/."""
    modules = set()
    for folder in ('fx_mm', 'tools', 'demo'):
        for path in glob.glob(
                osp.join(REPO_ROOT, folder, '**', '*.py'), recursive=True):
            with open(path) as f:
                modules.update(
                    re.findall(r'^\s*(?:import|from)\s+(\w+)', f.read(),
                               re.MULTILINE))
    return modules


def test_every_runtime_package_is_used():
    imported, indirect = runtime_sections()
    assert imported and indirect
    by_distribution = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            by_distribution.setdefault(distribution.lower(), set()).add(module)
    ours = our_imports()
    for name in imported:
        modules = by_distribution.get(name.lower())
        assert modules, f'{name} is not installed'
        assert modules & ours, (
            f'requirements/runtime.txt lists {name} ({sorted(modules)}) but '
            'nothing in fx_mm, tools/ or demo/ imports it')
    for name in indirect:  # a direct import belongs to the first section
        assert not by_distribution.get(name.lower(), set()) & ours, name
    # what OpenMMLab packages declare is theirs to list (scipy: mmdet's)
    assert 'scipy' in {requirement_name(r) for r in requires('mmdet')}


def test_all_extra_has_no_test_packages():
    setup = load_tool('setup.py', 'fx_setup')
    extras = setup.extras_require()
    runtime = setup.parse_requirements('requirements/runtime.txt')
    tests = set(extras['tests'])
    assert tests and not tests & set(extras['all'])
    assert not tests & set(runtime)
    assert set(extras['optional']) <= set(extras['all'])
    assert set(extras['mim']) <= set(extras['all'])
    # the development environment (tools/install.sh) still gets everything
    everything = set(setup.parse_requirements('requirements.txt'))
    assert tests | set(extras['all']) | set(runtime) <= everything
