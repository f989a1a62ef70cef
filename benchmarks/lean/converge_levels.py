"""Issue 16: the levels of the grid's trimming and pruning runs, trained on to convergence.

A structured-trimming step retrains for at most `epochs_per_iteration` epochs and a pruning level
stops at its early-bird epoch: neither is converged, while the dense front is. This trains each
kept level whose effective hidden size lies in `--sizes` (default 8..16, the budgets of a dense
LSTM-8 to LSTM-16) on to convergence with the grid's recipe (quick, early stopping after 10
validations, 30 CPU-minutes cap), from its trimmed or compressed weights, and records its test
ESR and the CPU seconds of that training. tables.py shows them as "<method> + converge", charged
the whole run that made the level plus this training.

Folder: GRID_DIR/converged/<run folder name>/level_XX/ (a trainer run; `result.json` when it is
finished, so running this again skips finished levels and resumes the one in progress).

    python benchmarks/lean/converge_levels.py [GRID_DIR] [--sizes 8-16] [--stage STAGE ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

# tables.py is the sibling script that reads the grid's runs and levels.
from tables import device_data, run_levels  # noqa: I001

from leanamp.files import write_text_atomic
from leanamp.formats.native import load_model
from leanamp.prune import compress
from leanamp.train import TrainConfig
from leanamp.workflows.training import train_on_data


def converge_level(result: dict, level: dict, out: Path, cache: dict) -> dict:
    """Train one level on to convergence (resuming a killed training); returns its record."""
    done = out / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    model, _ = load_model(level["model"])
    model = compress(model)  # a pruning level's dead units folded away; a trimmed one unchanged
    train = result["config"]["train"]
    config = TrainConfig.recipe("quick", **{k: v for k, v in train.items() if k != "seed"},
                                seed=result["config"]["seed"])  # fmt: skip
    data = device_data(result, cache)
    started = time.process_time()
    resume = (out / "run" / "checkpoint.pt").exists()
    summary = train_on_data(data, out, model, config, resume=resume, progress=False,
                            render_seconds=2.0)  # fmt: skip
    record = {
        "level": level["level"],
        "hidden_size": level["hidden_size"],
        "validation_esr_before": level["validation_esr"],
        "test_esr": summary["test_esr"],
        "epochs": summary["epochs"],
        "stopped_because": summary["stopped_because"],
        "cpu_seconds": time.process_time() - started,
        "resumed": resume,
    }
    write_text_atomic(done, json.dumps(record, indent=1))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", nargs="?", default="/work/leangrid", type=Path)
    parser.add_argument("--sizes", default="8-16", help="effective hidden sizes, LOW-HIGH")
    parser.add_argument("--stage", action="append", help="only these grid stages")
    args = parser.parse_args()
    low, high = (int(v) for v in args.sizes.split("-"))
    torch.set_num_threads(1)
    cache: dict = {}
    for path in sorted(args.grid.glob("*/runs/*/result.json")):
        stage = path.parents[2].name
        result = json.loads(path.read_text())
        if result.get("status") != "done" or (args.stage and stage not in args.stage):
            continue
        for level in run_levels(path.parent):
            if level["level"] == 0 or not low <= level["hidden_size"] <= high:
                continue
            out = args.grid / "converged" / path.parent.name / f"level_{level['level']:02d}"
            print(f"{stage}/{path.parent.name} level {level['level']} "
                  f"({level['hidden_size']} units) ...", flush=True)  # fmt: skip
            record = converge_level(result, level, out, cache)
            print(f"  test ESR {record['test_esr']:.4f} after {record['epochs']} epochs, "
                  f"{record['cpu_seconds']:.0f} CPU-s ({record['stopped_because']})", flush=True)
    print(f"wrote {args.grid / 'converged'}")


if __name__ == "__main__":
    main()
