# Copyright (c) fx_mm contributors. All rights reserved.
import json
import logging
import os.path as osp
import sys

import pytest
import torch

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


@pytest.fixture(scope='session')
def research_dir(shared_data):
    folder = osp.join(shared_data, 'research_fx')
    if not osp.isfile(osp.join(folder, 'research_keys_swin-b.json')):
        pytest.skip('../shared/data/research_fx is not available')
    return folder


@pytest.fixture(scope='session')
def research_converted(research_dir, tmp_path_factory):
    """(research key list, converter result, research file, converted
    file) of the seeded full-size research checkpoint (the released
    configuration; ``../shared/data/research_fx``)."""
    sys.path.insert(0, research_dir)
    try:
        from research_state_recipe import build_checkpoint, verify_state_dict
    finally:
        sys.path.remove(research_dir)
    keys_file = osp.join(research_dir, 'research_keys_swin-b.json')
    with open(keys_file) as f:
        keys = json.load(f)
    checkpoint = build_checkpoint(keys)
    verify_state_dict(checkpoint['teacher_model'], keys, 'teacher_model')
    tmp = tmp_path_factory.mktemp('research')
    src = str(tmp / 'research.pth')
    torch.save(checkpoint, src)
    del checkpoint
    dst = str(tmp / 'converted' / 'foundation_x_fxmm.pth')
    from fx_test_utils import load_tool
    result = load_tool('tools/model_converters/foundationx2fxmm.py').main(
        [src, dst, '--report', str(tmp / 'report.json')])
    return keys, result, src, dst


class _Collect(logging.Handler):

    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def emit(self, record) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def fx_log():
    """Messages of mmengine's current logger (what print_log writes to)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    handler = _Collect()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


@pytest.fixture(autouse=True, scope='session')
def _register_fx_mm():
    from fx_mm.utils import register_all_modules
    register_all_modules()


@pytest.fixture(scope='session')
def resumed_two_slot_run(tmp_path_factory) -> dict:
    """One tiny real training, resumed once (fx_test_utils.train_then_resume),
    shared by the resume and the plot_slots tests: it costs about 1.5 min."""
    from fx_test_utils import train_then_resume
    return train_then_resume(str(tmp_path_factory.mktemp('resumed_run')))
