"""Benchmark of `leanamp.prune.structured` (issue 8): ESR versus real-time factor of

- structured trimming of an LSTM by each criterion (magnitude, activation, gradient, mutual
  information; global selection, 25% of the units per iteration, fine-tuned after each trim);
- iterative magnitude pruning (30% of the remaining weights per level, retrained under the mask)
  followed by exact compression (leanamp.prune.compress) into a smaller dense LSTM;
- dense LSTMs of the trimmed sizes trained from scratch for as many epochs as the trimmed model
  received in all (pretraining + retraining up to its iteration);
- slimmable widths: the slimmable NAM WaveNet of benchmarks/bench_slim.py for the same device
  (benchmarks/results/slim_models[_overdrive]/slimmable.leanamp) evaluated here at each width;
  `--refresh-slim` re-evaluates only these rows after bench_slim has trained a new model.

Devices: `zendrive` (the real MorphDrive pedal zendrive g5 t3, split as in its PROVENANCE.md)
and `overdrive` (the same dry clips rendered through leanamp's virtual overdrive). Training on
the first `--train-seconds` of each training clip, validation on the first
`--validation-seconds` of guitar-chords, test ESR on the whole guitar-funk2 clip. RTF: the
streaming kernel in fast mode, thread CPU time over audio time, median of 3 runs of 1 s.

    python benchmarks/bench_structured.py --device zendrive &
    python benchmarks/bench_structured.py --device overdrive &
    wait; python benchmarks/bench_structured.py --report
    python benchmarks/bench_structured.py --device zendrive --refresh-slim
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from common import device_data, first_seconds, slim_models_dir  # benchmarks/common.py

from leanamp.data import Clip
from leanamp.files import atomic_path, write_text_atomic
from leanamp.formats.native import load_model
from leanamp.models import LSTMModel
from leanamp.prune import compress, effective_hidden_size, one_shot_prune
from leanamp.prune.structured import (
    MICROCONTROLLER,
    RASPBERRY_PI,
    StructuredConfig,
    evaluate_esr,
    resources,
    structured_prune,
)
from leanamp.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
CRITERIA = ("magnitude", "activation", "gradient", "mutual_information")
SLIM = "slimmable WaveNet widths"


def train_dense(model, train, validation, config: TrainConfig, epochs: int):
    """Train for `epochs` (validating every epoch), keep the best weights by validation loss."""
    trainer = Trainer(model, train, validation, config, progress=False)
    trainer.fit(epochs)
    return model


def entry(method: str, model, test: list[Clip], rate: int, **extra) -> dict:
    row = {"method": method, "test_esr": evaluate_esr(model, test), **extra}
    row.update(resources(model, rate, measure_rtf=True, seconds=1.0, repeats=3))
    return row


def slimmable_rows(device: str, test: list[Clip], rate: int) -> list[dict]:
    """The device's slimmable WaveNet from bench_slim.py at each width (none if not trained)."""
    path = slim_models_dir(RESULTS, device) / "slimmable.leanamp"
    if not path.exists():
        return []
    slimmable, _ = load_model(path)
    return [
        entry(SLIM, model, test, rate, channels=list(model.channels))
        for model in (slimmable.sliced(width) for width in slimmable.widths)
    ]


def refresh_slimmable_rows(device: str) -> None:
    """Replace the slimmable rows of a finished run's results with the current model's."""
    torch.set_num_threads(1)
    path = RESULTS / f"structured_{device}.json"
    summary = json.loads(path.read_text())
    data = device_data(device)
    rows = [r for r in summary["rows"] if r["method"] != SLIM]
    summary["rows"] = rows + slimmable_rows(device, data.test, data.sample_rate)
    write_text_atomic(path, json.dumps(summary, indent=1))


def run_device(args) -> dict:
    torch.set_num_threads(1)
    started = time.monotonic()
    data = device_data(args.device)
    train = first_seconds(data.train, args.train_seconds)
    validation = first_seconds(data.validation, args.validation_seconds)
    test, rate = data.test, data.sample_rate
    config = TrainConfig(
        segment_seconds=0.25, batch_size=16, warmup_samples=1000, tbptt_samples=2048,
        learning_rate=5e-3, grad_clip=1.0, validate_every=1, lr_patience=3,
        early_stop_patience=None, accelerator="cpu", seed=0,
    )  # fmt: skip
    rows: list[dict] = []

    def save(finished: bool) -> dict:
        summary = {
            "device": args.device,
            "settings": vars(args),
            "seconds": time.monotonic() - started,
            "finished": finished,
            "budgets": {b.name: {"macs_per_sample": b.macs_per_sample,
                                 "memory_bytes": b.memory_bytes}
                        for b in (MICROCONTROLLER, RASPBERRY_PI)},  # fmt: skip
            "rows": rows,
        }
        path = RESULTS / f"structured_{args.device}.json"
        write_text_atomic(path, json.dumps(summary, indent=1))
        return summary

    def log(message: str) -> None:
        # Results so far are saved with every message, so a run cut short still reports.
        save(finished=False)
        print(f"[{args.device} {time.monotonic() - started:5.0f} s] {message}", flush=True)

    torch.manual_seed(0)
    pretrained = train_dense(LSTMModel(args.hidden_size), train, validation, config, args.pretrain)
    rows.append(entry("dense (full size)", pretrained, test, rate, hidden=args.hidden_size,
                      epochs=args.pretrain))  # fmt: skip
    log(f"pretrained LSTM-{args.hidden_size}: test ESR {rows[-1]['test_esr']:.4f}")

    sizes = set()
    for criterion in CRITERIA:
        structured = StructuredConfig(
            criterion=criterion, selection="global", fraction=0.25, iterations=args.iterations,
            rewind="finetune", pretrain_epochs=0, epochs_per_iteration=args.epochs,
            measure_rtf=False, probe_seconds=1.0,
        )  # fmt: skip
        t0 = time.monotonic()
        result = structured_prune(
            copy.deepcopy(pretrained), train, validation, structured, config
        )
        for record, model in zip(result.records[1:], result.models[1:], strict=True):
            hidden = record["units"]["lstm"]
            sizes.add((hidden, record["iteration"]))
            epochs = args.pretrain + record["iteration"] * args.epochs
            rows.append(entry(f"structured: {criterion}", model, test, rate, hidden=hidden,
                              iteration=record["iteration"], epochs=epochs))  # fmt: skip
        log(f"structured {criterion}: {time.monotonic() - t0:.0f} s, sizes "
            f"{[r['units']['lstm'] for r in result.records]}, test ESR "
            f"{[round(r['test_esr'], 4) for r in rows[-args.iterations:]]}")  # fmt: skip

    # Iterative magnitude pruning: each level masks the smallest weights of the current model
    # (pruned weights are zero, hence the smallest) to a higher sparsity and retrains.
    imp = copy.deepcopy(pretrained)
    for level in range(1, args.iterations + 1):
        sparsity = 1.0 - 0.7**level
        one_shot_prune(imp, sparsity, train, validation, args.epochs, config, progress=False)
        small = compress(imp)
        rows.append(entry("magnitude pruning + compression", small, test, rate,
                          hidden=small.hidden_size, iteration=level, sparsity=sparsity,
                          epochs=args.pretrain + level * args.epochs))  # fmt: skip
        log(f"IMP level {level}: sparsity {sparsity:.2f}, effective hidden "
            f"{effective_hidden_size(imp)}, test ESR {rows[-1]['test_esr']:.4f}")  # fmt: skip

    rows += slimmable_rows(args.device, test, rate)
    log("slimmable widths evaluated")

    for hidden, iteration in sorted(sizes):
        if any(r["method"] == "dense from scratch" and r["hidden"] == hidden for r in rows):
            continue
        epochs = args.pretrain + iteration * args.epochs
        torch.manual_seed(0)
        model = train_dense(LSTMModel(hidden), train, validation, config, epochs)
        rows.append(entry("dense from scratch", model, test, rate, hidden=hidden, epochs=epochs))
        log(f"scratch LSTM-{hidden} ({epochs} epochs): test ESR {rows[-1]['test_esr']:.4f}")

    summary = save(finished=True)
    print(f"[{args.device}] done in {summary['seconds']:.0f} s", flush=True)
    return summary


MARKERS = {
    "dense (full size)": ("k", "*"),
    "structured: magnitude": ("tab:blue", "o"),
    "structured: activation": ("tab:orange", "o"),
    "structured: gradient": ("tab:green", "o"),
    "structured: mutual_information": ("tab:red", "o"),
    "magnitude pruning + compression": ("tab:purple", "s"),
    "dense from scratch": ("tab:gray", "^"),
    SLIM: ("tab:brown", "D"),
}


def write_report() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    summaries = [
        json.loads(path.read_text())
        for device in ("zendrive", "overdrive")
        if (path := RESULTS / f"structured_{device}.json").exists()
    ]
    fig, axes = plt.subplots(1, len(summaries), figsize=(6 * len(summaries), 4.5), squeeze=False)
    lines = ["# Structured lottery (issue 8): ESR versus real-time factor", ""]
    for ax, summary in zip(axes[0], summaries, strict=True):
        rows = summary["rows"]
        for method, (color, marker) in MARKERS.items():
            # Joined in order of size: the measured RTF jitters on a shared machine.
            chosen = [r for r in rows if r["method"] == method]
            points = sorted((r["parameters"], r["rtf_cpu"], r["test_esr"]) for r in chosen)
            if points:
                _, xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker=marker, color=color, label=method, lw=1, ms=5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("real-time factor (thread CPU time / audio time)")
        ax.set_ylabel("test ESR")
        ax.set_title(summary["device"])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        s = summary["settings"]
        lines += [
            f"## {summary['device']}",
            "",
            f"LSTM-{s['hidden_size']} pretrained {s['pretrain']} epochs; {s['iterations']} "
            f"iterations of 25% units / 30% weights, {s['epochs']} epochs each; train "
            f"{s['train_seconds']} s per clip, validation {s['validation_seconds']} s; run took "
            f"{summary['seconds'] / 60:.1f} min"
            + ("." if summary.get("finished") else " (cut short: partial results)."),
            "",
            "| method | size | epochs | params | MACs/sample | memory kB | RTF (cpu) | test ESR "
            "| MCU | Pi |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            size = f"H={r['hidden']}" if "hidden" in r else f"ch={r['channels']}"
            lines.append(
                f"| {r['method']} | {size} | {r.get('epochs', '')} | {r['parameters']} | "
                f"{r['macs_per_sample']} | {r['memory_bytes'] / 1024:.1f} | {r['rtf_cpu']:.4f} | "
                f"{r['test_esr']:.4f} | {'yes' if r['fits']['microcontroller'] else 'no'} | "
                f"{'yes' if r['fits']['raspberry-pi'] else 'no'} |"
            )
        lines.append("")
    fig.tight_layout()
    with atomic_path(RESULTS / "structured_pareto.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    existing = RESULTS / "structured.md"
    reading = ""
    if existing.exists() and "## Reading" in existing.read_text():
        reading = existing.read_text().split("## Reading", 1)[1]
    text = "\n".join(lines) + "\n![pareto](structured_pareto.png)\n"
    if reading:
        text += "\n## Reading" + reading
    write_text_atomic(existing, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["zendrive", "overdrive"])
    parser.add_argument("--report", action="store_true", help="Merge results into the report.")
    parser.add_argument("--refresh-slim", action="store_true",
                        help="Only re-evaluate the slimmable rows of --device's results.")
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--pretrain", type=int, default=20, help="Epochs of the full model.")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4, help="Retraining epochs per iteration.")
    parser.add_argument("--train-seconds", type=float, default=4.0)
    parser.add_argument("--validation-seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.report:
        write_report()
    elif args.device and args.refresh_slim:
        refresh_slimmable_rows(args.device)
    elif args.device:
        run_device(args)
    else:
        parser.error("give --device or --report")


if __name__ == "__main__":
    main()
