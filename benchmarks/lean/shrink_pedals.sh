#!/usr/bin/env bash
# Issue 16, part 2: `leanamp shrink` on each MorphDrive pedal at a budget the dense LSTM-8 meets
# (--max-rtf 0.03: exact-mode thread CPU time, which measured 0.017-0.024 for an LSTM-8 quiet and
# under load), 30 CPU-minutes for every candidate together, the big model trained inside and
# charged. Each pedal resumes in its folder after an interruption; tables.py reads the results.
#   bash benchmarks/lean/shrink_pedals.sh [GRID_DIR] [PEDAL ...]   (default: all three)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
grid="${1:-/work/leangrid}"
shift || true
leanamp="${LEANAMP:-$here/../../.venv/bin/leanamp}"
data="$here/../../../shared/data/morphdrive"
declare -A prefix=([zendrive]=a_zendrive_g5_t3_ [honeybee]=a_honeybee_g5_t0_ [souldriven]=a_souldriven_g5_t5_)
pedals="${*:-zendrive honeybee souldriven}"
for pedal in $pedals; do
  echo "== shrink $pedal ($(date -u +%H:%M:%S))"
  "$leanamp" shrink "$data/dry" "$data/pedal" --target-prefix "${prefix[$pedal]}" \
    --validation guitar-chords --test guitar-funk2 --max-rtf 0.03 --minutes 30 \
    --out "$grid/shrink/$pedal"
done
