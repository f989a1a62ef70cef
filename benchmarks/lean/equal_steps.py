"""Two grid stages' runs of one model side by side per optimiser step, not per epoch or CPU-second.

A 30-CPU-minute cap buys more steps on a faster machine, and an epoch of NAM's overlapping windows
is more steps than one of back-to-back segments: neither epochs nor CPU-seconds compare two
recipes run on different days. Steps do. A run's steps per epoch are its trainer's batches,
ceil(segments / batch size), with the segments cut as leanamp.train.Trainer cuts them from the
run's training clips (hop = segment length, or segment length minus the receptive field's
warm-up when the windows overlap); the script builds that trainer from the run's own config.

For each run of stage A and the run of stage B of the same name (device, model, method, seed), it
takes A's best validation ESR over its whole run, s_A = A's epochs x A's steps per epoch, and B's
best validation ESR within its first floor(s_A / B's steps per epoch) epochs: the ratio says
which recipe had learned more after the same number of updates (validation ESR as each run's
history.json records it; B must have validated with ESR, as the grid's runs do).

    python benchmarks/lean/equal_steps.py GRID zendrive-wavenet-nam-recipe zendrive-wavenet-patient
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from record import RESULTS, device_data

from leanamp.files import write_text_atomic
from leanamp.formats.native import load_model
from leanamp.train import TrainConfig, Trainer
from leanamp.transfer import load_history


def steps_per_epoch(run_dir: Path, result: dict, cache: dict) -> int:
    """The optimiser steps of one epoch of the run, from a trainer built as the run's was."""
    saved = json.loads((run_dir / "train" / "config.json").read_text())
    config = TrainConfig.from_dict(saved["train"])
    model, _ = load_model(run_dir / "model.leanamp")
    data = device_data(result, cache)
    trainer = Trainer(model, data.train, data.validation, config, progress=False)
    return math.ceil(len(trainer.inputs) / config.batch_size)


def best_validation_esr(history: list[dict], epochs: int) -> tuple[float, int]:
    """The lowest validation ESR of the first `epochs` epochs, and its epoch."""
    validations = [
        (r["validation_esr"], r["epoch"])
        for r in history
        if "validation_esr" in r and r["epoch"] <= epochs
    ]
    if not validations:
        raise ValueError(f"no validation ESR in the first {epochs} epochs")
    return min(validations)


def stage_runs(grid: Path, stage: str) -> dict[str, tuple[Path, dict]]:
    """The stage's finished runs with a history, by run name: (run folder, result)."""
    runs = {}
    for result_path in sorted((grid / stage / "runs").glob("*/result.json")):
        result = json.loads(result_path.read_text())
        has_history = (result_path.parent / "train" / "history.json").exists()
        if result.get("status") == "done" and has_history:
            runs[result["name"]] = (result_path.parent, result)
    return runs


def read_side(history: list[dict], steps_per_epoch: int, epochs: int) -> dict:
    """One run's best validation ESR within its first `epochs` epochs."""
    esr, best = best_validation_esr(history, epochs)
    ran = max(r["epoch"] for r in history)
    return {"steps_per_epoch": steps_per_epoch, "epochs": epochs, "best_epoch": best,
            "validation_esr": esr, "ran_epochs": ran}  # fmt: skip


def compare(grid: Path, stage_a: str, stage_b: str) -> list[dict]:
    """One row per run name the two stages share: A's whole run, B within A's steps."""
    a_runs, b_runs, cache, rows = stage_runs(grid, stage_a), stage_runs(grid, stage_b), {}, []
    for name in sorted(a_runs.keys() & b_runs.keys()):
        (a_history, a_steps), (b_history, b_steps) = [
            (load_history(run_dir / "train"), steps_per_epoch(run_dir, result, cache))
            for run_dir, result in (a_runs[name], b_runs[name])
        ]
        steps = max(r["epoch"] for r in a_history) * a_steps
        a = read_side(a_history, a_steps, steps // a_steps)
        b = read_side(b_history, b_steps, steps // b_steps)
        rows.append({"run": name, "steps": steps, "a": a, "b": b,
                     "ratio": a["validation_esr"] / b["validation_esr"]})  # fmt: skip
    return rows


def markdown(stage_a: str, stage_b: str, rows: list[dict]) -> str:
    lines = [
        f"# {stage_a} against {stage_b} at equal optimiser steps",
        "",
        "Written by `benchmarks/lean/equal_steps.py` from the runs' history.json: A's best",
        "validation ESR over its whole run; B's best within the same number of optimiser steps.",
        "",
        "| run | steps | A: steps/epoch | A: epochs (best) | A: validation ESR | B: steps/epoch "
        "| B: epochs in those steps (best; run had) | B: validation ESR | A / B |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, b = r["a"], r["b"]
        cells = [
            r["run"],
            r["steps"],
            a["steps_per_epoch"],
            f"{a['epochs']} ({a['best_epoch']})",
            f"{a['validation_esr']:.5f}",
            b["steps_per_epoch"],
            f"{b['epochs']} ({b['best_epoch']}; {b['ran_epochs']})",
            f"{b['validation_esr']:.5f}",
            f"{r['ratio']:.2f}",
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", type=Path)
    parser.add_argument("stage_a")
    parser.add_argument("stage_b")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: lean_equal_steps.md in results"
    )
    args = parser.parse_args()
    rows = compare(args.grid, args.stage_a, args.stage_b)
    if not rows:
        parser.exit(
            2,
            f"error: {args.grid}: {args.stage_a} and {args.stage_b} share no finished "
            "run with a history; name two stages that trained the same models\n",
        )
    out = args.out or RESULTS / "lean_equal_steps.md"
    write_text_atomic(out, markdown(args.stage_a, args.stage_b, rows))
    print(markdown(args.stage_a, args.stage_b, rows), end="")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
