"""Issue 16 tables: the dense front and every lean method against it, from the grid's sweep folders.

Reads GRID_DIR/<stage>/runs/*/result.json (written by `leanamp sweep`, see run_grid.sh; read by
`record.py`) and writes benchmarks/results/lean.md, lean.json (the record) and lean_<device>.png
(`plots.py`). Tables are marked partial while runs are missing. Prices come from `prices.py`,
intervals and tests from `comparisons.py`.

    python benchmarks/lean/tables.py [GRID_DIR]      (default /work/leangrid)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import record  # noqa: I001  (the sibling scripts of benchmarks/lean)
from comparisons import blocked_log_ratio, blocked_permutation_p, fmt_interval, welch_log_p
from plots import plot_across_pedals, plot_device
from prices import (
    engine_text,
    lstm_engine_rtfs,
    rtf_cell,
    rtf_text,
    timing_runs,
    wavenet_engine_rtfs,
)
from record import load_results, load_shrinks, read_record, shrink_name, with_recorded

from leanamp.files import write_text_atomic
from leanamp.models.wavenet import PRESET_CHANNELS

PLANNED_SEEDS = 3
FRONT_PATIENCE = 10  # validations without improvement that end a front run (the stages' recipe)
FRONT_CAP_MINUTES = 30  # the CPU-time cap of a front run (the stages' recipe)
# How a run that changed the grid's TrainConfig defaults (record.GRID_TRAIN_DEFAULTS) differs
# from the front, in words
TRAIN_CHANGES = {
    "lr_patience": lambda v: "no plateau halving" if v is None else f"halved after {v}",
    "validate_every": lambda v: "validated every epoch" if v == 1 else f"validated every {v}",
    "validation_metric": lambda v: f"best by validation {v.upper()}",
    "overlap_segments": lambda v: "every output trained" if v else "segments back to back",
}
GRID_WAVENET_RECIPE = (
    "WaveNets (\"the grid's NAM recipe\"): NAM's loss, learning rate, decay and batches, the same "
    "cap and early stopping; unlike NAM's trainer, validated every 2 epochs with the best model "
    "by the loss, the rate halved after 5 validations without improvement, and the segments "
    "back to back (a third of the outputs, each segment's receptive field, never trained)."
)
# The front issue 16 asks for (and NAM's presets): a table is partial until each has its seeds
PLANNED_LSTM_SIZES = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96)


def capped(row: dict) -> bool:
    """The run stopped on its CPU-time cap rather than by early stopping (not converged)."""
    return row["stopped_because"] in ("time", "max_epochs")


def cpus_of_runs(rows: list[dict]) -> str:
    """How many runs spent their CPU-seconds on which CPU: a CPU-second, and so the 30-minute cap,
    buys different work on different CPUs, and the grid moves between machines. Runs from before
    the ledger kept the CPU, and their attempts, count as "not recorded"."""
    counts = Counter(" and ".join(sorted({cpu or "not recorded" for cpu in cpus}))
                     for cpus in (row.get("cpus") or [None] for row in rows))  # fmt: skip
    return "; ".join(f"{cpu} {n}" for cpu, n in sorted(counts.items()))


def kept_by_validation(runs: list[dict]) -> dict:
    """The seed a user training them all would keep: the lowest validation loss."""
    return min(runs, key=lambda r: r["validation_loss"] if r["validation_loss"] is not None
               else math.inf)  # fmt: skip


def seed_columns(runs: list[dict]) -> str:
    """A front row's columns about its seeds: how many, test ESR, CPU-s, epochs, runs capped,
    and restarts: the seed a user would keep (lowest validation loss) with its test ESR and
    the CPU time of all the seeds."""
    runs = sorted(runs, key=lambda r: r["seed"])
    cpu = [r["cpu_seconds"] for r in runs if r["cpu_seconds"] is not None]
    kept = kept_by_validation(runs)
    esrs = [r["test_esr"] for r in runs]
    return (
        f"{len(runs)}/{PLANNED_SEEDS} | {fmt_interval(esrs)} | "
        f"{', '.join(f'{e:.4f}' for e in esrs)} | "
        f"{statistics.fmean(cpu):.0f} | {', '.join(str(r['epochs']) for r in runs)} | "
        f"{sum(capped(r) for r in runs)} | "
        f"{kept['test_esr']:.4f} (seed {kept['seed']}; {sum(cpu):.0f} CPU-s)"
    )


def is_front_run(row: dict) -> bool:
    return (row["method"] == "train" and row["architecture"] == "lstm"
            and row["patience"] == FRONT_PATIENCE)  # fmt: skip


def front_runs_by_size(rows: list[dict]) -> dict[int, list[dict]]:
    """The dense front's runs (`is_front_run`), by hidden size."""
    by_size = defaultdict(list)
    for row in rows:
        if is_front_run(row):
            by_size[row["size"]].append(row)
    return by_size


def patience_table(rows: list[dict]) -> list[str]:
    """The control of zendrive-front-patient: the front's sizes trained with more patience
    (empty before it ran). If they end lower, the front is not converged and lean methods
    that train longer win partly by that."""
    patient = defaultdict(list)
    front = front_runs_by_size(rows)
    for row in rows:
        if row["method"] == "train" and row["architecture"] == "lstm" and not is_front_run(row):
            patient[(row["size"], row["patience"])].append(row)
    lines = [
        "| LSTM hidden size | patience | seeds | test ESR (mean ± 95% CI) | per seed | epochs "
        f"| CPU-s | the front (patience {FRONT_PATIENCE}) per seed | p (Welch, log ESR) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (size, patience), runs in sorted(patient.items()):
        esrs = [r["test_esr"] for r in sorted(runs, key=lambda r: r["seed"])]
        base = [r["test_esr"] for r in sorted(front[size], key=lambda r: r["seed"])]
        lines.append(
            f"| {size} | {patience} | {len(runs)} | {fmt_interval(esrs)} | "
            f"{', '.join(f'{e:.4f}' for e in esrs)} | "
            f"{', '.join(str(r['epochs']) for r in sorted(runs, key=lambda r: r['seed']))} | "
            f"{statistics.fmean(r['cpu_seconds'] or 0 for r in runs):.0f} | "
            f"{', '.join(f'{e:.4f}' for e in base) or '-'} | {welch_log_p(esrs, base)} |"
        )
    return lines if patient else []


def front_table(rows: list[dict]) -> tuple[list[str], dict[int, list[float]]]:
    by_size = front_runs_by_size(rows)
    lines = [
        "| LSTM hidden size | seeds | test ESR (mean ± 95% CI) | per seed | CPU-s to converge "
        "| epochs | capped | best seed by validation (restarts) | kernel RTF fast / exact "
        "| RTNeural RTF (fastest build) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    front = {}
    for size in sorted(by_size):
        front[size] = [r["test_esr"] for r in by_size[size]]
        lines.append(
            f"| {size} | {seed_columns(by_size[size])} | {rtf_text(size)} | {engine_text(size)} |"
        )
    return lines, front


PRESET_NAMES = {channels: name for name, channels in PRESET_CHANNELS.items()}


def with_front_protocol(row: dict) -> bool:
    """Trained by the front's protocol: its CPU-time cap, early stopping and TrainConfig settings
    (runs recorded before the cap or the settings were kept had them)."""
    return (row.get("cap_minutes") in (None, FRONT_CAP_MINUTES)
            and row.get("patience", FRONT_PATIENCE) == FRONT_PATIENCE
            and not row.get("train_changes"))  # fmt: skip


def train_runs_by_size(rows: list[dict], architecture: str) -> dict[int, list[dict]]:
    """The models of `architecture` trained as they are (method train) by the front's protocol,
    by size: NAM's presets (nam_preset) or WaveNets of the standard's dilations (wavenet) by
    channel count."""
    by_size = defaultdict(list)
    for row in rows:
        if (row["method"] == "train" and row["architecture"] == architecture
                and with_front_protocol(row)):  # fmt: skip
            by_size[row["size"]].append(row)
    return by_size


def control_change(row: dict) -> str:
    """How a WaveNet control run's training differs from the front's."""
    changes = []
    if row.get("cap_minutes") not in (None, FRONT_CAP_MINUTES):
        changes.append(f"cap {row['cap_minutes']} CPU-min")
    patience = row.get("patience", FRONT_PATIENCE)
    if patience != FRONT_PATIENCE:
        changes.append("no early stopping" if patience is None else f"stopped after {patience}")
    changes += [TRAIN_CHANGES[key](value) for key, value in row.get("train_changes", {}).items()]
    return "; ".join(changes)


def wavenet_controls_table(rows: list[dict]) -> list[str]:
    """The controls of zendrive-wavenet-patient (4x the cap) and zendrive-wavenet-nam-recipe
    (NAM's trainer where the grid's differs, at the front's cap): WaveNets trained again, changed
    as `control_change` says, against the front's runs of their size and seed (empty before any
    ran). If they end much lower, the front is an upper bound of what the preset can do."""
    controls = sorted((r for r in rows if r["method"] == "train" and r["architecture"] != "lstm"
                       and not with_front_protocol(r)),
                      key=lambda r: (control_change(r), r["architecture"], r["size"]))  # fmt: skip
    lines = [
        "| WaveNet | seed | trained with | test ESR | epochs | stopped by | CPU-s "
        f"| the front's run ({FRONT_CAP_MINUTES} CPU-min): test ESR, epochs | control / front |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in controls:
        name = (PRESET_NAMES[run["size"]] if run["architecture"] == "nam_preset"
                else f"{run['size']} channels")
        front = [r for r in train_runs_by_size(rows, run["architecture"]).get(run["size"], [])
                 if r["seed"] == run["seed"]]  # fmt: skip
        base = (f"{front[0]['test_esr']:.4f}, {front[0]['epochs']}",
                f"{run['test_esr'] / front[0]['test_esr']:.2f}") if front else ("-", "-")
        lines.append(
            f"| {name} | {run['seed']} | {control_change(run)} | {run['test_esr']:.4f} "
            f"| {run['epochs']} | {'the cap' if capped(run) else 'early stopping'} "
            f"| {run['cpu_seconds'] or 0:.0f} | {base[0]} | {base[1]} |"
        )
    return lines if controls else []


def wavenet_front_table(rows: list[dict]) -> list[str]:
    """NAM's presets trained as they are (`train_runs_by_size`); empty before any ran."""
    by_size = train_runs_by_size(rows, "nam_preset")
    if not by_size:
        return []
    lines = [
        "| NAM WaveNet preset | seeds | test ESR (mean ± 95% CI) | per seed | CPU-s to converge "
        "| epochs | capped | best seed by validation (restarts) | kernel RTF fast "
        "| NAM Core RTF (fastest build) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sorted(by_size):
        rtf, nam_core = wavenet_engine_rtfs().get(("nam_preset", size), (None, None))
        lines.append(f"| {PRESET_NAMES[size]} | {seed_columns(by_size[size])} "
                     f"| {rtf_cell(rtf)} | {rtf_cell(nam_core)} |")
    return lines


def fixed_wavenet_table(rows: list[dict]) -> list[str]:
    """WaveNets of the standard preset's dilations at fewer channels (architecture wavenet), one
    model a width: what the slimmable WaveNets are set against; empty before any ran."""
    by_size = train_runs_by_size(rows, "wavenet")
    if not by_size:
        return []
    lines = [
        "| channels (standard's dilations) | seeds | test ESR (mean ± 95% CI) | per seed "
        "| CPU-s to converge | epochs | capped | best seed by validation (restarts) "
        "| kernel RTF fast | NAM Core RTF (fastest build) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sorted(by_size):
        rtf, nam_core = wavenet_engine_rtfs().get(("wavenet", size), (None, None))
        lines.append(f"| {size} | {seed_columns(by_size[size])} | {rtf_cell(rtf)} "
                     f"| {rtf_cell(nam_core)} |")
    return lines


def cost_front(rows: list[dict]) -> list[dict]:
    """A pedal's dense models priced in CPU: each LSTM size of the front, each NAM preset and
    each fixed WaveNet of the standard's dilations at leanamp's fast kernel's real-time factor,
    with the plugin engine's beside it, all from one interleaved run (`lstm_engine_rtfs`,
    `wavenet_engine_rtfs`: runs on a shared machine move by 1.5x, the ratios within one much
    less); cheapest first. A model is on the front when every cheaper one has a higher
    geometric-mean test ESR over its seeds: the leanest model for its accuracy. Sizes never
    timed are left out."""
    groups = {("lstm", size): runs for size, runs in front_runs_by_size(rows).items()}
    for architecture in ("nam_preset", "wavenet"):
        groups.update({(architecture, size): runs
                       for size, runs in train_runs_by_size(rows, architecture).items()})
    points = []
    for (architecture, size), runs in groups.items():
        if architecture == "lstm":
            rtf, engine = lstm_engine_rtfs().get(size, (None, None))
            model, short = f"LSTM-{size}", str(size)
        else:
            rtf, engine = wavenet_engine_rtfs().get((architecture, size), (None, None))
            model, short = ((f"WaveNet {PRESET_NAMES[size]}", PRESET_NAMES[size])
                            if architecture == "nam_preset"
                            else (f"WaveNet-{size} (standard's dilations)", f"{size} ch"))
        if rtf is not None:
            esrs = [r["test_esr"] for r in sorted(runs, key=lambda r: r["seed"])]
            points.append({"model": model, "short": short, "architecture": architecture,
                           "size": size,
                           "rtf": rtf, "engine_rtf": engine, "esrs": esrs,
                           "esr": statistics.geometric_mean(esrs),
                           "capped": sum(capped(r) for r in runs)})  # fmt: skip
    points.sort(key=lambda p: p["rtf"])
    best = math.inf
    for point in points:
        point["on_front"] = point["esr"] < best
        best = min(best, point["esr"])
    return points


def cost_table(points: list[dict]) -> list[str]:
    """`cost_front` as a table, cheapest first; capped: seeds that stopped on the CPU-time cap,
    not converged, so their ESR is an upper bound of what the size can do."""
    lines = [
        "| model | kernel RTF (leanamp, fast) | plugin engine RTF (fastest build) | seeds "
        "| test ESR (geometric mean) | per seed | capped | on the front |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p['model']} | {p['rtf']:.4f} | {rtf_cell(p['engine_rtf'])} | {len(p['esrs'])} "
            f"| {p['esr']:.4f} | "
            f"{', '.join(f'{e:.4f}' for e in p['esrs'])} | {p['capped']} | "
            f"{'yes' if p['on_front'] else ''} |"
        )
    return lines


def slim_rule(method: str) -> str:
    """The width rule of a slimmable run's method label ("slim (sandwich)" -> "sandwich")."""
    return method.removeprefix("slim ").strip("()")


def fixed_wavenet_esrs(rows: list[dict], width: int) -> list[float]:
    """Test ESRs of the fixed WaveNets of a width, with the standard preset's dilations and the
    front's cap (what the slimmable runs had): the `wavenet` train runs, and NAM's standard
    preset (the same model at 16 channels)."""
    fixed = train_runs_by_size(rows, "wavenet").get(width, [])
    if width == PRESET_CHANNELS["standard"]:
        fixed = fixed + train_runs_by_size(rows, "nam_preset").get(width, [])
    return [r["test_esr"] for r in fixed]


def slim_steps(run: dict) -> str:
    """Optimizer steps of a slimmable run: a uniform step trains one width, a sandwich or
    in-place step the largest width and others (`leanamp.models.widths`); "-" where the run's
    width counts were not kept (runs recorded before they were), "≥" where they cover a resumed
    run's last attempt only (runs made before the checkpoint kept them)."""
    draws = run.get("width_draws")
    if not draws:
        return "-"
    counts = {int(w): n for w, n in draws.items()}
    uniform = slim_rule(run["method"]) == "uniform"
    steps = sum(counts.values()) if uniform else counts[max(counts)]
    return f"≥{steps}" if run.get("width_draws_partial") else str(steps)


def slim_table(rows: list[dict]) -> list[str]:
    """Each slimmable WaveNet at the widths a fixed WaveNet was trained at, against those fixed
    models (the seeds' comparison: one model for every width against one model per width)."""
    slim = sorted((r for r in rows if r["method"].startswith("slim") and r["test_esr_by_width"]),
                  key=lambda r: (r["method"], r["seed"]))
    if not slim:
        return []
    lines = ["| slimmable rule | channels | seed | width | slim test ESR | fixed WaveNet test ESR "
             "(seeds) | slim / fixed (geometric mean) | kernel RTF fast at width "
             "| CPU-s slim (all widths) | epochs | steps |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in slim:
        for width in sorted(int(w) for w in run["test_esr_by_width"]):
            fixed = fixed_wavenet_esrs(rows, width)
            if not fixed:
                continue
            esr = run["test_esr_by_width"][str(width)]
            ratio = esr / statistics.geometric_mean(fixed)
            rtf = wavenet_engine_rtfs().get(("wavenet", width), (None, None))[0]
            lines.append(
                f"| {slim_rule(run['method'])} | {run['size']} "
                f"| {run['seed']} | {width} "
                f"| {esr:.4f} | {', '.join(f'{f:.4f}' for f in fixed)} | {ratio:.2f} "
                f"| {rtf_cell(rtf)} | {run['cpu_seconds'] or 0:.0f} | {run['epochs']} "
                f"| {slim_steps(run)} |"
            )
    return lines


def slim_esrs(rows: list[dict]) -> dict[tuple[str, int], list[float]]:
    """The slimmable runs' test ESRs by (rule, width), one per seed, sorted."""
    groups = defaultdict(list)
    for run in rows:
        if run["method"].startswith("slim") and run["test_esr_by_width"]:
            for width, esr in run["test_esr_by_width"].items():
                groups[(slim_rule(run["method"]), int(width))].append(esr)
    return dict(sorted(groups.items()))


def slim_curves(rows: list[dict]) -> dict[str, list[dict]]:
    """Each slimmable rule's one model as a curve over the priced widths: per width its price
    (the fixed WaveNet of the width in bench_engines' run) and the geometric mean of its seeds'
    test ESRs there."""
    prices = wavenet_engine_rtfs()
    curves = defaultdict(list)
    for (rule, width), esrs in slim_esrs(rows).items():
        if ("wavenet", width) in prices:
            curves[rule].append({"width": width, "rtf": prices[("wavenet", width)][0],
                                 "esr": statistics.geometric_mean(esrs), "seeds": len(esrs)})
    return dict(curves)


def slim_over_seeds_table(rows: list[dict]) -> list[str]:
    """Each slimmable rule at a width over its seeds against the fixed WaveNets of that width:
    the geometric-mean ratio and Welch's t-test on log ESR (`welch_log_p`)."""
    lines = [
        "| slimmable rule | width | seeds | slim test ESR (mean ± 95% CI) | fixed WaveNet "
        "(mean ± 95% CI, seeds) | slim / fixed (geometric means) | p (Welch, log ESR) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (rule, width), esrs in slim_esrs(rows).items():
        fixed = fixed_wavenet_esrs(rows, width)
        if fixed:
            ratio = statistics.geometric_mean(esrs) / statistics.geometric_mean(fixed)
            lines.append(
                f"| {rule} | {width} | {len(esrs)} | {fmt_interval(esrs)} | {fmt_interval(fixed)} "
                f"({len(fixed)}) | {ratio:.2f} | {welch_log_p(esrs, fixed)} |"
            )
    return lines


def nearest_front(front: dict[int, list[float]], size: int) -> tuple[int, float] | None:
    """The dense front's mean ESR at the largest trained size not above `size`."""
    fitting = [s for s in front if s <= size]
    if not fitting:
        return None
    best = max(fitting)
    return best, statistics.fmean(front[best])


def method_table(rows: list[dict], front: dict[int, list[float]]) -> list[str]:
    lines = [
        "| method | from | seed | effective hidden size | test ESR | CPU-s (all phases) "
        "| dense front at that size | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r["method"], r["size"], r["seed"])):
        if row["method"] == "train":
            continue
        size = row["hidden_size"] or row["size"]
        reference = nearest_front(front, size)
        if reference is None:
            verdict, ref_text = "no dense model that small yet", "-"
        else:
            ref_size, ref_esr = reference
            ratio = row["test_esr"] / ref_esr
            removes_units = not row["method"].startswith("distill")  # a student is built small
            verdict = (
                "no units removed" if size == row["size"] and removes_units
                else "beats the front" if ratio < 0.98
                else "matches the front" if ratio <= 1.02
                else "worse than the front"
            )  # fmt: skip
            ref_text = f"H={ref_size}: {ref_esr:.4f}"
        cpu = "-" if row["cpu_seconds"] is None else f"{row['cpu_seconds']:.0f}"
        if row["undercounted"]:
            cpu += " (resumed: last attempt only)"
        lines.append(
            f"| {row['method']} | {row['size']} | {row['seed']} | {size} | "
            f"{row['test_esr']:.4f} | {cpu} | {ref_text} | {verdict} |"
        )
    return lines


def dominating_dense(front: dict[int, list[float]], size: int, esr: float) -> int | None:
    """The smallest dense size, not above `size`, whose mean test ESR is at most `esr`."""
    return next((s for s in sorted(front) if s <= size and statistics.fmean(front[s]) <= esr),
                None)


def front_columns(front: dict[int, list[float]], size: int, esr: float) -> str:
    """The two last columns of a level's row: the dense front at or below its size, and the
    smallest dense size that matches or beats it."""
    below, beaten_by = nearest_front(front, size), dominating_dense(front, size, esr)
    trained = f"none (dense sizes trained: {', '.join(map(str, sorted(front)))})"
    return (f"{'-' if below is None else f'H={below[0]}: {below[1]:.4f}'} | "
            f"{trained if beaten_by is None else f'dense H={beaten_by}'} |")


def path_table(rows: list[dict], front: dict[int, list[float]]) -> list[str]:
    """Each pruning and trimming run level by level against the dense front: a level no trained
    dense model matches at its size or smaller is a lean model the front lacks."""
    lines = [
        "| method | seed | level | effective hidden size | validation ESR | test ESR "
        "| dense front at or below that size | matched or beaten by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r["method"], r["size"], r["seed"])):
        for level in row["levels"]:
            size = level["hidden_size"]
            lines.append(
                f"| {row['method']} from {row['size']} | {row['seed']} | {level['level']} | "
                f"{size} | {level['validation_esr']:.4f} | {level['test_esr']:.4f} | "
                + front_columns(front, size, level["test_esr"])
            )
    return lines


def converged_table(rows: list[dict], front: dict[int, list[float]]) -> list[str]:
    """Levels trained on to convergence, charged the whole run that made them plus that
    training, against the dense front."""
    lines = [
        "| method | seed | level | hidden size | test ESR as kept | test ESR converged "
        "| CPU-s (run + converging) | kernel RTF fast / exact | dense front at or below that size "
        "| matched or beaten by |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r["method"], r["size"], r["seed"])):
        for level in row["converged"]:
            size, esr = level["hidden_size"], level["test_esr"]
            cpu = (row["cpu_seconds"] or 0) + level["cpu_seconds"]
            lines.append(
                f"| {row['method']} + converge | {row['seed']} | {level['level']} | {size} | "
                f"{level['test_esr_before']:.4f} | {esr:.4f} | {cpu:.0f} | {rtf_text(size)} | "
                + front_columns(front, size, esr)
            )
    return lines


def lean_models(rows: list[dict]) -> list[dict]:
    """Every finished lean model of a size: distilled students, and the levels of pruning and
    trimming runs trained on to convergence (what a user of the method would ship); run_method
    is the method of the grid run that made it."""
    models = []
    for row in rows:
        if row["method"].startswith("distill"):
            models.append({"method": row["method"], "run_method": row["method"],
                           "size": row["hidden_size"] or row["size"],
                           "test_esr": row["test_esr"]})  # fmt: skip
        elif row["method"] != "train":
            models += [{"method": f"{row['method']} from {row['size']}, trained on",
                        "run_method": row["method"], "size": level["hidden_size"],
                        "test_esr": level["test_esr"]}
                       for level in row["converged"]]  # fmt: skip
    return models


def over_seeds_table(rows: list[dict], front: dict[int, list[float]]) -> list[str]:
    """Each lean method at a size over its seeds against the dense models of that size: the
    geometric-mean ratio and Welch's t-test on log ESR (`welch_log_p`)."""
    groups = lean_model_esrs(rows)
    lines = [
        "| lean method | hidden size | seeds | test ESR (mean ± 95% CI) | dense of that size "
        "(mean ± 95% CI, seeds) | lean / dense (geometric means) | p (Welch, log ESR) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (method, size, _), esrs in sorted(groups.items()):
        dense = front.get(size)
        if not dense:
            lines.append(f"| {method} | {size} | {len(esrs)} | {fmt_interval(esrs)} | "
                         "not trained | - | - |")  # fmt: skip
            continue
        ratio = statistics.geometric_mean(esrs) / statistics.geometric_mean(dense)
        lines.append(
            f"| {method} | {size} | {len(esrs)} | {fmt_interval(esrs)} | "
            f"{fmt_interval(dense)} ({len(dense)}) | {ratio:.2f} | {welch_log_p(esrs, dense)} |"
        )
    return lines


def lean_model_esrs(rows: list[dict]) -> dict[tuple[str, int, str], list[float]]:
    """Test ESRs of `lean_models` (students, levels trained on) by (method, hidden size, the grid
    run's method), one per run."""
    groups = defaultdict(list)
    for model in lean_models(rows):
        groups[(model["method"], model["size"], model["run_method"])].append(model["test_esr"])
    return groups


def kept_level_esrs(rows: list[dict]) -> dict[tuple[str, int, str], list[float]]:
    """Test ESRs of the pruning and trimming levels as kept, keyed as `lean_model_esrs`, one per
    run: each size at the first level that reached it, only where units were removed (a level of
    full size is the big model again, priced as it)."""
    groups = defaultdict(list)
    for row in rows:
        first_at_size = {}
        for level in row.get("levels") or []:
            if 0 < level["hidden_size"] < row["size"]:
                first_at_size.setdefault(level["hidden_size"], level["test_esr"])
        for size, esr in first_at_size.items():
            label = f"{row['method']} from {row['size']}, as kept"
            groups[(label, size, row["method"])].append(esr)
    return groups


def priced_lean_points(rows: list[dict]) -> list[dict]:
    """The lean models at leanamp's fast-kernel RTF of their size, for the plot: each of
    `lean_models` (students, levels trained on), and each size of the levels as kept
    (`kept_level_esrs`) at the geometric mean of its two or more runs (`as_kept`). Sizes never
    timed are left out."""
    rtfs = {size: fast for size, (fast, _) in lstm_engine_rtfs().items()}
    points = [{"run_method": m["run_method"], "rtf": rtfs[m["size"]], "esr": m["test_esr"],
               "as_kept": False} for m in lean_models(rows) if m["size"] in rtfs]
    points += [{"run_method": run_method, "rtf": rtfs[size],
                "esr": statistics.geometric_mean(esrs), "as_kept": True}
               for (_, size, run_method), esrs in kept_level_esrs(rows).items()
               if len(esrs) > 1 and size in rtfs]  # fmt: skip
    return points


def priced_lean_table(rows: list[dict], points: list[dict]) -> list[str]:
    """Each lean model of at least two seeds, priced at leanamp's fast-kernel RTF of its size
    (a compressed model is a dense LSTM of its live units), against `cost_front`'s dense models:
    the most accurate one that costs no more (lean / dense on geometric means, Welch's t on log
    ESR), and the cheapest one at least as accurate, with its price over the lean model's. A lean
    model pays where the first ratio is below 1. Sizes never timed are left out."""
    lines = [
        "| lean model | hidden size | seeds | test ESR (geometric mean) | per run | kernel RTF "
        "fast | best dense costing no more (geometric mean) | lean / it | p (Welch, log ESR) "
        "| cheapest dense as accurate (its price / the lean model's) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rtfs = {size: fast for size, (fast, _) in lstm_engine_rtfs().items()}
    groups = {**lean_model_esrs(rows), **kept_level_esrs(rows)}
    for (method, size, _), esrs in sorted(groups.items()):
        if len(esrs) < 2 or size not in rtfs:
            continue
        rtf, esr = rtfs[size], statistics.geometric_mean(esrs)
        cheaper = [p for p in points if p["rtf"] <= rtf]
        best = min(cheaper, key=lambda p: p["esr"]) if cheaper else None
        match = next((p for p in points if p["esr"] <= esr), None)
        lines.append(
            f"| {method} | {size} | {len(esrs)} | {esr:.4f} | "
            f"{', '.join(f'{e:.4f}' for e in esrs)} | {rtf:.4f} | "
            + (f"{best['model']}: {best['esr']:.4f} | {esr / best['esr']:.2f} | "
               f"{welch_log_p(esrs, best['esrs'])} | " if best else "none | - | - | ")
            + (f"{match['model']} ({match['rtf'] / rtf:.1f}x) |" if match else "none |")
        )
    return lines


def lean_and_dense_by_pedal(rows: list[dict]) -> dict[tuple[str, int], dict]:
    """(lean method, size) -> {pedal: (its lean models' test ESRs, the dense front's of that
    size)}, for every method and size found on two or more pedals with a dense model."""
    by_method = defaultdict(dict)
    for device in sorted({r["device"] for r in rows}):
        lstm_rows = [r for r in rows if r["device"] == device and r["architecture"] == "lstm"]
        _, front = front_table(lstm_rows)
        groups = defaultdict(list)
        for model in lean_models(lstm_rows):
            groups[(model["method"], model["size"])].append(model["test_esr"])
        for key, esrs in groups.items():
            if front.get(key[1]):
                by_method[key][device] = (esrs, front[key[1]])
    return {key: pedals for key, pedals in sorted(by_method.items()) if len(pedals) >= 2}


def across_pedals_table(groups: dict[tuple[str, int], dict]) -> list[str]:
    """Each lean method at a size (`lean_and_dense_by_pedal`), pooled with the pedal as a block
    (`blocked_log_ratio`, `blocked_permutation_p`)."""
    lines = [
        "| lean method | hidden size | pedals | lean / dense models | lean / dense (within a "
        "pedal, 95% CI) | p (t, pedal as a block) | p (labels shuffled within pedals) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (method, size), pedals in groups.items():
        fit = blocked_log_ratio(pedals)
        if fit is None:
            continue
        lean, dense = (sum(len(v[i]) for v in pedals.values()) for i in (0, 1))
        lines.append(
            f"| {method} | {size} | {', '.join(sorted(pedals))} | {lean} / {dense} | "
            f"{fit['ratio']:.2f} ({fit['low']:.2f}-{fit['high']:.2f}) | {fit['p']:.2f} | "
            f"{blocked_permutation_p(pedals):.2f} |"
        )
    return lines


def shrink_table(shrink: dict, rows: list[dict]) -> list[str]:
    """One `leanamp shrink` on a pedal (`load_shrinks`): every candidate,
    the choice, and the bar it must meet: the best dense model that fits the budget, trained with
    no more compute than the shrink had (its own dense candidates, and at every front size up to
    the plan's, the seed of the grid's converged runs a user would keep by validation, charged
    all the seeds; a dense leader trained on counts as one of its own)."""
    plan, summary = shrink["plan"], shrink["summary"]
    size = plan["size"]
    lines = [
        f"`leanamp shrink --max-rtf {plan['budget']['max_rtf']} --minutes {plan['minutes']:g}` "
        f"(`benchmarks/lean/shrink_pedals.sh`, in {shrink['folder']}/; method order "
        f"{', '.join(plan['method_order'])}): the plan measured the largest dense LSTM that "
        f"fits at {size} units; {summary['cpu_seconds'] / 60:.1f} CPU-minutes used in all"
        f"{' (recovered from the published table)' if shrink.get('recovered') else ''}.",
        "",
        "| candidate | validation ESR | test ESR | RTF (exact, as measured in the run) | units "
        "| fits | CPU-s (charged: with the big model, or the leader trained on) | chosen |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in summary["candidates"]:
        units = c["architecture"].get("hidden_size", "-")
        charged = c.get("cpu_seconds_charged")
        lines.append(
            f"| {c['name']} | {c['validation_esr']:.4f} | {c['test_esr']:.4f} | {c['rtf']:.4f} | "
            f"{units} | {'yes' if c['fits'] else 'no'} | {c['cpu_seconds']:.0f}"
            f"{'' if charged is None else f' ({charged:.0f})'} | "
            f"{'**chosen**' if c['name'] == summary['chosen'] else ''} |"
        )
    methods = {c["name"]: c["method"] for c in summary["candidates"]}
    # a dense leader trained on (shrink's train_on step) is one more dense model of its own
    dense = [c for c in summary["candidates"] if c["method"] in ("dense", "restart")
             or methods.get(c.get("leader")) in ("dense", "restart")]
    bars = [(f"its own {c['name']}", c["test_esr"]) for c in dense]
    fitting = {s: runs for s, runs in front_runs_by_size(rows).items() if s <= size}
    for front_size, runs in sorted(fitting.items()):
        if sum(r["cpu_seconds"] or 0 for r in runs) <= summary["cpu_seconds"]:
            kept = kept_by_validation(runs)
            bars.append((f"the grid's LSTM-{front_size} kept by validation of {len(runs)} "
                         f"seeds (seed {kept['seed']})", kept["test_esr"]))
    best_bar = min((esr for _, esr in bars), default=None)
    verdict = ("no bar yet" if best_bar is None
               else "no worse than the bar" if summary["test_esr"] <= best_bar * 1.02
               else "worse than the bar")  # fmt: skip
    text = "; ".join(f"{name}: {esr:.4f}" for name, esr in bars) or "none"
    lines += ["", f"Chosen: {summary['chosen']}, test ESR {summary['test_esr']:.4f}; the bar "
              f"(the best of): {text}: {verdict}.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", nargs="?", default="/work/leangrid", type=Path)
    args = parser.parse_args()
    recorded = read_record()
    rows = with_recorded(load_results(args.grid, {}), recorded.get("runs", []))
    shrinks = with_recorded(load_shrinks(args.grid), recorded.get("shrinks", []), shrink_name)
    if not rows:
        raise SystemExit(f"error: {args.grid}: no finished grid runs yet (run run_grid.sh)")
    record.RESULTS.mkdir(exist_ok=True)
    out = [
        "# The leanest model (issue 16): dense fronts and lean methods on the MorphDrive pedals",
        "",
        "Made by `benchmarks/lean/run_grid.sh` then `python benchmarks/lean/tables.py`. LSTMs, "
        "quick recipe (Adam 5e-3, batches of 8, clip 1; the paper's loss with its DC term pooled "
        "over the batch, leanamp's before 2026-12-04), early stopping after 10 validations "
        "without improvement, each run capped at 30 CPU-minutes on one thread (`capped` counts "
        "runs that hit the cap: not converged). Test ESR on the whole held-out clip guitar-funk2; "
        "validation clip guitar-chords. CPU-s: CPU time of the run's process, every phase "
        "included (a pruning run pays for training its big model). Real-time factors are thread "
        "CPU time over audio time at 48 kHz in 256-sample blocks, by size: leanamp's kernel from "
        "`benchmarks/bench_runtime.py` in the size tables, RTNeural from "
        "`benchmarks/bench_engines.py`; the CPU-priced tables take leanamp's and the engines' "
        "figures all from `bench_engines.py`, one interleaved run for LSTMs and WaveNets alike "
        f"(separate runs on this shared machine differ by up to 1.5x). {GRID_WAVENET_RECIPE}",
        "",
        f"Timing runs: {timing_runs()}. The CPU each run's CPU-seconds were spent on (runs): "
        f"{cpus_of_runs(rows)}.",
        "",
    ]
    recovered = [row for row in rows if row.get("recovered")]
    if recovered:
        out += [f"The levels and converged levels of {len(recovered)} runs, and the shrinks marked "
                "so, were recovered from the tables of lean.md at "
                f"{recovered[0]['recovered']} after their grid folder was lost: their ESRs carry "
                "4 decimals, their CPU-seconds whole seconds.", ""]  # fmt: skip
    for device in sorted({r["device"] for r in rows} | {s["device"] for s in shrinks}):
        device_rows = [r for r in rows if r["device"] == device]
        lstm_rows = [r for r in device_rows if r["architecture"] == "lstm"]  # the LSTM tables'
        front_lines, front = front_table(lstm_rows)
        presets = train_runs_by_size(device_rows, "nam_preset")
        partial = any(len(front.get(size, [])) < PLANNED_SEEDS for size in PLANNED_LSTM_SIZES) or (
            any(len(presets.get(c, [])) < PLANNED_SEEDS for c in PRESET_CHANNELS.values())
        )
        out += [f"## {device}{' (partial)' if partial else ''}", ""]
        out += [*front_lines, ""] if front else ["No dense front trained yet.", ""]
        control_lines = patience_table(lstm_rows)
        if control_lines:
            out += ["Is the front converged? Its sizes again with more patience:", "",
                    *control_lines, ""]  # fmt: skip
        wavenet_lines = wavenet_front_table(device_rows)
        if wavenet_lines:
            out += ["Dense WaveNet front (NAM's presets, the grid's NAM recipe):", "",
                    *wavenet_lines, ""]  # fmt: skip
        wavenet_control_lines = wavenet_controls_table(device_rows)
        if wavenet_control_lines:
            out += ["Are the WaveNets converged, and does the grid's plateau halving matter? "
                    "Some again, trained one other way:", "",
                    *wavenet_control_lines, ""]  # fmt: skip
        fixed_lines = fixed_wavenet_table(device_rows)
        if fixed_lines:
            out += ["Fixed WaveNets of the standard preset's dilations at fewer channels "
                    "(the grid's NAM recipe), one model a width:", "",
                    *fixed_lines, ""]  # fmt: skip
        slim_lines = slim_table(device_rows)
        if len(slim_lines) > 2:
            out += ["Slimmable WaveNets (the grid's NAM recipe) at the widths fixed "
                    "WaveNets were trained at (steps: optimizer steps; ≥ where a run resumed "
                    "before its checkpoint kept the widths trained, so they count its last "
                    "attempt only):", "",
                    *slim_lines, ""]  # fmt: skip
        slim_seed_lines = slim_over_seeds_table(device_rows)
        if len(slim_seed_lines) > 2:
            out += ["Each slimmable rule over its seeds against the fixed WaveNets of a width:", "",
                    *slim_seed_lines, ""]  # fmt: skip
        method_lines = method_table(lstm_rows, front)
        if len(method_lines) > 2:
            out += ["Lean methods against that front (the level each run chose on validation):",
                    "", *method_lines, ""]
        path_lines = path_table(lstm_rows, front)
        if len(path_lines) > 2:
            out += ["Every level of the pruning and trimming runs (test ESR measured on each "
                    "level's model; the run chose among them on validation):", "", *path_lines, ""]
        converged_lines = converged_table(lstm_rows, front)
        if len(converged_lines) > 2:
            out += ["Levels of 8-16 units trained on to convergence from their kept weights "
                    "(`benchmarks/lean/converge_levels.py`, the grid's recipe and early stopping):",
                    "", *converged_lines, ""]
        seeds_lines = over_seeds_table(lstm_rows, front)
        if len(seeds_lines) > 2:
            out += ["Each lean method over its seeds against the dense models of its size (lean "
                    "models: distilled students, and levels trained on to convergence):", "",
                    *seeds_lines, ""]  # fmt: skip
        for shrink in sorted((s for s in shrinks if s["device"] == device),
                             key=lambda s: s["folder"]):
            out += ["`leanamp shrink` on this pedal (issue 16, part 2):", "",
                    *shrink_table(shrink, lstm_rows)]  # fmt: skip
        points = cost_front(device_rows)
        if points:
            out += ["The dense models priced in CPU, cheapest first (RTFs from "
                    "`bench_engines.py`'s run; on the front: no cheaper model has a lower "
                    "geometric-mean test ESR):", "", *cost_table(points), ""]  # fmt: skip
        priced_lines = priced_lean_table(lstm_rows, points)
        if len(priced_lines) > 2:
            out += ["Every lean model of two or more runs priced like the dense ones: a row is "
                    "one size of a method over its runs (as kept: each run's first level of that "
                    "size, whichever level the run chose), so with this many rows an uncorrected "
                    "p below 0.05 can be chance:", "", *priced_lines, ""]  # fmt: skip
        if front:
            plot_device(device, lstm_rows, front, points, priced_lean_points(lstm_rows),
                        slim_curves(device_rows), record.RESULTS / f"lean_{device}.png")
            out += [f"![{device}](lean_{device}.png)", ""]
    groups = lean_and_dense_by_pedal(rows)
    if groups:
        plot_across_pedals(groups, record.RESULTS / "lean_across_pedals.png")
        out += ["## Across pedals", "",
                "Each lean method against the dense models of its size on every pedal that has "
                "both, the pedal as a block (log ESR = the pedal's level + the method's effect, "
                "least squares, one residual variance):", "", *across_pedals_table(groups), "",
                "![across pedals](lean_across_pedals.png)", ""]  # fmt: skip
    (record.RESULTS / "lean.md").write_text("\n".join(out))
    write_text_atomic(record.RESULTS / "lean.json",
                      json.dumps({"runs": rows, "shrinks": shrinks}, indent=1))
    print(f"wrote {record.RESULTS / 'lean.md'}, lean.json and lean_<device>.png ({len(rows)} runs, "
          f"{len(shrinks)} shrinks)")


if __name__ == "__main__":
    main()
