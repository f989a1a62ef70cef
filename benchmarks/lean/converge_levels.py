"""Issue 16: the levels of the grid's trimming and pruning runs, trained on to convergence.

A structured-trimming step retrains for at most `epochs_per_iteration` epochs and a pruning level
stops at its early-bird epoch: neither is converged, while the dense front is. This trains each
kept level whose effective hidden size lies in `--sizes` (default 8..16, the budgets of a dense
LSTM-8 to LSTM-16) on to convergence with the grid's recipe (quick, early stopping after 10
validations, 30 CPU-minutes cap), from its trimmed or compressed weights, and records its test
ESR and the CPU seconds of that training. tables.py shows them as "<method> + converge", charged
the whole run that made the level plus this training.

Folder: GRID_DIR/converged/<run folder name>/level_XX/ (a trainer run; `result.json` when it is
finished, so running this again skips finished levels and resumes those in progress). `--jobs N`
trains N levels at once, one process and one thread each (each level has its own folder).

    python benchmarks/lean/converge_levels.py [GRID_DIR] [--sizes 8-16] [--stage STAGE ...]
                                              [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

# record.py is the sibling script that reads the grid's runs and levels.
from record import device_data, run_levels  # noqa: I001

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


def levels_to_train(grid: Path, low: int, high: int, stages: list[str] | None) -> list[dict]:
    """Every kept level (not level 0) of a finished pruning or trimming run of `stages` (all when
    None) whose effective hidden size lies in low..high, in grid order: its stage, run folder,
    run result, level and output folder."""
    found = []
    for path in sorted(grid.glob("*/runs/*/result.json")):
        stage, result = path.parents[2].name, json.loads(path.read_text())
        if (stages and stage not in stages) or result.get("status") != "done":
            continue
        for level in run_levels(path.parent):
            if level["level"] != 0 and low <= level["hidden_size"] <= high:
                out = grid / "converged" / path.parent.name / f"level_{level['level']:02d}"
                found.append({"stage": stage, "run_dir": path.parent, "result": result,
                              "level": level, "out": out})  # fmt: skip
    return found


_DATA: dict = {}  # a worker process's recordings, loaded once per device


def train_level(item: dict) -> dict:
    """converge_level for one item of levels_to_train, in a worker process of one thread."""
    torch.set_num_threads(1)
    return converge_level(item["result"], item["level"], item["out"], _DATA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", nargs="?", default="/work/leangrid", type=Path)
    parser.add_argument("--sizes", default="8-16", help="effective hidden sizes, LOW-HIGH")
    parser.add_argument("--stage", action="append", help="only these grid stages")
    parser.add_argument("--jobs", type=int, default=1, help="levels trained at once")
    args = parser.parse_args()
    low, high = (int(v) for v in args.sizes.split("-"))
    items = levels_to_train(args.grid, low, high, args.stage)
    todo = [item for item in items if not (item["out"] / "result.json").exists()]
    print(f"{len(items)} levels of {low}-{high} units, {len(items) - len(todo)} already trained "
          f"on, {len(todo)} to train ({args.jobs} at once, each up to its recipe's CPU cap)",
          flush=True)  # fmt: skip
    started = time.monotonic()
    # spawn: a fresh interpreter per worker, not a fork of one holding torch's thread pools
    with ProcessPoolExecutor(max(args.jobs, 1), multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for item in todo:
            print(f"{item['stage']}/{item['run_dir'].name} level {item['level']['level']} "
                  f"({item['level']['hidden_size']} units) queued", flush=True)  # fmt: skip
            futures[pool.submit(train_level, item)] = item
        for done, future in enumerate(as_completed(futures), 1):
            item, record = futures[future], future.result()
            print(f"[{done}/{len(todo)}] {item['run_dir'].name} level {record['level']} "
                  f"({record['hidden_size']} units): test ESR {record['test_esr']:.4f} after "
                  f"{record['epochs']} epochs, {record['cpu_seconds']:.0f} CPU-s "
                  f"({record['stopped_because']}); {(time.monotonic() - started) / 60:.0f} "
                  f"minutes elapsed", flush=True)  # fmt: skip
    print(f"wrote {args.grid / 'converged'}")


if __name__ == "__main__":
    main()
