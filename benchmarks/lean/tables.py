"""Issue 16 tables: the dense front and every lean method against it, from the grid's sweep folders.

Reads GRID_DIR/<stage>/runs/*/result.json (written by `leanamp sweep`, see run_grid.sh) and writes
benchmarks/results/lean.md, lean.json and lean_<device>.png. Tables are marked partial while
runs are missing. A pruning or trimming run keeps the model of every level: each is run on the
test clip once (cached in the run's level_test_esr.json), so the whole path of a method, not
only the level its validation rule chose, is set against the dense front.

lean.json is the record: every run with its levels and converged levels, and every shrink. A
grid folder lives on one machine and was once lost with it; runs of the record that the grid
folder lacks are kept (the grid's own run of a name wins), so the grid can go on elsewhere.
Intervals: mean over seeds +- t(0.975, n-1) * sd / sqrt(n) (Student's t), shown
only with 2 or more seeds.

    python benchmarks/lean/tables.py [GRID_DIR]      (default /work/leangrid)
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from leanamp.files import write_text_atomic
from leanamp.formats.native import load_model
from leanamp.models.wavenet import PRESET_CHANNELS, PRESETS
from leanamp.train import evaluate
from leanamp.workflows.recordings import load_training_data

RESULTS = Path(__file__).resolve().parents[1] / "results"
PLANNED_SEEDS = 3
FRONT_PATIENCE = 10  # validations without improvement that end a front run (the stages' recipe)
FRONT_CAP_MINUTES = 30  # the CPU-time cap of a front run (the stages' recipe)
# TrainConfig's defaults when the grid ran, which every stage kept unless it set them (WaveNets
# too, where NAM's trainer differs), and how a run that set them differs from the front.
GRID_TRAIN_DEFAULTS = {"lr_patience": 5, "validate_every": 2, "validation_metric": "loss",
                       "overlap_segments": False}  # fmt: skip
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


def interval(values: list[float]) -> tuple[float, float | None]:
    """(mean, half-width of the 95% t-interval; None for a single value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, half


def welch_log_p(a: list[float], b: list[float]) -> str:
    """Welch's t-test of two sets of ESRs on log ESR (ESR spreads over decades across seeds, so
    its logarithm is the scale on which seeds scatter evenly); "-" below 2 values a side."""
    if len(a) < 2 or len(b) < 2:
        return "-"
    p = stats.ttest_ind(np.log(a), np.log(b), equal_var=False).pvalue
    return f"{p:.2f}" if p >= 0.01 else f"{p:.0e}"  # "0.00" would read as no chance at all


def fmt_interval(values: list[float]) -> str:
    mean, half = interval(values)
    return f"{mean:.4f}" if half is None else f"{mean:.4f} ± {half:.4f}"


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


def timing_runs() -> str:
    """When and on which CPU the RTFs of the tables were taken (the results' meta)."""
    runs = []
    for script, name, key in (("bench_runtime.py", "runtime.json", "machine"),
                              ("bench_engines.py", "engines.json", "cpu")):  # fmt: skip
        path = RESULTS / name
        if path.exists():
            meta = json.loads(path.read_text())["meta"]
            runs.append(f"`{script}` {meta['date']} on {meta.get(key, 'an unrecorded CPU')}")
    return "; ".join(runs) or "none yet"


@functools.cache
def kernel_rtfs() -> dict[int, tuple[float, float]]:
    """(fast, exact) real-time factor of leanamp's streaming LSTM kernel by hidden size, thread
    CPU time, from benchmarks/bench_runtime.py's last run (runtime.json, a quiet machine): a
    dense kernel's speed depends on its size only, so one timing serves every model of a size
    (the grid's own timings were taken under load)."""
    path = RESULTS / "runtime.json"
    if not path.exists():
        return {}
    return {r["hidden"]: (r["cpu_fast"], r["cpu_exact"])
            for r in json.loads(path.read_text())["hidden"]}


@functools.cache
def engine_rows() -> list[dict]:
    """The rows of benchmarks/bench_engines.py's last run (engines.json): leanamp's kernels and
    the plugin engines, LSTMs and WaveNets timed in one interleaved run; [] before any ran."""
    path = RESULTS / "engines.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def fastest_build(row: dict, engine: str) -> float | None:
    """The lowest real-time factor (thread CPU time) among `engine`'s builds in an engines row,
    None if that engine did not run the model."""
    return min((v for k, v in row["rtf_cpu"].items() if k.startswith(engine)), default=None)


def lstm_engine_rtfs() -> dict[int, tuple[float, float | None]]:
    """(leanamp's fast kernel, RTNeural's fastest build) real-time factor by LSTM size (AIDA-X
    and the GuitarML plugins run RTNeural): one interleaved run with the WaveNets, so their
    prices compare."""
    return {int(r["name"].split("H")[-1]): (r["rtf_cpu"]["leanamp fast"],
                                             fastest_build(r, "RTNeural"))
            for r in engine_rows() if r["kind"] == "lstm"}  # fmt: skip


def rtf_cell(rtf: float | None) -> str:
    return "not timed" if rtf is None else f"{rtf:.4f}"


def engine_text(size: int) -> str:
    return rtf_cell(lstm_engine_rtfs().get(size, (None, None))[1])


def rtf_text(size: int) -> str:
    rtf = kernel_rtfs().get(size)
    return "not timed" if rtf is None else f"{rtf[0]:.4f} / {rtf[1]:.4f}"


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


def wavenet_engine_rtfs() -> dict[tuple[str, int], tuple[float, float | None]]:
    """(leanamp's fast kernel, NAM Core's fastest build) real-time factor, thread CPU time, from
    `engine_rows`, by (architecture, size) as the grid names WaveNets: ("nam_preset", channels)
    for NAM's presets ("WaveNet lite"), ("wavenet", channels) for the standard's dilations at
    other widths ("WaveNet 8 channels"), the standard itself both ("wavenet", 16) and
    ("nam_preset", 16): one model."""
    rtfs = {}
    for row in engine_rows():
        name = row["name"].removeprefix("WaveNet ")
        if row["kind"] != "wavenet":
            continue
        price = (row["rtf_cpu"]["leanamp fast"], fastest_build(row, "NAM Core"))
        if name in PRESETS:
            rtfs[("nam_preset", PRESET_CHANNELS[name])] = price
            if name == "standard":
                rtfs[("wavenet", PRESET_CHANNELS[name])] = price
        elif name.endswith(" channels"):
            rtfs[("wavenet", int(name.split()[0]))] = price
    return rtfs


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


SLIM_COLORS = {"uniform": "C5", "sandwich": "C6", "inplace": "C8"}  # apart from the methods'


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


def converged_levels(run_dir: Path, levels: list[dict]) -> list[dict]:
    """The run's levels trained on to convergence by converge_levels.py, with their test ESR
    before that training (from `levels`); empty when it has not run."""
    folder = run_dir.parents[2] / "converged" / run_dir.name
    before = {str(lv["level"]): lv["test_esr"] for lv in levels}
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("level_*/result.json"))]
    return [{**r, "test_esr_before": before[str(r["level"])]} for r in records]


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


def blocked_log_ratio(pedals: dict[str, tuple[list[float], list[float]]]) -> dict | None:
    """Lean against dense over several pedals, pedal as a block: least squares on
        log ESR = pedal's own level + b * [lean model]
    with one residual variance (Student's t, n - pedals - 1 degrees of freedom). exp(b) is the
    lean / dense ratio of geometric means within a pedal, with its 95% interval; on one pedal
    this is Student's two-sample t-test. `pedals`: name -> (lean ESRs, dense ESRs). None when
    no degree of freedom is left."""
    names = sorted(pedals)
    y, design = [], []
    for i, name in enumerate(names):
        for is_lean, esrs in ((1.0, pedals[name][0]), (0.0, pedals[name][1])):
            for esr in esrs:
                y.append(math.log(esr))
                design.append([1.0 if j == i else 0.0 for j in range(len(names))] + [is_lean])
    x, y = np.array(design), np.array(y)
    dof = len(y) - x.shape[1]
    if dof < 1:
        return None
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual_variance = float(np.sum((y - x @ coef) ** 2)) / dof
    se = math.sqrt(residual_variance * np.linalg.inv(x.T @ x)[-1, -1])
    b, t_crit = float(coef[-1]), float(stats.t.ppf(0.975, dof))
    if se == 0:  # every group without scatter: only a made-up grid
        p = 1.0 if b == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(b) / se, dof))
    return {"ratio": math.exp(b), "low": math.exp(b - t_crit * se),
            "high": math.exp(b + t_crit * se), "p": p, "dof": dof}


def blocked_effect(pedals: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """`blocked_log_ratio`'s b in closed form: the pedals' differences of mean log ESR (lean
    minus dense), weighted by n_lean * n_dense / n (least squares with a level per pedal)."""
    weights = [len(a) * len(b) / (len(a) + len(b)) for a, b in pedals]
    diffs = [a.mean() - b.mean() for a, b in pedals]
    return float(np.dot(weights, diffs) / sum(weights))


def blocked_permutation_p(pedals: dict[str, tuple[list[float], list[float]]],
                          samples: int = 20000) -> float:
    """Two-sided p of `blocked_effect` when the lean/dense labels are shuffled within each pedal
    (no assumption on how log ESR scatters: the seeds' two basins make it far from normal).
    Every relabelling when there are at most `samples`, else that many drawn at random."""
    logs = [np.log(np.array([*lean, *dense])) for lean, dense in pedals.values()]
    sizes = [len(lean) for lean, _ in pedals.values()]
    observed = abs(blocked_effect([(v[:n], v[n:]) for v, n in zip(logs, sizes, strict=True)]))
    choices = [list(itertools.combinations(range(len(values)), n))
               for values, n in zip(logs, sizes, strict=True)]  # fmt: skip
    total = math.prod(len(c) for c in choices)
    if total <= samples:
        labellings = itertools.product(*choices)
    else:
        rng = np.random.default_rng(0)
        labellings = ([c[rng.integers(len(c))] for c in choices] for _ in range(samples))
    hits = count = 0
    for labelling in labellings:
        split = []
        for values, lean in zip(logs, labelling, strict=True):
            mask = np.zeros(len(values), bool)
            mask[list(lean)] = True
            split.append((values[mask], values[~mask]))
        hits += abs(blocked_effect(split)) >= observed - 1e-12
        count += 1
    return hits / count


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


def plot_across_pedals(groups: dict[tuple[str, int], dict], path: Path) -> None:
    """Forest plot: lean / dense with its 95% interval for each method and size, on each pedal
    (Student's t on log ESR, `blocked_log_ratio` of one pedal) and pooled (filled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = []  # (label, fit, pooled)
    for (method, size), pedals in groups.items():
        entries.append((f"{method}, {size} units, pooled", blocked_log_ratio(pedals), True))
        for pedal in sorted(pedals):
            entries.append((pedal, blocked_log_ratio({pedal: pedals[pedal]}), False))
    entries = [e for e in entries if e[1] is not None]
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(entries) + 1.2))
    for y, (_, fit, pooled) in enumerate(reversed(entries)):
        spread = [[fit["ratio"] - fit["low"]], [fit["high"] - fit["ratio"]]]
        ax.errorbar(fit["ratio"], y, xerr=spread, fmt="D" if pooled else "o",
                    color="C3" if pooled else "C0", markersize=6 if pooled else 4,
                    capsize=2)  # fmt: skip
    ax.set_yticks(range(len(entries)), [label for label, _, _ in reversed(entries)], fontsize=7)
    ax.axvline(1.0, color="grey", linewidth=1)
    ax.set_xscale("log")
    for y, (_, _, pooled) in enumerate(reversed(entries)):
        if pooled and y < len(entries) - 1:  # a line between one method's group and the next
            ax.axhline(y + 0.5, color="grey", linewidth=0.5, alpha=0.5)
    ax.set_xlabel("test ESR, lean / dense of its size (95% CI; below 1: lean better)")
    ax.set_title("Lean methods against dense models of their size, per pedal and pooled",
                 fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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


def plot_device(device: str, rows: list[dict], front: dict[int, list[float]],
                points: list[dict], slim: dict[str, list[dict]], path: Path) -> None:
    """Left: the LSTM methods against the dense front by effective size. Right: the same
    accuracy against CPU price (`cost_front`): the dense LSTMs, NAM's presets and the fixed
    WaveNets at their kernel's real-time factor, each lean model at the price of its
    effective size, and each slimmable rule's model across its widths (`slim_curves`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, (ax, cost_ax) = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    # Seeds spread over decades: each seed is a dot, the line joins geometric means (an
    # arithmetic mean's t-interval would reach below zero on this log scale).
    sizes = sorted(front)
    ax.plot(sizes, [statistics.geometric_mean(front[s]) for s in sizes], marker="o",
            color="C0", label="dense, converged (geometric mean; dots: seeds)")  # fmt: skip
    ax.scatter([s for s in sizes for _ in front[s]], [e for s in sizes for e in front[s]],
               color="C0", s=14, alpha=0.6, zorder=3)  # fmt: skip
    markers = {"prune": "s", "prune (unit-aware)": "v", "structured": "^"}
    methods = sorted({r["method"] for r in rows} - {"train"})
    for index, method in enumerate(methods):
        points_of = [r for r in rows if r["method"] == method]
        ax.scatter(
            [r["hidden_size"] or r["size"] for r in points_of],
            [r["test_esr"] for r in points_of],
            marker=markers.get(method, "D" if method.startswith("distill") else "o"), s=60,
            label=method, zorder=3,
            color=f"C{index + 1}", facecolors="none",
        )
    for row in rows:  # each pruning or trimming run's whole path, level by level
        levels = [lv for lv in row["levels"] if lv["hidden_size"] > 0]
        if levels and row["method"] != "train":
            index = methods.index(row["method"])
            ax.plot([lv["hidden_size"] for lv in levels], [lv["test_esr"] for lv in levels],
                    color=f"C{index + 1}", alpha=0.4, linewidth=1, marker=".")
            converged = row["converged"]
            ax.scatter([lv["hidden_size"] for lv in converged],
                       [lv["test_esr"] for lv in converged],
                       color=f"C{index + 1}", marker="*", s=90, zorder=4)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("LSTM hidden size (effective)")
    ax.set_ylabel("test ESR (guitar-funk2)")
    ax.set_title(f"{device}: lean methods against the dense front", fontsize=10)
    ax.scatter([], [], color="grey", marker="*", s=90, label="a level trained on to convergence")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)

    for architecture, color, marker, label in (
        ("lstm", "C0", "o", "dense LSTMs"), ("nam_preset", "C9", "s", "NAM WaveNet presets"),
        ("wavenet", "C7", "D", "WaveNets of the standard's dilations"),
    ):
        family = [p for p in points if p["architecture"] == architecture]
        if not family:  # not trained on this pedal: no legend entry either
            continue
        # no joining line: sizes of one price (4-16 units) would draw it up and down in place
        cost_ax.plot([p["rtf"] for p in family], [p["esr"] for p in family], marker=marker,
                     linestyle="none", color=color,
                     label=f"{label} (geometric mean; dots: seeds)")  # fmt: skip
        cost_ax.scatter([p["rtf"] for p in family for _ in p["esrs"]],
                        [e for p in family for e in p["esrs"]], color=color, s=12, alpha=0.5)
        for p in family:
            # presets' labels below, fixed WaveNets' to the left: "8 ch" sits on feather's point
            offset, align = {"lstm": ((3, 3), "left"), "nam_preset": ((3, -8), "left"),
                             "wavenet": ((-4, 3), "right")}[architecture]  # fmt: skip
            cost_ax.annotate(p["short"], (p["rtf"], p["esr"]), fontsize=6, xytext=offset,
                             ha=align, textcoords="offset points")
    on_front = [p for p in points if p["on_front"]]
    cost_ax.step([p["rtf"] for p in on_front], [p["esr"] for p in on_front], where="post",
                 color="black", linestyle="--", linewidth=1, label="the leanest for its ESR")
    lean = [m for m in lean_models(rows) if m["size"] in lstm_engine_rtfs()]
    for index, method in enumerate(methods):
        of_method = [m for m in lean if m["run_method"] == method]
        cost_ax.scatter([lstm_engine_rtfs()[m["size"]][0] for m in of_method],
                        [m["test_esr"] for m in of_method], color=f"C{index + 1}", marker="*",
                        s=60, zorder=4)  # fmt: skip
    cost_ax.scatter([], [], color="grey", marker="*", s=60,
                    label="lean models (students, levels trained on), by method colour")
    kept = [(size, esrs, run_method) for (_, size, run_method), esrs
            in kept_level_esrs(rows).items() if len(esrs) > 1 and size in lstm_engine_rtfs()]
    for size, esrs, run_method in kept:
        cost_ax.scatter(lstm_engine_rtfs()[size][0], statistics.geometric_mean(esrs),
                        edgecolors=f"C{methods.index(run_method) + 1}", facecolors="none",
                        marker="P", s=50, zorder=4)  # fmt: skip
    if kept:
        cost_ax.scatter([], [], edgecolors="grey", facecolors="none", marker="P", s=50,
                        label="levels as kept (geometric mean of 2+ runs), by method colour")
    for rule, curve in slim.items():  # one model per rule: its widths joined
        widths, seeds = f"{curve[0]['width']}-{curve[-1]['width']}", curve[0]["seeds"]
        cost_ax.plot([p["rtf"] for p in curve], [p["esr"] for p in curve], marker="x",
                     linestyle=":", color=SLIM_COLORS[rule],
                     label=f"slimmable WaveNet, {rule} rule, widths {widths} ({seeds} seeds)")
    cost_ax.set_xscale("log")
    # plain labels at the round prices within the data: the log axis's minor labels collided
    low, high = cost_ax.get_xlim()
    round_prices = (0.002, 0.003, 0.005, 0.007, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
    ticks = [t for t in round_prices if low <= t <= high]
    cost_ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    cost_ax.xaxis.set_minor_formatter(NullFormatter())
    cost_ax.set_xlabel("real-time factor, leanamp's kernel (thread CPU time / audio time)")
    cost_ax.set_title(f"{device}: accuracy against CPU price", fontsize=10)
    cost_ax.grid(True, which="both", alpha=0.3)
    cost_ax.legend(fontsize=7)
    low, high = cost_ax.get_ylim()
    cost_ax.set_ylim(low, high * 4)  # headroom (both panels): the legends above the data
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", nargs="?", default="/work/leangrid", type=Path)
    args = parser.parse_args()
    record = read_record()
    rows = with_recorded(load_results(args.grid, {}), record.get("runs", []))
    shrinks = with_recorded(load_shrinks(args.grid), record.get("shrinks", []), shrink_name)
    if not rows:
        raise SystemExit(f"error: {args.grid}: no finished grid runs yet (run run_grid.sh)")
    RESULTS.mkdir(exist_ok=True)
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
            plot_device(device, lstm_rows, front, points, slim_curves(device_rows),
                        RESULTS / f"lean_{device}.png")
            out += [f"![{device}](lean_{device}.png)", ""]
    groups = lean_and_dense_by_pedal(rows)
    if groups:
        plot_across_pedals(groups, RESULTS / "lean_across_pedals.png")
        out += ["## Across pedals", "",
                "Each lean method against the dense models of its size on every pedal that has "
                "both, the pedal as a block (log ESR = the pedal's level + the method's effect, "
                "least squares, one residual variance):", "", *across_pedals_table(groups), "",
                "![across pedals](lean_across_pedals.png)", ""]  # fmt: skip
    (RESULTS / "lean.md").write_text("\n".join(out))
    record = {"runs": rows, "shrinks": shrinks}
    write_text_atomic(RESULTS / "lean.json", json.dumps(record, indent=1))
    print(f"wrote {RESULTS / 'lean.md'}, lean.json and lean_<device>.png ({len(rows)} runs, "
          f"{len(shrinks)} shrinks)")


if __name__ == "__main__":
    main()
