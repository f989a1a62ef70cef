#!/usr/bin/env bash
# Issue 16, part 2: `leanamp shrink` on each MorphDrive pedal at a budget the dense LSTM-8 meets
# (--max-rtf 0.035, exact-mode thread CPU time: an LSTM-8 measured 0.017 quiet and 0.024 with five
# jobs on the two cores, where a plan at 0.03 found only an LSTM-6 to fit), 30 CPU-minutes for every candidate together, the big model trained inside and
# charged. Each pedal resumes in its folder after an interruption; tables.py reads the results.
# The machine's speed varies from day to day (an LSTM-8 measured 0.034 with every other job
# paused on 2026-12-01): MAX_RTF=R sets another budget, still one the dense LSTM-8 must meet.
#   [MAX_RTF=R] bash benchmarks/lean/shrink_pedals.sh [GRID_DIR] [PEDAL ...]   (default: all three)
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
    --validation guitar-chords --test guitar-funk2 --max-rtf "${MAX_RTF:-0.035}" --minutes 30 \
    --out "$grid/shrink/$pedal"
done
