# Copyright (c) fx_mm contributors. All rights reserved.
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the tests import their helpers (fx_test_utils) from this folder
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

SHARED_DATA = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data')


@pytest.fixture(scope='session')
def shared_data() -> str:
    """``../shared/data`` (real CXR fixtures); skips when absent."""
    if not osp.isdir(SHARED_DATA):
        pytest.skip('../shared/data is not available')
    return SHARED_DATA


@pytest.fixture(scope='session')
def jsrt_root(shared_data) -> str:
    root = osp.join(shared_data, 'jsrt')
    if not osp.isdir(osp.join(root, 'images')):
        pytest.skip('../shared/data/jsrt is not available')
    return root


@pytest.fixture(autouse=True, scope='session')
def _register_fx_mm():
    from fx_mm.utils import register_all_modules
    register_all_modules()
