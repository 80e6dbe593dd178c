#!/usr/bin/env bash
# Assemble a CUDA toolkit (nvcc + headers) from NVIDIA's PyPI wheels, for
# building mmcv's CUDA ops where no `module load cuda` of torch's CUDA version
# exists (or on a machine without a GPU, to check the build).
#
#   bash tools/misc/pypi_cuda_toolkit.sh /opt/cuda13      # -> prints exports
#   export CUDA_HOME=/opt/cuda13 PATH=/opt/cuda13/bin:$PATH
#   FX_MMCV_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 bash tools/install.sh
#
# The compiler packages are pinned to torch's CUDA release (e.g. 13.0.*): an
# unpinned install mixes releases (a newer nvvm emits PTX the older ptxas
# rejects, newer runtime headers fail CCCL's compiler/header check). The
# libraries torch links against (cuBLAS, cuSPARSE, ... from the torch
# install) are linked into the same tree, so that CUDA_HOME holds one
# consistent toolkit. Environment: FX_VENV (default: <repo>/.venv), whose
# torch decides the release.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${FX_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
die() { echo "[pypi_cuda_toolkit] error: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 TARGET_DIR"
TARGET="$(mkdir -p "$1" && cd "$1" && pwd)"
[[ -x "$PY" ]] || die "no environment at $VENV: run tools/install.sh first"
CUDA_RELEASE="$("$PY" -c "import torch; print(torch.version.cuda or '')")"
[[ -n "$CUDA_RELEASE" ]] || die "torch in $VENV is a CPU-only build: nothing to build CUDA ops for"
MAJOR="${CUDA_RELEASE%%.*}"
NVIDIA_DIR="$("$PY" -c "import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))")/nvidia/cu$MAJOR"
[[ -d "$NVIDIA_DIR" ]] || die "torch's CUDA libraries not found at $NVIDIA_DIR"

echo "[pypi_cuda_toolkit] CUDA $CUDA_RELEASE toolkit into $TARGET"
PACKAGES=()
for name in nvidia-cuda-nvcc nvidia-nvvm nvidia-cuda-crt nvidia-cuda-cccl \
    nvidia-cuda-runtime; do
    PACKAGES+=("$name==$CUDA_RELEASE.*")
done
"$PY" -m pip install -q --disable-pip-version-check --target "$TARGET/wheels" \
    "${PACKAGES[@]}"

# One tree: compiler, headers and libraries side by side (torch's extension
# builder looks for $CUDA_HOME/bin/nvcc, include/ and lib64/).
TOOLKIT="$TARGET/wheels/nvidia/cu$MAJOR"
cp -rs "$TOOLKIT/." "$TARGET/"
cp -rsn "$NVIDIA_DIR/." "$TARGET/"
[[ -e "$TARGET/lib64" ]] || ln -s lib "$TARGET/lib64"
[[ -e "$TARGET/lib/libcudart.so" ]] || ln -s "libcudart.so.$MAJOR" "$TARGET/lib/libcudart.so"
"$TARGET/bin/nvcc" --version | tail -1
echo "export CUDA_HOME=$TARGET PATH=$TARGET/bin:\$PATH"
