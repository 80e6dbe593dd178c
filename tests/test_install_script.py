# Copyright (c) fx_mm contributors. All rights reserved.
"""tools/install.sh decides the kind of mmcv ops (cpu / cuda<release>) per
machine, and an environment whose ops are of another kind is not "up to
date". Run with a fake environment (a stub python) and a fake nvcc: the
script stops at its first pip call, touching nothing real."""
import os
import os.path as osp
import stat
import subprocess

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _stub(path, text):
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)


def _fingerprint():
    return subprocess.run(
        'cat requirements.txt requirements/*.txt setup.py setup.cfg '
        '2>/dev/null | sha256sum | cut -c1-16',
        shell=True, cwd=REPO_ROOT, capture_output=True, text=True,
        check=True).stdout.strip()


@pytest.mark.parametrize('mark,nvcc,expected', [
    ('_cpu', False, 'is up to date (cpu ops'),
    ('_cpu', True, 'built as mmcv2.1.0_x_cpu, this machine wants cuda12.4'),
    ('_cuda12.4', True, 'is up to date (cuda12.4 ops'),
    ('_cuda12.4', False, 'this machine wants cpu: updating'),
])
def test_up_to_date_needs_the_machine_ops(tmp_path, mark, nvcc, expected):
    venv, bin_dir = tmp_path / 'venv', tmp_path / 'bin'
    os.makedirs(venv / 'bin')
    os.makedirs(bin_dir)
    # the stub python: imports succeed, torch sees a GPU, pip fails
    _stub(venv / 'bin' / 'python',
          'case "$*" in *pip*) exit 3;; *cuda.is_available*) echo 1;; '
          'esac\nexit 0\n')
    (venv / '.fx_mm_install_stamp').write_text(_fingerprint() + '\n')
    (venv / '.fx_mm_mmcv_key').write_text(f'mmcv2.1.0_x{mark}\n')
    path = [str(bin_dir)]
    if nvcc:
        _stub(bin_dir / 'nvcc',
              'echo "Cuda compilation tools, release 12.4, V12.4.131"\n')
    # PATH without any real nvcc
    path += [
        d for d in os.environ['PATH'].split(':')
        if not osp.exists(osp.join(d, 'nvcc'))
    ]
    env = dict(os.environ, FX_VENV=str(venv), PATH=':'.join(path))
    env.pop('FX_MMCV_CUDA', None)
    proc = subprocess.run(['bash', 'tools/install.sh'], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=60)
    output = proc.stdout + proc.stderr
    assert expected in output, output
    assert (proc.returncode == 0) == ('up to date' in expected), output


def test_cuda_ops_built_without_a_gpu_are_not_run(tmp_path):
    """FX_MMCV_CUDA=1 on a login node: the CUDA wheel is installed, the GPU
    check is skipped (it cannot pass there) and no stamp is written, so the
    next run on a GPU node checks the ops."""
    venv, bin_dir, cache = tmp_path / 'venv', tmp_path / 'bin', tmp_path / 'c'
    os.makedirs(venv / 'bin')
    os.makedirs(bin_dir)
    # a cached CUDA wheel of the key the stub torch gives
    wheel_dir = cache / 'wheels' / 'mmcv2.1.0_torch2.14.1_cu130_py311_cuda13.0'
    os.makedirs(wheel_dir)
    (wheel_dir / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_text('')
    # the stub python: pip succeeds, torch has CUDA 13.0 but sees no GPU, and
    # a script run on the GPU fails (as it does on a machine without one)
    _stub(
        venv / 'bin' / 'python', 'case "$*" in\n'
        '  *pip*) exit 0;;\n'
        '  *torch.__version__*) echo "2.14.1_cu130 py311 0"; exit 0;;\n'
        '  *torch.version.cuda*) echo 13.0; exit 0;;\n'
        '  *cuda.is_available*) echo 0; exit 0;;\n'
        'esac\n'
        'if [ "$1" = - ] && grep -q "device=.cuda" ; then exit 1; fi\n'
        'exit 0\n')
    _stub(bin_dir / 'nvcc',
          'echo "Cuda compilation tools, release 13.0, V13.0.88"\n')
    env = dict(
        os.environ,
        FX_VENV=str(venv),
        FX_CACHE_DIR=str(cache),
        FX_MMCV_CUDA='1',
        PATH=f'{bin_dir}:{os.environ["PATH"]}')
    proc = subprocess.run(['bash', 'tools/install.sh'], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert 'reusing cached mmcv wheel' in output, output
    assert "no GPU visible: mmcv's CUDA ops (cuda13.0) are built" in output
    assert not (venv / '.fx_mm_install_stamp').exists()
    assert (venv / '.fx_mm_mmcv_key').read_text().strip().endswith('_cuda13.0')
