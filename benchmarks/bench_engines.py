"""leanamp's streaming kernels against the C++ engines plugins run, on the same models (issue 15).

Rows: LSTMs of hidden size 4 to 96 (common.LSTM_SIZES, as bench_runtime.py; one layer, residual;
AIDA-X JSON for RTNeural), NAM WaveNets nano, feather, lite, standard and the standard's dilations
at 4, 8 and 12 channels (the fixed WaveNets the slimmable ones are set against, and the models a
slimmable standard runs as at those widths; .nam for NAM Core), all with seeded random weights
(cost does not depend on the weights), and NAM's A2 reference file (its largest submodel, the one
NAM Core and leanamp both run by default). Columns: RTNeural's run-time API (json_parser, as
AIDA-X loads files) and its compile-time API (ModelT templated on the hidden size,
leanamp/engines/drivers/rtneural_static_driver.cpp), NAM Core with its fast tanh (as the plugin),
each built with -O3 and with -O3 -march=native by leanamp.engines; leanamp's numba kernel in its
fast mode (the engines' fast activations; leanamp.runtime).

Timing: every variant processes `--seconds` of a 110 Hz sine at half scale, 48 kHz, in 256-sample
blocks, one thread, measured as thread CPU time (and wall time) / audio time; the engines in their
own driver process (leanamp.engines.time_engine), leanamp in this one after a warm-up block. All
variants of all models run once per round, in the same order, for `--rounds` rounds, and each
figure is the median over rounds: load from other processes hits every variant alike, so the
ratios hold even when absolute figures move. "best" is the fastest engine build of the row;
leanamp / best < 1 means leanamp's kernel is faster.

    python benchmarks/bench_engines.py           # builds the engines on first use (minutes)
    python benchmarks/bench_engines.py --quick   # 1 round of 1 s: a smoke run

Results: benchmarks/results/engines.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import LSTM_SIZES  # benchmarks/common.py

from leanamp.engines import build_driver, time_engine
from leanamp.files import write_text_atomic
from leanamp.formats import export_model, load_any
from leanamp.formats.aidax import aidax_dict
from leanamp.ledger import cpu_name
from leanamp.models import LSTMModel, new_model
from leanamp.models.wavenet import WaveNet, preset
from leanamp.runtime import make_processor

RESULTS = Path(__file__).resolve().parent / "results"
A2 = Path(__file__).resolve().parents[2] / "shared" / "models" / "reference" / "nam" / "A2.nam"
RATE = 48000
BLOCK = 256
HIDDEN_SIZES = LSTM_SIZES
WAVENETS = ["nano", "feather", "lite", "standard"]
WAVENET_WIDTHS = [4, 8, 12]  # channels of the standard's dilations (16 is the standard itself)
STATIC_DRIVER = "rtneural_static_driver.cpp"
# (column, engine, driver, native)
ENGINE_VARIANTS = {
    "lstm": [
        ("RTNeural run-time -O3", "rtneural", None, False),
        ("RTNeural run-time native", "rtneural", None, True),
        ("RTNeural compile-time -O3", "rtneural", STATIC_DRIVER, False),
        ("RTNeural compile-time native", "rtneural", STATIC_DRIVER, True),
    ],
    "wavenet": [
        ("NAM Core -O3", "nam", None, False),
        ("NAM Core native", "nam", None, True),
    ],
}
COLUMNS = [name for variants in ENGINE_VARIANTS.values() for name, *_ in variants]
LEANAMP = "leanamp fast"


def test_signal(seconds: float) -> np.ndarray:
    """The drivers' timing signal: a 110 Hz sine at half scale."""
    t = np.arange(int(round(seconds * RATE))) / RATE
    return (0.5 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)


def write_models(folder: Path) -> list[dict]:
    """Every row's model: the torch model for leanamp and the file the engines load."""
    rows = []
    for hidden in HIDDEN_SIZES:
        torch.manual_seed(hidden)
        model = LSTMModel(hidden).eval()
        path = folder / f"lstm{hidden}.json"  # AIDA-X layout at its exact size (96 included)
        path.write_text(json.dumps(aidax_dict(model, {"sample_rate": RATE})))
        rows.append({"name": f"LSTM H{hidden}", "kind": "lstm", "model": model, "path": path})
    for name in WAVENETS:
        torch.manual_seed(0)
        model = new_model("wavenet", preset=name).eval()
        path = export_model(model, folder / f"{name}.nam", metadata={"sample_rate": RATE})
        rows.append({"name": f"WaveNet {name}", "kind": "wavenet", "model": model, "path": path})
    for channels in WAVENET_WIDTHS:
        torch.manual_seed(channels)
        model = WaveNet(preset("standard", channels=channels)).eval()
        path = export_model(model, folder / f"standard{channels}.nam",
                            metadata={"sample_rate": RATE})  # fmt: skip
        rows.append({"name": f"WaveNet {channels} channels", "kind": "wavenet", "model": model,
                     "path": path})  # fmt: skip
    if A2.is_file():
        model, _ = load_any(A2)
        rows.append({"name": "NAM A2 (reference file)", "kind": "wavenet", "model": model,
                     "path": A2})  # fmt: skip
    else:
        print(f"skipping the A2 row: {A2} is absent")
    return rows


def time_leanamp(processor, signal: np.ndarray) -> tuple[float, float]:
    """(thread CPU RTF, wall RTF) of streaming `signal` through `processor` in blocks."""
    blocks = [signal[i : i + BLOCK] for i in range(0, len(signal), BLOCK)]
    processor.reset()
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for block in blocks:
        processor.process(block)
    audio = len(signal) / RATE
    return (time.thread_time() - cpu0) / audio, (time.perf_counter() - wall0) / audio


def measure(rows: list[dict], seconds: float, rounds: int) -> None:
    """Fill row["cpu"] and row["wall"]: {column: [RTF per round]}."""
    signal = test_signal(seconds)
    for row in rows:
        row["processor"] = make_processor(row["model"], exact=False)
        row["processor"].process(signal[:BLOCK])  # compile (or load) the kernel outside the timing
        row["cpu"], row["wall"] = {}, {}
    for r in range(rounds):
        for row in rows:
            for column, engine, driver, native in ENGINE_VARIANTS[row["kind"]]:
                rtf = time_engine(row["path"], seconds, BLOCK, native=native, engine=engine,
                                  rate=RATE, driver=driver)  # fmt: skip
                row["cpu"].setdefault(column, []).append(rtf["rtf_cpu"])
                row["wall"].setdefault(column, []).append(rtf["rtf_wall"])
            cpu, wall = time_leanamp(row["processor"], signal)
            row["cpu"].setdefault(LEANAMP, []).append(cpu)
            row["wall"].setdefault(LEANAMP, []).append(wall)
        print(f"round {r + 1}/{rounds} done, load {os.getloadavg()[0]:.1f}", flush=True)


def summary(row: dict) -> dict:
    medians = {clock: {k: statistics.median(v) for k, v in row[clock].items()}
               for clock in ("cpu", "wall")}  # fmt: skip
    engines = {k: v for k, v in medians["cpu"].items() if k != LEANAMP}
    best = min(engines, key=engines.get)
    return {
        "name": row["name"],
        "kind": row["kind"],
        "file": str(row["path"].name),
        "rtf_cpu": medians["cpu"],
        "rtf_wall": medians["wall"],
        "rtf_cpu_rounds": row["cpu"],
        "best_engine": best,
        "ratio_cpu": medians["cpu"][LEANAMP] / engines[best],
        "ratio_wall": medians["wall"][LEANAMP] / medians["wall"][best],
    }


def compiler_version() -> str:
    done = subprocess.run([os.environ.get("CXX", "g++"), "--version"], capture_output=True)
    return done.stdout.decode().splitlines()[0] if done.returncode == 0 else "unknown"


def markdown(results: dict) -> str:
    meta = results["meta"]
    out = [
        "# leanamp's kernels against the plugin engines (`benchmarks/bench_engines.py`)",
        "",
        f"{meta['date']}, {meta['cpu']} ({meta['cores']} cores), {meta['compiler']}; "
        f"load average {meta['load_start']} at the start, {meta['load_end']} at the end. "
        f"48 kHz, {BLOCK}-sample blocks, one thread, {meta['seconds']} s of audio per run, "
        f"median of {meta['rounds']} interleaved rounds. Real-time factor from thread CPU time; "
        "'-' = the engine does not run that model. leanamp / best: leanamp's fast kernel over the "
        "fastest engine build of the row (CPU time; wall time beside it).",
        "",
        "| model | " + " | ".join(COLUMNS) + f" | {LEANAMP} | best engine | leanamp / best "
        "(cpu) | (wall) |",
        "|---|" + "---:|" * (len(COLUMNS) + 1) + "---|---:|---:|",
    ]
    for row in results["rows"]:
        cells = [f"{row['rtf_cpu'][c]:.4f}" if c in row["rtf_cpu"] else "-" for c in COLUMNS]
        out.append(
            f"| {row['name']} | " + " | ".join(cells) + f" | {row['rtf_cpu'][LEANAMP]:.4f} | "
            f"{row['best_engine']} | {row['ratio_cpu']:.2f} | {row['ratio_wall']:.2f} |"
        )
    met = [r["name"] for r in results["rows"] if r["ratio_cpu"] <= 1.0]
    missed = [f"{r['name']} ({r['ratio_cpu']:.2f}x)" for r in results["rows"]
              if r["ratio_cpu"] > 1.0]  # fmt: skip
    out += ["", f"Target leanamp / best <= 1.0 met (CPU time): {', '.join(met) or 'none'}.",
            f"Missed: {', '.join(missed) or 'none'}.", ""]  # fmt: skip
    return "\n".join(out)


def plot(results: dict, path: Path) -> None:
    from leanamp.plots import plt, save_figure  # matplotlib: an optional dependency

    rows = results["rows"]
    names = [r["name"].replace(" (reference file)", "") for r in rows]
    columns = COLUMNS + [LEANAMP]
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(13, 5))
    for i, column in enumerate(columns):
        xs = [k + (i - len(columns) / 2) * width for k, r in enumerate(rows)
              if column in r["rtf_cpu"]]  # fmt: skip
        ys = [r["rtf_cpu"][column] for r in rows if column in r["rtf_cpu"]]
        style = {"color": "black"} if column == LEANAMP else {}
        ax.bar(xs, ys, width, label=column, **style)
    for k, r in enumerate(rows):
        ax.annotate(f"{r['ratio_cpu']:.2f}x", (k, r["rtf_cpu"][LEANAMP]), ha="center",
                    xytext=(0, 14), textcoords="offset points", fontsize=8)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right")
    ax.set_ylabel("real-time factor (thread CPU time)")
    ax.set_title("48 kHz, 256-sample blocks, one thread; label: leanamp / best engine build")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per timed run")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median)")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    seconds, rounds = (1.0, 1) if args.quick else (args.seconds, args.rounds)
    torch.set_num_threads(1)
    for _, engine, driver, native in {v for vs in ENGINE_VARIANTS.values() for v in vs}:
        build_driver(engine, native=native, driver=driver)
    load_start = " ".join(f"{v:.1f}" for v in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="leanamp-bench-engines-") as folder:
        rows = write_models(Path(folder))
        measure(rows, seconds, rounds)
    results = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "compiler": compiler_version(),
            "load_start": load_start,
            "load_end": " ".join(f"{v:.1f}" for v in os.getloadavg()),
            "seconds": seconds,
            "rounds": rounds,
            "rate": RATE,
            "block": BLOCK,
        },
        "rows": [summary(row) for row in rows],
    }
    write_text_atomic(args.out / "engines.json", json.dumps(results, indent=2))
    text = markdown(results)
    write_text_atomic(args.out / "engines.md", text)
    plot(results, args.out / "engines.png")
    print(text)


if __name__ == "__main__":
    main()
