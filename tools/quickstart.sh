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
START=$SECONDS
echo "[fx_mm] training $CONFIG into $WORK_DIR"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
TRAIN_S=$((SECONDS - START))
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
echo "[fx_mm] testing teacher and student of $CKPT on every slot's test split"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" \
    --model-key teacher student --show-dir vis
LOG_DIR="$(ls -td "$WORK_DIR"/2*/ | head -n 1)"
VIS_DIR="$(ls -td "$WORK_DIR"/test/2*/ | head -n 1)vis"
echo "[fx_mm] done in $((SECONDS - START)) s (training ${TRAIN_S} s)"
echo "[fx_mm] checkpoint (student + teacher): $CKPT"
echo "[fx_mm] training log: $LOG_DIR"
echo "[fx_mm] results table: $WORK_DIR/test/results.{md,json,csv}"
echo "[fx_mm] prediction pictures: $VIS_DIR/<network>/<dataset>_<task>/"
