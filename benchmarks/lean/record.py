"""The grid's runs and the record: what `leanamp sweep` left in GRID/<stage>/runs/*/result.json,
flattened to the fields the tables use, and lean.json, which keeps them when a grid folder is lost.

A pruning or trimming run keeps the model of every level: each is run on the test clip once
(cached in the run's level_test_esr.json), so the whole path of a method, not only the level its
validation rule chose, is set against the dense front. lean.json is the record: every run with
its levels and converged levels, and every shrink. A grid folder lives on one machine and was once
lost with it; runs of the record that the grid folder lacks are kept (the grid's own run of a
name wins), so the grid can go on elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from leanamp.formats.native import load_model
from leanamp.train import evaluate
from leanamp.workflows.recordings import load_training_data

# The lean scripts' one results folder (tests point it elsewhere)
RESULTS = Path(__file__).resolve().parents[1] / "results"
# TrainConfig's defaults when the grid ran, which every stage kept unless it set them (WaveNets
# too, where NAM's trainer differs): a run's row keeps the settings it changed (`train_changes`).
GRID_TRAIN_DEFAULTS = {"lr_patience": 5, "validate_every": 2, "validation_metric": "loss",
                       "overlap_segments": False}  # fmt: skip


def method_label(config: dict) -> str:
    """The method, with the option that tells its variants apart (slimmable rule, unit-aware
    pruning, the distillation teacher)."""
    method, options = config["method"], config.get("method_options") or {}
    if method == "slim":
        return f"slim ({options.get('rule', 'uniform')})"
    if method == "prune" and options.get("unit_aware"):
        return "prune (unit-aware)"
    if method == "distill":
        teacher = "file" if "teacher_model" in options else options.get("teacher_size", 32)
        return f"distill (from {teacher})"
    return method


def charged_cpu_seconds(result: dict) -> float | None:
    """All the compute of a run: its process's CPU time with that of a front model it started
    from (cpu_seconds_borrowed), or the phases it recorded when they say more (a distillation
    teacher loaded from a file or a front was trained elsewhere)."""
    own = result.get("cpu_seconds")
    if own is None:
        return None
    own += result.get("cpu_seconds_borrowed", 0.0)
    charged = result["metrics"].get("cpu_seconds_charged")
    return own if charged is None else max(own, charged)


def train_changes(train: dict) -> dict:
    """The TrainConfig settings a run changed from the grid's (`GRID_TRAIN_DEFAULTS`)."""
    return {key: train[key] for key, default in GRID_TRAIN_DEFAULTS.items()
            if train.get(key, default) != default}  # fmt: skip


def load_results(grid: Path, cache: dict) -> list[dict]:
    """Every finished run of every stage, flattened to the fields the tables use, with its
    levels (`level_test_esrs`) and the levels converge_levels.py trained on."""
    rows = []
    for path in sorted(grid.glob("*/runs/*/result.json")):
        result = json.loads(path.read_text())
        if result.get("status") != "done":
            continue
        config, metrics = result["config"], result["metrics"]
        levels = level_test_esrs(path.parent, result, cache)
        rows.append(
            {
                "stage": path.parents[2].name,
                "device": config["device"]["name"],
                "architecture": config["architecture"],
                "size": config["size"],
                "method": method_label(config),
                "seed": config["seed"],
                "test_esr": metrics["test_esr"],
                "validation_loss": metrics.get("best_validation_loss"),
                "hidden_size": metrics.get("effective_hidden_size") or metrics.get("hidden_size"),
                "parameters": metrics.get("nonzero_parameters", metrics.get("parameters")),
                "epochs": metrics.get("epochs"),
                "patience": config["train"].get("early_stop_patience"),
                "cap_minutes": config["train"].get("max_minutes"),
                "train_changes": train_changes(config["train"]),
                "stopped_because": metrics.get("stopped_because", ""),
                "cpu_seconds": charged_cpu_seconds(result),
                # Resumed before runs kept a CPU ledger: only the last attempt was counted
                "undercounted": result.get("resumed", False)
                and not result.get("cpu_seconds_complete", False),
                "rtf": metrics.get("rtf"),
                # slimmable runs: the test ESR and kernel RTF at every width
                "test_esr_by_width": metrics.get("test_esr_by_width"),
                "rtf_by_width": metrics.get("rtf_by_width"),
                # how often each width was trained; "width_draws", its name before resumed runs
                # kept their counts, holds a resumed run's last attempt only (partial)
                "width_draws": metrics.get("width_counts", metrics.get("width_draws")),
                "width_draws_partial": "width_draws" in metrics
                and len(result.get("cpus") or []) > 1,
                "cpus": result.get("cpus"),  # the CPU of each attempt (None: not recorded)
                "run_dir": str(path.parent),
                "levels": levels,
                "converged": converged_levels(path.parent, levels),
            }
        )
    return rows


def run_name(row: dict) -> str:
    """A run's identity across grid folders: sweep names a run by its config's hash."""
    return Path(row["run_dir"]).name


def shrink_name(shrink: dict) -> tuple[str, str]:
    """A shrink's identity: its folder and pedal (GRID/<folder>/<pedal>)."""
    return shrink["folder"], shrink["device"]


def with_recorded(found: list[dict], recorded: list[dict], name=run_name) -> list[dict]:
    """What the grid folder holds and the recorded records it lacks, by `name` (`lean.json`, see
    the module docstring)."""
    names = {name(item) for item in found}
    return found + [item for item in recorded if name(item) not in names]


def read_record() -> dict:
    """The record (`lean.json`: its runs and shrinks); empty before tables.py first wrote it."""
    path = RESULTS / "lean.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_shrinks(grid: Path) -> list[dict]:
    """Every finished `leanamp shrink` of shrink_pedals.sh (GRID/<folder>/<pedal>): its plan and
    summary."""
    return [{"folder": path.parent.parent.name, "device": path.parent.name,
             "plan": json.loads((path.parent / "plan.json").read_text()),
             "summary": json.loads(path.read_text())}
            for path in sorted(grid.glob("shrink*/*/shrink.json"))]  # fmt: skip


def run_levels(run_dir: Path) -> list[dict]:
    """Every level a pruning (search/iteration_*) or trimming (structured/iteration_*) run kept:
    its model file, effective hidden size and validation ESR; empty for other runs."""
    search, trimmed = run_dir / "search", run_dir / "structured" / "structured.json"
    if search.is_dir():
        paths = sorted(search.glob("iteration_*/record.json"))
        return [{"level": r["level"], "hidden_size": r["effective_hidden_size"],
                 "validation_esr": r["validation_esr"], "model": path.parent / "model.leanamp"}
                for path, r in ((path, json.loads(path.read_text())) for path in paths)]
    if trimmed.exists():
        records = json.loads(trimmed.read_text())["records"]
        return [{"level": r["iteration"], "hidden_size": r["units"]["lstm"],
                 "validation_esr": r["validation_esr"],
                 "model": trimmed.parent / f"iteration_{r['iteration']:02d}" / "model.leanamp"}
                for r in records]
    return []


def device_data(result: dict, cache: dict):
    """The run's recordings, split as it was trained (loaded once per device)."""
    device = result["config"]["device"]
    key = json.dumps(device, sort_keys=True)
    if key not in cache:
        base = Path(result["config"]["base_dir"])
        cache[key] = load_training_data(
            base / device["input"], base / device["target"], device.get("target_prefix", ""),
            validation=device.get("validation"), test=device.get("test"),
        )  # fmt: skip
    return cache[key]


def level_test_esrs(run_dir: Path, result: dict, cache: dict) -> list[dict]:
    """run_levels with each level's test ESR (whole held-out clips), measured once and kept in
    the run's level_test_esr.json: the table shows a method's whole path, the choice among the
    levels is still the run's own (on validation). The model paths are dropped: the record
    keeps the rest."""
    levels = run_levels(run_dir)
    cached_path = run_dir / "level_test_esr.json"
    cached = json.loads(cached_path.read_text()) if cached_path.exists() else {}
    for level in levels:
        key, model_path = str(level["level"]), level.pop("model")
        if key not in cached:
            model, _ = load_model(model_path)
            cached[key] = evaluate(model, device_data(result, cache).test).overall
        level["test_esr"] = cached[key]
    if levels:
        cached_path.write_text(json.dumps(cached, indent=1))
    return levels


def converged_levels(run_dir: Path, levels: list[dict]) -> list[dict]:
    """The run's levels trained on to convergence by converge_levels.py, with their test ESR
    before that training (from `levels`); empty when it has not run."""
    folder = run_dir.parents[2] / "converged" / run_dir.name
    before = {str(lv["level"]): lv["test_esr"] for lv in levels}
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("level_*/result.json"))]
    return [{**r, "test_esr_before": before[str(r["level"])]} for r in records]
