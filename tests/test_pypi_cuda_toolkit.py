# Copyright (c) fx_mm contributors. All rights reserved.
"""tools/misc/pypi_cuda_toolkit.sh pins NVIDIA's compiler wheels to torch's
CUDA release and assembles one CUDA_HOME tree. Run with a stub python whose
pip records its arguments and unpacks a fake toolkit: nothing is
downloaded."""
import os
import os.path as osp
import stat
import subprocess

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _stub(path, text):
    with open(path, 'w') as f:
        f.write('#!/bin/bash\n' + text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)


def test_toolkit_is_pinned_to_torchs_release_and_one_tree(tmp_path):
    venv, site = tmp_path / 'venv', tmp_path / 'site'
    os.makedirs(venv / 'bin')
    # torch's own CUDA libraries, as the torch wheel installs them
    torch_libs = site / 'nvidia' / 'cu13'
    os.makedirs(torch_libs / 'lib')
    os.makedirs(torch_libs / 'include')
    (torch_libs / 'lib' / 'libcudart.so.13').write_text('')
    (torch_libs / 'include' / 'cublas_v2.h').write_text('')
    pip_args = tmp_path / 'pip_args'
    _stub(
        venv / 'bin' / 'python', f'''
case "$*" in
  *torch.version.cuda*) echo 13.0; exit 0;;
  *nvidia.__path__*) echo {site}; exit 0;;
  "-m pip"*)
    echo "$@" > {pip_args}
    while [ "$1" != --target ]; do shift; done
    tk="$2/nvidia/cu13"
    mkdir -p "$tk/bin" "$tk/include" "$tk/nvvm"
    printf '#!/bin/sh\\necho "Build cuda_13.0.r13.0"\\n' > "$tk/bin/nvcc"
    chmod +x "$tk/bin/nvcc"
    echo '#define CUDART_VERSION 13000' > "$tk/include/cuda_runtime_api.h"
    exit 0;;
esac
exit 1
''')
    target = tmp_path / 'cuda'
    proc = subprocess.run(
        ['bash', 'tools/misc/pypi_cuda_toolkit.sh',
         str(target)],
        cwd=REPO_ROOT,
        env=dict(os.environ, FX_VENV=str(venv)),
        capture_output=True,
        text=True,
        timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # every compiler part pinned to torch's release: mixed releases fail
    args = pip_args.read_text().split()
    for name in ('nvidia-cuda-nvcc', 'nvidia-nvvm', 'nvidia-cuda-crt',
                 'nvidia-cuda-cccl', 'nvidia-cuda-runtime'):
        assert f'{name}==13.0.*' in args, args
    # one tree: compiler, its headers, torch's libraries, lib64, libcudart.so
    assert os.access(target / 'bin' / 'nvcc', os.X_OK)
    assert (target / 'include' / 'cuda_runtime_api.h').exists()
    assert (target / 'include' / 'cublas_v2.h').exists()
    assert (target / 'lib64' / 'libcudart.so.13').exists()
    assert os.readlink(target / 'lib' / 'libcudart.so') == 'libcudart.so.13'
    assert f'export CUDA_HOME={target} PATH={target}/bin:$PATH' in proc.stdout


def test_a_cpu_torch_is_refused(tmp_path):
    venv = tmp_path / 'venv'
    os.makedirs(venv / 'bin')
    _stub(venv / 'bin' / 'python',
          'case "$*" in *torch.version.cuda*) echo; exit 0;; esac\nexit 1\n')
    proc = subprocess.run(
        ['bash', 'tools/misc/pypi_cuda_toolkit.sh',
         str(tmp_path / 'cuda')],
        cwd=REPO_ROOT,
        env=dict(os.environ, FX_VENV=str(venv)),
        capture_output=True,
        text=True,
        timeout=60)
    assert proc.returncode != 0
    assert 'CPU-only build' in proc.stderr
