#!/usr/bin/env bash
# The main job: install, then train Foundation X on the embedded synthetic
# CXR phantoms with the Cyclic & Lock-Release schedule and the mean teacher
# (2 datasets x cls/loc/seg = 6 slots, CPU, no downloads), then evaluate
# student and teacher on every slot's test split.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FX_VENV:-$ROOT/.venv}"
CONFIG="${FX_CONFIG:-configs/foundation_x/fx_swin-t_synthetic_demo.py}"
WORK_DIR="${FX_WORK_DIR:-work_dirs/quickstart}"
cd "$ROOT"
bash tools/install.sh
PY="$VENV/bin/python"
echo "[fx_mm] training $CONFIG into $WORK_DIR"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
for KEY in teacher student; do
    echo "[fx_mm] testing the $KEY of $CKPT"
    "$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test_$KEY" \
        --model-key "$KEY"
done
echo "[fx_mm] done. checkpoint: $CKPT"
echo "[fx_mm] logs: $WORK_DIR/<timestamp>/, test results: $WORK_DIR/test_teacher, $WORK_DIR/test_student"
