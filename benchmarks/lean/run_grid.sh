#!/usr/bin/env bash
# Issue 16, part 1: the grid of dense fronts and lean methods on the real MorphDrive pedals, most
# informative stages first. Every stage is a `leanamp sweep`: run this again after any
# interruption and finished runs are skipped, unfinished ones resume from their checkpoints. Runs
# recorded in benchmarks/results/lean.json (tables.py writes it) are skipped too, wherever they ran
# (recorded_runs.py), so on a new machine the grid goes on from the record.
# An entry of `stages` is a group of lanes joined by "+", run side by side with the CPUs shared
# between them (each sweep starts its own local Ray); a lane is stages joined by "," run one after
# the other. Without lanes a stage's last run, or a stage of one or two runs, leaves a core idle
# until the stage ends. A stage that starts from another's models goes after it in its lane.
# The entry `converge` trains the levels of the pruning and trimming stages finished so far on to
# convergence (converge_levels.py, sizes per line of `converge`, NUM_CPUS levels at once; finished
# levels are skipped), so the stages after it wait for those levels.
#   bash benchmarks/lean/run_grid.sh [GRID_DIR] [NUM_CPUS]     (default /work/leangrid, 1 CPU)
# How far it has got: python benchmarks/lean/grid_status.py GRID_DIR
# Afterwards: python benchmarks/lean/tables.py GRID_DIR  (tables in benchmarks/results/lean*)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
grid="${1:-/work/leangrid}"
cpus="${2:-1}"
leanamp="${LEANAMP:-$here/../../.venv/bin/leanamp}"
python="$(dirname "$leanamp")/python"
mkdir -p "$grid"
run_lane() {  # CPUS "STAGE,STAGE,...": the stages one after the other
  local stage lane
  IFS=, read -ra lane <<< "$2"
  for stage in "${lane[@]}"; do
    echo "== stage $stage ($(date -u +%H:%M:%S))"
    (cd "$here" && "$python" recorded_runs.py "$stage") > "$grid/$stage.recorded" || return
    "$leanamp" sweep "$here/$stage.yaml" --out "$grid/$stage" --num-cpus "$1" \
      --skip "$grid/$stage.recorded"
  done
}
stages=(
  zendrive-front-s0 zendrive-methods-s0 zendrive-front-s12 zendrive-front-mid-s0
  zendrive-structured-s12 zendrive-front-mid-s12 zendrive-front-patient zendrive-distill-t32
  honeybee-front souldriven-front pedals-distill pedals-structured pedals-unitprune
  zendrive-unitprune zendrive-unitprune-s12
  zendrive-front-more,zendrive-structured64-s12,zendrive-methods-more,zendrive-wavenet-front,zendrive-slim-uniform,zendrive-slim-sandwich,zendrive-slim-inplace,zendrive-prune-s12+zendrive-wavenet-widths,zendrive-front-big,zendrive-methods-96,zendrive-unitprune-big,zendrive-distill-t64
  zendrive-front-big-s12 zendrive-distill-t64-s12 zendrive-unitprune64-s12+zendrive-prune64-s12
  zendrive-front-big96-s12 zendrive-methods96-s12 zendrive-unitprune96-s12 converge
  zendrive-front-40 pedals-front-more pedals-front-big zendrive-wavenet-patient pedals-wavenet-front
  zendrive-wavenet-nam-recipe
)
converge=(  # "SIZES STAGE...": the effective hidden sizes whose levels are trained on
  "8-16 zendrive-methods-s0 zendrive-prune-s12 zendrive-structured-s12 zendrive-unitprune zendrive-unitprune-s12 zendrive-methods-more zendrive-structured64-s12 zendrive-methods-96 zendrive-unitprune-big zendrive-unitprune64-s12 zendrive-prune64-s12 zendrive-methods96-s12 zendrive-unitprune96-s12"
  "8-10 pedals-structured pedals-unitprune"
)
converge_levels() {
  local line words
  for line in "${converge[@]}"; do
    read -ra words <<< "$line"
    echo "== converge ${words[*]} ($(date -u +%H:%M:%S))"
    (cd "$here" && "$python" converge_levels.py "$grid" --sizes "${words[0]}" --jobs "$cpus" \
      $(printf -- '--stage %s ' "${words[@]:1}"))
  done
}
for entry in "${stages[@]}"; do
  if [[ $entry == converge ]]; then converge_levels; continue; fi
  IFS=+ read -ra lanes <<< "$entry"
  share=$(( cpus / ${#lanes[@]} )); (( share < 1 )) && share=1
  for lane in "${lanes[@]}"; do
    run_lane "$share" "$lane" &
  done
  wait
done
