#!/usr/bin/env bash
# Create or update the fx_mm environment (default: .venv in the repo root).
#
#   bash tools/install.sh            # install / update
#   FX_VENV=/path/to/env bash tools/install.sh
#
# Steps: venv -> pip + setuptools<82 -> torch/torchvision -> mmcv 2.1.0 built
# from source WITH ops (cached wheel) -> mmengine/mmdet/mmseg/mmpretrain and
# the rest of requirements/ -> `pip install -e .` -> import check of mmcv.ops.
#
# The mmcv wheel is cached under ${FX_CACHE_DIR:-~/.cache/fx_mm}/wheels keyed
# by (mmcv, torch, python, cpu|cuda<nvcc release>); a changed torch or CUDA
# toolkit gives a new key and hence a rebuild. An up-to-date environment is
# recognised by a stamp file (requirements) plus the ops kind of its mmcv
# (cpu, or the cuda tag this machine gets), and the script returns in
# seconds; with CUDA ops, the check at the end runs one on the GPU (without
# a GPU it is skipped and no stamp is written, so the next run checks).
#
# Environment variables:
#   FX_VENV          environment path (default: <repo>/.venv)
#   FX_BASE_PYTHON   interpreter used to create it (default: python3)
#   FX_CACHE_DIR     wheel cache (default: ~/.cache/fx_mm)
#   FX_MMCV_CUDA     1: build CUDA ops, 0: CPU ops only, unset: CUDA ops when
#                    nvcc exists AND torch sees a GPU
#   MAX_JOBS         parallel compile jobs for mmcv (default: nproc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FX_VENV:-$ROOT/.venv}"
PYTHON="${FX_BASE_PYTHON:-python3}"
CACHE_DIR="${FX_CACHE_DIR:-$HOME/.cache/fx_mm}"
MMCV_VERSION="2.1.0"

log() { echo "[fx_mm install $(date +%H:%M:%S)] $*"; }
die() { echo "[fx_mm install] ERROR: $*" >&2; exit 1; }

cd "$ROOT"
START=$SECONDS

# Everything that decides the content of the environment; a change re-runs
# the installation steps.
fingerprint() {
    cat requirements.txt requirements/*.txt setup.py setup.cfg 2>/dev/null \
        | sha256sum | cut -c1-16
}
STAMP="$VENV/.fx_mm_install_stamp"
FINGERPRINT="$(fingerprint)"

# cpu or cuda<nvcc release>: the mmcv ops this machine gets (FX_MMCV_CUDA;
# unset: CUDA ops when nvcc exists AND torch sees a GPU). $1: 1 when torch
# sees a GPU.
ops_tag() {
    local want="${FX_MMCV_CUDA:-}"
    if [[ -z "$want" ]]; then
        if command -v nvcc >/dev/null 2>&1 && [[ "$1" == 1 ]]; then
            want=1
        else
            want=0
        fi
    fi
    if [[ "$want" != 1 ]]; then
        echo cpu
        return
    fi
    command -v nvcc >/dev/null 2>&1 ||
        die "FX_MMCV_CUDA=1 but nvcc is not on PATH (install the CUDA toolkit of torch's CUDA version)"
    local release
    release="$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
    [[ -n "$release" ]] || die "cannot read the CUDA release from 'nvcc --version'"
    echo "cuda$release"
}
MMCV_MARK="$VENV/.fx_mm_mmcv_key"

# Up to date: same requirements AND mmcv ops of the kind this machine gets
# (an environment made on a CPU machine is rebuilt with CUDA ops on a GPU one).
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FINGERPRINT" ]] &&
    "$VENV/bin/python" -c "import mmcv.ops, fx_mm" >/dev/null 2>&1; then
    HAS_GPU="$("$VENV/bin/python" -c "import torch; print(int(torch.cuda.is_available()))")"
    WANT_TAG="$(ops_tag "$HAS_GPU")"
    if [[ -f "$MMCV_MARK" && "$(cat "$MMCV_MARK")" == *"_$WANT_TAG" ]]; then
        log "environment $VENV is up to date ($WANT_TAG ops, $((SECONDS - START)) s)"
        exit 0
    fi
    log "mmcv ops built as $(cat "$MMCV_MARK" 2>/dev/null || echo unknown), this machine wants $WANT_TAG: updating"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtual environment $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
export PIP_CONSTRAINT="$ROOT/requirements/constraints.txt"

log "installing build requirements"
"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q -r requirements/build.txt

log "installing torch / torchvision (requirements/torch.txt)"
"${PIP[@]}" install -q -r requirements/torch.txt

read -r TORCH_VERSION PY_TAG HAS_GPU < <("$PY" -c "
import sys, torch
print(torch.__version__.replace('+', '_'),
      'py%d%d' % sys.version_info[:2], int(torch.cuda.is_available()))")
log "torch $TORCH_VERSION, GPU visible: $HAS_GPU"

CUDA_TAG="$(ops_tag "$HAS_GPU")"
if [[ "$CUDA_TAG" == cpu ]]; then
    export FORCE_CUDA=0
else
    # nvcc must build for torch's CUDA major version
    TORCH_CUDA="$("$PY" -c "import torch; print(torch.version.cuda or '')")"
    [[ "${TORCH_CUDA%%.*}" == "$(echo "${CUDA_TAG#cuda}" | cut -d. -f1)" ]] ||
        die "nvcc is CUDA ${CUDA_TAG#cuda} but torch is built for CUDA '${TORCH_CUDA:-none}': use the toolkit of torch's CUDA major version (or FX_MMCV_CUDA=0)"
    export FORCE_CUDA=1
fi

MMCV_KEY="mmcv${MMCV_VERSION}_torch${TORCH_VERSION}_${PY_TAG}_${CUDA_TAG}"
WHEEL_DIR="$CACHE_DIR/wheels/$MMCV_KEY"

if [[ -f "$MMCV_MARK" && "$(cat "$MMCV_MARK")" == "$MMCV_KEY" ]] &&
    "$PY" -c "import mmcv.ops" >/dev/null 2>&1; then
    log "mmcv $MMCV_VERSION with ops already installed ($MMCV_KEY)"
else
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        if [[ "$CUDA_TAG" == cpu ]]; then
            log "building mmcv $MMCV_VERSION with ops ($CUDA_TAG) -- 12-20 min on 2 cores"
        else  # measured: docs/get_started.md
            log "building mmcv $MMCV_VERSION with ops ($CUDA_TAG) -- about 90 CPU-minutes per GPU architecture (MAX_JOBS=${MAX_JOBS:-$(nproc)})"
        fi
        mkdir -p "$WHEEL_DIR"
        BUILD_TMP="$(mktemp -d)"
        "${PIP[@]}" download -q --no-deps --no-binary :all: \
            --no-build-isolation -d "$BUILD_TMP" "mmcv==$MMCV_VERSION"
        tar xzf "$BUILD_TMP/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD_TMP"
        MMCV_SRC="$BUILD_TMP/mmcv-$MMCV_VERSION"
        # torch >= 2.10 headers refuse to compile below C++20, while mmcv
        # 2.1.0's setup.py hard-codes -std=c++14/17: raise the standard in
        # the build copy only when torch's own header demands it.
        ATEN_H="$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include", "ATen", "ATen.h"))')"
        if grep -q "C++20 or later" "$ATEN_H" 2>/dev/null; then
            log "torch requires C++20: patching mmcv's compiler flags"
            sed -i 's/-std=c++1[47]/-std=c++20/g' "$MMCV_SRC/setup.py"
        fi
        # --no-build-isolation: under isolation mmcv cannot see torch and
        # silently builds WITHOUT ops. --no-cache-dir: pip's own cache keys the
        # built wheel by sdist only, not by torch version.
        MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "${PIP[@]}" wheel --no-build-isolation --no-deps --no-cache-dir \
            -w "$BUILD_TMP/dist" "$MMCV_SRC"
        mv "$BUILD_TMP"/dist/mmcv-*.whl "$WHEEL_DIR"/
        rm -rf "$BUILD_TMP"
    else
        log "reusing cached mmcv wheel $WHEEL_DIR"
    fi
    "${PIP[@]}" install -q --force-reinstall --no-deps "$WHEEL_DIR"/mmcv-*.whl
    echo "$MMCV_KEY" > "$MMCV_MARK"
fi

log "installing OpenMMLab packages and the rest of requirements.txt"
"${PIP[@]}" install -q -r requirements.txt
log "installing fx_mm in editable mode"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e .

log "checking the installation"
"$PY" - <<'EOF' || die "mmcv was installed without its compiled ops (import mmcv.ops failed): delete the cached wheel under ~/.cache/fx_mm/wheels and re-run"
import mmcv.ops  # noqa: F401  compiled extension
from mmcv.ops import MultiScaleDeformableAttention, nms  # noqa: F401
import mmdet.models, mmseg.models, mmpretrain.models  # noqa: F401,E401
import fx_mm
print('fx_mm', fx_mm.__version__, 'ready')
EOF
if [[ "$CUDA_TAG" != cpu && "$HAS_GPU" != 1 ]]; then
    # FX_MMCV_CUDA=1 on a machine without a GPU (a login node): the ops are
    # built and installed but cannot run here. No stamp, so that the next
    # install.sh on a GPU node runs the check below (in seconds).
    log "no GPU visible: mmcv's CUDA ops ($CUDA_TAG) are built but not run; run tools/install.sh once on a GPU node to check them"
else
    if [[ "$CUDA_TAG" != cpu ]]; then
        "$PY" - <<'EOF' || die "mmcv's CUDA ops do not run ($CUDA_TAG): delete the cached wheel under ~/.cache/fx_mm/wheels and re-run"
import torch
from mmcv.ops import nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]], device='cuda')
keep = nms(boxes, torch.tensor([0.9, 0.8], device='cuda'), 0.5)[1]
assert keep.is_cuda and keep.tolist() == [0], keep
print('mmcv CUDA ops: ok')
EOF
    fi
    echo "$FINGERPRINT" > "$STAMP"
fi
log "done in $((SECONDS - START)) s; activate with: source $VENV/bin/activate"
