#!/usr/bin/env bash
# Install everything (tools/install.sh: .venv, cached mmcv build) and run the
# test suite. Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k
# metrics` or `bash tools/run_tests.sh -m slow` for the slow tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FX_VENV:-$ROOT/.venv}"
cd "$ROOT"
bash tools/install.sh
echo "[fx_mm] running the test suite"
START=$SECONDS
set +e
"$VENV/bin/python" -m pytest tests "$@"
STATUS=$?
set -e
echo "[fx_mm] tests finished in $((SECONDS - START)) s (exit $STATUS)"
exit $STATUS
