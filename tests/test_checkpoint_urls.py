# Copyright (c) fx_mm contributors. All rights reserved.
"""Every way a checkpoint enters fx_mm reads it with the same safe loader:
a URL is refused before anything is fetched, a local file holding pickled
code is refused before the code runs.

The payload file, unpickled with ``weights_only=False``, creates a marker
file; the URLs point at a real HTTP server on 127.0.0.1 that counts the
requests it gets.
"""
import builtins
import functools
import http.server
import os
import subprocess
import sys
import threading

import pytest
import torch
from mmengine.registry import DefaultScope

from fx_mm.registry import MODELS, RUNNERS
from fx_mm.utils.checkpoint import (UNSAFE_PICKLE_ENV, RemoteCheckpointError,
                                    UnsafeCheckpointError, load_fx_checkpoint)
from fx_test_utils import (REPO_ROOT, drop_config_variables,
                           tiny_demo_config, write_config)


class Payload:
    """Unpickling it runs ``exec``: it writes the marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f'open({self.marker!r}, "w").close()', )


class CountingHandler(http.server.SimpleHTTPRequestHandler):

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """(folder with payload.pth, its URL, the requests served so far)."""
    folder = tmp_path_factory.mktemp('served')
    marker = folder / 'PAYLOAD_RAN'
    torch.save(
        dict(state_dict=dict(w=torch.ones(2)), meta=Payload(str(marker))),
        str(folder / 'payload.pth'))
    httpd = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0),
        functools.partial(CountingHandler, directory=str(folder)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f'http://127.0.0.1:{httpd.server_address[1]}/payload.pth'
    yield folder, url, httpd.requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def clean(server, tmp_path, monkeypatch):
    """Nothing fetched or run so far; downloads (if any) land in tmp."""
    folder, _, requests = server
    requests.clear()
    marker = folder / 'PAYLOAD_RAN'
    if marker.exists():
        marker.unlink()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    yield
    assert not marker.exists(), 'the pickled payload ran'


def test_the_payload_runs_when_unpickled_unsafely(server, clean):
    """The payload is real: torch.load(weights_only=False) runs it."""
    folder = server[0]
    torch.load(str(folder / 'payload.pth'), weights_only=False)
    assert (folder / 'PAYLOAD_RAN').exists()
    (folder / 'PAYLOAD_RAN').unlink()


def small_config(work_dir: str):
    cfg = tiny_demo_config(work_dir, num_images=8, image_size=64)
    cfg.train_cfg.slots = [cfg.train_cfg.slots[0]]  # phantom_a/cls
    cfg.train_cfg.val_at_cycle_end = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg.slots = [cfg.test_cfg.slots[0]]
    cfg.test_evaluator = [cfg.test_evaluator[0]]
    return drop_config_variables(cfg)


def assert_refused(error, src: str, source: str) -> None:
    if source == 'url':
        assert isinstance(error, RemoteCheckpointError), repr(error)
        assert str(error).startswith(
            f'{src}: fx_mm loads checkpoints from local files only and '
            'never downloads'), str(error)
        assert 'Download the file yourself and pass its local path' in str(
            error)
    else:
        assert isinstance(error, UnsafeCheckpointError), repr(error)
        assert str(error).startswith(
            f'{src}: the checkpoint contains objects outside the types')


@pytest.mark.parametrize('source', ['url', 'local file'])
@pytest.mark.parametrize('entry', ['load_from', 'resume'])
def test_runner_refuses_urls_and_payloads(server, clean, tmp_path, entry,
                                          source):
    """``load_from`` / ``--resume`` (also ``--cfg-options load_from=...``)
    in the runner a config builds (as tools/train.py builds it)."""
    folder, url, requests = server
    src = url if source == 'url' else str(folder / 'payload.pth')
    cfg = small_config(str(tmp_path / 'work'))
    cfg.experiment_name = f'urls_{entry}_{source}'.replace(' ', '_')
    cfg.load_from = src
    cfg.resume = entry == 'resume'
    runner = RUNNERS.build(cfg)
    with pytest.raises(Exception) as info:
        runner.load_or_resume()  # what Runner.train() / test() start with
    assert_refused(info.value, src, source)
    assert requests == []


INIT_CFGS = {
    'seg_branch Pretrained': ('seg_branch', {}),
    'seg_branch Pretrained with prefix':
    ('seg_branch', dict(prefix='teacher.seg_branch.')),
    'loc_branch Pretrained with prefix':
    ('loc_branch', dict(prefix='teacher.loc_branch.')),
    'backbone Pretrained': ('backbone', {}),
}


@pytest.mark.parametrize('source', ['url', 'local file'])
@pytest.mark.parametrize('entry', list(INIT_CFGS))
def test_init_cfgs_refuse_urls_and_payloads(server, clean, tmp_path, entry,
                                            source):
    """A ``Pretrained`` init_cfg of a branch (mmengine's initializer) or of
    the backbone (fx_mm's Swin loader), initialised as the runner does it
    (``init_weights`` under the config's ``default_scope='fx_mm'``)."""
    folder, url, requests = server
    src = url if source == 'url' else str(folder / 'payload.pth')
    cfg = small_config(str(tmp_path / 'work'))
    part, args = INIT_CFGS[entry]
    cfg.model[part].init_cfg = dict(type='Pretrained', checkpoint=src, **args)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        with pytest.raises(Exception) as info:
            model.init_weights()
    assert_refused(info.value, src, source)
    assert requests == []


def test_tools_test_refuses_a_url(server, clean, tmp_path):
    """`tools/test.py CONFIG https://...` stops before any request."""
    _, url, requests = server
    config = write_config(
        small_config(str(tmp_path / 'work')), str(tmp_path / 'cfg.py'))
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', config, url],
        cwd=REPO_ROOT,
        env=dict(os.environ, TORCH_HOME=str(tmp_path / 'torch_home')),
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f'tools/test.py: {url}: fx_mm loads checkpoints from local ' \
        'files only and never downloads' in proc.stderr
    assert requests == []


def test_loader_refuses_urls_even_with_the_unsafe_opt_in(
        server, clean, monkeypatch):
    """The opt-in for trusted local files never covers URLs; remote
    storage schemes are refused too."""
    _, url, requests = server
    monkeypatch.setenv(UNSAFE_PICKLE_ENV, '1')
    from fx_mm.utils.checkpoint import load_checkpoint_file
    for source in (url, 's3://bucket/x.pth', 'open-mmlab:s3://b/x.pth',
                   'torchvision://resnet50', 'open-mmlab://resnet50_v1c'):
        with pytest.raises(RemoteCheckpointError, match='never downloads'):
            load_checkpoint_file(source)
        with pytest.raises(RemoteCheckpointError, match='never downloads'):
            load_fx_checkpoint(source, allow_unsafe_pickle=True)
    assert requests == []


def test_inferencer_refuses_a_url(server, clean, tmp_path):
    from fx_mm.apis import FXInferencer
    _, url, requests = server
    cfg = small_config(str(tmp_path / 'work'))
    with pytest.raises(RemoteCheckpointError, match='never downloads'):
        FXInferencer(cfg, weights=url, device='cpu')
    assert requests == []
