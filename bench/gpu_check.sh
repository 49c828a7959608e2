#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, one command: the library's tests with
# EBMLIB_BACKEND=cupy, the module benchmark on the GPU, and the NumPy step at the
# large shape in the same run; then a one-screen summary.
#
#   python3 -m venv .venv && .venv/bin/pip install -r requirements-gpu.txt
#   bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
LARGE=4096-4096-4096-512
logs=$(mktemp -d)

"$PY" -c "from ebmlib.backend import cupy_status as s; ok, why = s(); print(why); exit(not ok)" \
  || { echo "gpu_check: CuPy is not usable here (see above); nothing was run"; exit 2; }

echo "[1/3] tests with EBMLIB_BACKEND=cupy ..."
EBMLIB_BACKEND=cupy "$PY" -m pytest -q -p no:cacheprovider tests --ignore=tests/grading \
  --ignore=tests/test_exercises.py --ignore=tests/test_book_browser.py \
  --ignore=tests/test_strict_device.py >"$logs/tests.txt" 2>&1
tests_rc=$?
echo "[2/3] module benchmark on the GPU ..."
EBMLIB_BACKEND=cupy "$PY" bench/bench_modules.py >"$logs/cupy.txt" 2>&1
echo "[3/3] the NumPy step at $LARGE, for the ratio ..."
EBMLIB_BACKEND=numpy "$PY" bench/bench_modules.py --shape "$LARGE" >"$logs/numpy.txt" 2>&1

echo
echo "== tests (EBMLIB_BACKEND=cupy): exit $tests_rc"
grep -E "^(FAILED|ERROR)" "$logs/tests.txt" | head -15
tail -n 1 "$logs/tests.txt"
echo
echo "== module benchmark, CuPy"
cat "$logs/cupy.txt"
echo
echo "== CuPy against NumPy at $LARGE (target: >= 10x)"
"$PY" - "$logs/cupy.txt" "$logs/numpy.txt" <<'PYEOF'
import sys
def rows(path):   # (shape, dtype) -> steps/s
    out = {}
    for line in open(path):
        parts = line.split()
        if len(parts) > 4 and parts[2] in ("float32", "float64"):
            out[" ".join(parts[:2]), parts[2]] = float(parts[3])
    return out
gpu, cpu = rows(sys.argv[1]), rows(sys.argv[2])
for key in sorted(cpu):
    if key in gpu:
        print(f"{key[0]:>20} {key[1]}: CuPy {gpu[key]:10.1f} steps/s, NumPy {cpu[key]:8.2f}, "
              f"ratio {gpu[key] / cpu[key]:6.1f}x")
PYEOF
echo "(full logs in $logs)"
exit $tests_rc
