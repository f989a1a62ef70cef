#!/usr/bin/env bash
# Runs benchmarks/sweep_example.yaml on local Ray, kills the sweep once some runs have finished,
# resumes it, then writes the HTML report. Usage: bash benchmarks/sweep_example.sh [SWEEP_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
LEANAMP=${LEANAMP:-leanamp}
PYTHON=${PYTHON:-python}
OUT=${1:-benchmarks/results/sweep_example}
CONFIG=benchmarks/sweep_example.yaml

count_done() {
  "$PYTHON" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
print(c.execute(\"select count(*) from runs where status='done'\").fetchone()[0])" \
    "$OUT/results.sqlite" 2>/dev/null || echo 0
}

echo "== first attempt (killed once 3 runs are done)"
setsid "$LEANAMP" sweep "$CONFIG" --out "$OUT" --num-cpus 2 &
DRIVER=$!
while kill -0 "$DRIVER" 2>/dev/null && [ "$(count_done)" -lt 3 ]; do sleep 1; done
kill -KILL -- -"$DRIVER" 2>/dev/null || true   # the driver's process group: Ray with it
wait "$DRIVER" 2>/dev/null || true
echo "killed with $(count_done) runs done"

echo "== resumed"
"$LEANAMP" sweep "$CONFIG" --out "$OUT" --num-cpus 2
"$LEANAMP" report "$OUT"
