"""Slimmable WaveNet: test ESR versus real-time factor for every width (Atkinson, "Slimmable NAM").

Trains on the real pedal (MorphDrive zendrive g5 t3, split of ../shared/data/morphdrive/
PROVENANCE.md) or on the same dry clips rendered through a virtual circuit (--device), each model
for the same CPU-time budget with NAM's recipe (MSE + 2e-4 x pre-emphasised multi-resolution STFT,
Adam 4e-3 decaying by 0.993 per epoch, batches of 16 segments of 8192 samples plus the receptive
field):
  * "slimmable": NAM's standard architecture (16/8 channels), a width drawn uniformly from 1..16
    for every batch; evaluated at every width;
  * "New (full)": the same architecture trained at full width only, then truncated to every width;
  * NAM presets lite / feather / nano trained at their fixed size.
The budget is CPU time of the training process (one thread), so models trained side by side
(--jobs) or while the machine is shared get the same compute. Real-time factor: the streaming
kernel (leanamp.runtime.wavenet, fast activations, one thread), 256-sample blocks at 48 kHz,
thread CPU time, median of repeated runs. Writes slim_pareto[_<device>].{md,json,png} to
benchmarks/results/, and the trained models to benchmarks/results/slim_models[_<device>]/ so
`--reuse` can re-measure (e.g. after a kernel change) without retraining.

    python benchmarks/bench_slim.py --minutes 15 --jobs 2
    python benchmarks/bench_slim.py --reuse              # re-measure, train only missing models
    python benchmarks/bench_slim.py --device overdrive --minutes 15 --jobs 2
    python benchmarks/bench_slim.py --reuse --long-slimmable 45   # + a slimmable model at 3x
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import device_data, result_suffix, slim_models_dir  # benchmarks/common.py

from leanamp.formats.native import load_model, save_model
from leanamp.losses import NAM_RECIPE
from leanamp.models.slim import make_slimmable
from leanamp.models.wavenet import WaveNet, preset
from leanamp.plots.figures import pareto_front
from leanamp.runtime.wavenet import StreamingWaveNet
from leanamp.train import TrainConfig, Trainer, evaluate

HERE = Path(__file__).resolve().parent


def build(name: str) -> WaveNet:
    if name.startswith("slimmable"):
        return make_slimmable(WaveNet(preset("standard")))
    return WaveNet(preset("standard" if name == "full" else name))


def train_and_save(name: str, device: str, minutes: float, path: Path) -> str:
    """Train one model with NAM's recipe for `minutes` of CPU time and save it to `path`."""
    torch.set_num_threads(1)
    data = device_data(device)
    torch.manual_seed(0)
    model = build(name)
    segment = NAM_RECIPE["segment_output_samples"] + model.receptive_field - 1
    config = TrainConfig.recipe(
        "nam", segment_seconds=segment / data.sample_rate, validate_every=1,
        early_stop_patience=None, max_minutes=minutes, budget_clock="cpu", max_epochs=100_000,
        accelerator="cpu", seed=0,
    )  # fmt: skip
    result = Trainer(model, data.train, data.validation, config, progress=False).fit()
    training = {
        "epochs": result.epochs, "best_epoch": result.best_epoch, "seconds": result.seconds,
        "cpu_seconds": result.budget_seconds,
    }  # fmt: skip
    if model.width_sampler is not None:
        training["width_draws"] = model.width_sampler.counts()
    save_model(model, path, {"training": training, "device": device})
    return f"{name}: {result.epochs} epochs, {result.budget_seconds / 60:.1f} CPU min"


def real_time_factor(model: WaveNet, width, x: np.ndarray, rate: int, repeats: int) -> float:
    processor = StreamingWaveNet(model, exact=False)
    processor.set_width(width)
    processor.process(x[:4096])  # warm-up: loads the cached kernel, touches the buffers
    times = []
    for _ in range(repeats):
        processor.reset()
        # CPU time of this thread: the kernel is single-threaded, and wall time on the shared
        # machine would mostly measure the other users' load.
        started = time.thread_time()
        for i in range(0, len(x), 256):
            processor.process(x[i : i + 256])
        times.append(time.thread_time() - started)
    return float(np.median(times)) / (len(x) / rate)


def truncation_overhead(repeats: int) -> dict:
    """Thread CPU time of one training step (forward + backward, 4 segments of NAM's length) of
    a plain standard WaveNet and of its slimmable copy at full width, interleaved in one run:
    what the truncation machinery costs when nothing is truncated."""
    torch.manual_seed(0)
    plain = WaveNet(preset("standard"))
    models = {"plain": plain, "slimmable": make_slimmable(plain)}
    n = NAM_RECIPE["segment_output_samples"] + plain.receptive_field - 1
    x = 0.1 * torch.randn(4, n, 1)
    y = 0.1 * torch.randn(4, n)
    times = {name: [] for name in models}
    for _ in range(repeats + 1):  # the first round warms up
        for name, model in models.items():
            started = time.thread_time()
            torch.mean((model(x)[0] - y) ** 2).backward()
            times[name].append(time.thread_time() - started)
            model.zero_grad()
    return {name: float(np.median(t[1:])) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=15.0, help="CPU-time budget per model")
    parser.add_argument("--device", default="zendrive", help="zendrive or a virtual circuit")
    parser.add_argument("--presets", nargs="*", default=["lite", "feather", "nano"])
    parser.add_argument("--jobs", type=int, default=1, help="models trained side by side")
    parser.add_argument("--rtf-seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the models trained before, train missing ones"
    )
    parser.add_argument(
        "--long-slimmable", type=float, default=None, metavar="MINUTES",
        help="also train a slimmable model for this CPU-time budget (e.g. the budget of all the "
        "fixed-size models together)",
    )  # fmt: skip
    args = parser.parse_args()
    models_dir = slim_models_dir(args.out, args.device)
    budgets = {name: args.minutes for name in ["slimmable", "full", *args.presets]}
    if args.long_slimmable:
        budgets["slimmable_long"] = args.long_slimmable
    paths = {name: models_dir / f"{name}.leanamp" for name in budgets}

    missing = [name for name in budgets if not (args.reuse and paths[name].exists())]
    if missing:
        models_dir.mkdir(parents=True, exist_ok=True)
        # a killed benchmark takes its training workers with it (the pool terminates on exit)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        # spawn: a fresh interpreter per model, no forked torch/numba state
        with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
            jobs = [(name, args.device, budgets[name], paths[name]) for name in missing]
            for line in pool.starmap(train_and_save, jobs):
                print(line, flush=True)

    torch.set_num_threads(1)
    data = device_data(args.device)
    rate = data.sample_rate
    rtf_input = data.test[0].input[: int(args.rtf_seconds * rate), 0].copy()
    rows = []

    def add(kind: str, model: WaveNet, width, training: dict) -> None:
        model.set_width(width)
        esr = evaluate(model, data.test).overall
        rtf = real_time_factor(model, width, rtf_input, rate, args.repeats)
        channels = model.array_widths(width)
        weights = model.sliced(width).num_nam_weights()
        model.set_width(None)
        rows.append({
            "model": kind, "channels": list(channels), "weights": weights, "test_esr": esr,
            "rtf": rtf, **{k: v for k, v in training.items() if k != "width_draws"},
        })  # fmt: skip
        print(rows[-1], flush=True)

    trained = {name: load_model(paths[name]) for name in budgets}
    slim, metadata = trained["slimmable"]
    for width in slim.widths:
        add("slimmable", slim, width, metadata["training"])
    if "slimmable_long" in trained:
        long, metadata = trained["slimmable_long"]
        for width in long.widths:
            add(f"slimmable, {args.long_slimmable:g} CPU min", long, width, metadata["training"])
    full, metadata = trained["full"]
    for width in range(1, full.channels[0] + 1):
        add("New (full)", full, width, metadata["training"])
    for name in args.presets:
        model, metadata = trained[name]
        add(f"NAM {name}", model, None, metadata["training"])
    counts = trained["slimmable"][1]["training"].get("width_draws", {})
    write_results(rows, counts, truncation_overhead(args.repeats), args, data)


def write_results(rows: list[dict], counts: dict, overhead: dict, args, data) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    tag = result_suffix(args.device)
    source = (
        "MorphDrive zendrive g5 t3" if args.device == "zendrive"
        else f"virtual {args.device} (gain 0.7) on the MorphDrive dry clips"
    )  # fmt: skip
    (args.out / f"slim_pareto{tag}.json").write_text(
        json.dumps(
            {"rows": rows, "slimmable_width_draws": counts, "training_step_seconds": overhead},
            indent=1,
        )
    )
    slim_rows = [r for r in rows if r["model"] == "slimmable"]
    front = {id(slim_rows[i]) for i in pareto_front([(r["rtf"], r["test_esr"]) for r in slim_rows])}
    lines = [
        f"Device: {source}, test clip guitar-funk2; every model trained for the "
        "same CPU-time budget with NAM's recipe on one thread of this 2-core CPU. "
        f"RTF: streaming kernel, fast activations, 256-sample blocks at {data.sample_rate} Hz, "
        f"thread CPU time, median of {args.repeats} runs. "
        f"Widths drawn in slimmable training: {counts}.",
        "",
        f"Truncation overhead: one training step (forward + backward, 4 segments) of the "
        f"slimmable model at full width took {overhead['slimmable'] * 1000:.0f} ms of CPU time, "
        f"the plain model {overhead['plain'] * 1000:.0f} ms (median of {args.repeats}, "
        "interleaved).",
        "",
        "| model | channels | weights | CPU min | epochs | test ESR | RTF | slimmable front |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        on_front = "yes" if id(r) in front else ""
        lines.append(
            f"| {r['model']} | {'/'.join(map(str, r['channels']))} | {r['weights']} | "
            f"{r['cpu_seconds'] / 60:.1f} | {r['epochs']} | {r['test_esr']:.4f} | {r['rtf']:.4f} | "
            f"{on_front} |"
        )
    (args.out / f"slim_pareto{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    kinds = sorted({r["model"] for r in rows}, key=lambda k: (k != "slimmable", k))
    for kind in kinds:
        pts = sorted((r["rtf"], r["test_esr"]) for r in rows if r["model"] == kind)
        styles = {"slimmable": "-o", "New (full)": "--s"}
        style = styles.get(kind, "-^" if kind.startswith("slimmable") else "D")
        ax.plot(*zip(*pts, strict=True), style, label=kind, markersize=5)
    front_pts = sorted((r["rtf"], r["test_esr"]) for r in slim_rows if id(r) in front)
    ax.plot(*zip(*front_pts, strict=True), "k:", linewidth=1, label="slimmable Pareto front")
    ax.set_xlabel("real-time factor (lower is faster)")
    ax.set_ylabel("test ESR (lower is better)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Slimmable WaveNet, {source},\n{args.minutes:g} CPU min per model", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out / f"slim_pareto{tag}.png", dpi=120)


if __name__ == "__main__":
    main()
