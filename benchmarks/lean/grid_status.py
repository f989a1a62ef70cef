"""Issue 16: how far the grid has got, stage by stage in run_grid.sh's order: runs done (in the
grid folder, or only in the record benchmarks/results/lean.json from another machine), started
(with the CPU-minutes their attempts used so far, from their CPU ledgers), and waiting (a
recorded run that a later unfinished stage starts from waits too: run_grid.sh runs it again, see
recorded_runs.py), and at most how many CPU-minutes the unfinished runs of method train have
left under their caps (the time a session needs); then the levels converge_levels.py has trained
on. What a session that takes the grid over reads first.

    python benchmarks/lean/grid_status.py [GRID_DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# The sibling scripts: the record (record.py) and which recorded runs run_grid.sh skips.
from record import read_record  # noqa: I001
from recorded_runs import recorded_run_ids, stage_config

from leanamp.ledger import LEDGER_FILE
from leanamp.results import RESULT_FILE

LEAN = Path(__file__).resolve().parent


def grid_entries(script: Path = LEAN / "run_grid.sh") -> list[str]:
    """The entries of run_grid.sh's `stages` list, in its order: a stage, stages joined into
    lanes ("+" joins lanes run side by side, "," the stages of a lane run one after the other),
    or `converge`."""
    text = script.read_text()
    return text[text.index("stages=(") + len("stages=(") : text.index(")\nconverge=(")].split()


def stages_of(entries: list[str]) -> list[str]:
    """The stages of run_grid.sh entries, in their order (the entry `converge` is not a stage)."""
    return [stage for entry in entries if entry != "converge"
            for lane in entry.split("+") for stage in lane.split(",")]  # fmt: skip


def grid_stages(script: Path = LEAN / "run_grid.sh") -> list[str]:
    """The stages run_grid.sh runs, in its order."""
    return stages_of(grid_entries(script))


def stage_status(stage: str, grid: Path, recorded: set[str], lean: Path = LEAN) -> dict:
    """Counts of a stage's runs: done here, done only in the record (`recorded`: the run ids
    run_grid.sh skips), started, waiting; the CPU-seconds the started ones have used; and the
    most the unfinished capped train runs can still use ("left"; other methods' runs have several
    phases and no cap on the whole, "uncapped" counts them)."""
    status = {"runs": 0, "done here": 0, "recorded": 0, "started": 0, "waiting": 0, "cpu": 0.0,
              "left": 0.0, "uncapped": 0}
    for spec in stage_config(lean / f"{stage}.yaml").runs:
        status["runs"] += 1
        run_dir = grid / stage / "runs" / spec.run_id
        result = run_dir / RESULT_FILE
        if result.exists() and json.loads(result.read_text()).get("status") == "done":
            status["done here"] += 1
        elif spec.run_id in recorded:
            status["recorded"] += 1
        else:
            spent = 0.0
            if (run_dir / LEDGER_FILE).exists():
                status["started"] += 1
                spent = sum(json.loads((run_dir / LEDGER_FILE).read_text())["attempts"])
                status["cpu"] += spent
            else:
                status["waiting"] += 1
            cap = spec.train.get("max_minutes")
            if spec.method == "train" and cap is not None:
                status["left"] += max(0.0, 60 * cap - spent)
            else:
                status["uncapped"] += 1
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", nargs="?", default="/work/leangrid", type=Path)
    args = parser.parse_args()
    record = read_record()
    print(f"{'stage':<28} {'runs':>4} {'done here':>9} {'recorded':>8} {'started':>7} "
          f"{'(CPU-min)':>9} {'waiting':>7} {'left <= (CPU-min)':>17}")
    totals = dict.fromkeys(("runs", "done here", "recorded", "started", "cpu", "waiting", "left",
                            "uncapped"), 0)  # fmt: skip
    for stage in grid_stages():
        status = stage_status(stage, args.grid, set(recorded_run_ids(stage, record)))
        totals = {key: totals[key] + status[key] for key in totals}
        print(f"{stage:<28} {status['runs']:>4} {status['done here']:>9} {status['recorded']:>8} "
              f"{status['started']:>7} {status['cpu'] / 60:>9.0f} {status['waiting']:>7} "
              f"{status['left'] / 60:>17.0f}")
    print(f"{'all':<28} {totals['runs']:>4} {totals['done here']:>9} {totals['recorded']:>8} "
          f"{totals['started']:>7} {totals['cpu'] / 60:>9.0f} {totals['waiting']:>7} "
          f"{totals['left'] / 60:>17.0f}")
    if totals["uncapped"]:
        print(f"{totals['uncapped']} unfinished runs of other methods are not in 'left'")
    converged = sorted(args.grid.glob(f"converged/*/level_*/{RESULT_FILE}"))
    print(f"levels trained on to convergence in {args.grid}: {len(converged)} "
          "(the record keeps those of runs recorded before; see lean.md)")


if __name__ == "__main__":
    main()
