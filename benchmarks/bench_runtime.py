"""Real-time factors of the streaming LSTM kernels against torch.nn.LSTM (issue 4 targets).

Tables (markdown and JSON in benchmarks/results/runtime.{md,json}, plot runtime_sparsity.png):
  (a) hidden sizes 4..96 at 48 kHz, 256-sample blocks: numba exact, numba fast, torch, ratios;
  (b) block sizes 32..1024 for H = 20 and H = 96;
  (c) dense versus sparse (CSC) kernel over sparsity 0..99 % for H = 64 (paper's Fig. 8);
  (d) the targets, pass/fail.
Every table's variants are timed interleaved (see leanamp.runtime.bench), one thread. Each figure
is the median over repeats of wall-clock time / audio time; "cpu" columns use the thread's CPU
time instead, which other processes on a shared machine disturb less.

    python benchmarks/bench_runtime.py            # about 5 minutes on 2 busy cores
    python benchmarks/bench_runtime.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from common import LSTM_SIZES  # benchmarks/common.py

from leanamp.files import write_text_atomic
from leanamp.ledger import cpu_name
from leanamp.models.lstm import LSTMModel
from leanamp.runtime import SparseStreamingLSTM, StreamingLSTM
from leanamp.runtime.bench import TorchStreamingLSTM, bench_signal, time_processors

RESULTS = Path(__file__).resolve().parent / "results"
RATE = 48000
HIDDEN_SIZES = LSTM_SIZES
BLOCK_SIZES = [32, 64, 128, 256, 512, 1024]
SPARSITIES = [0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]


def lstm(hidden: int, seed: int = 0) -> LSTMModel:
    torch.manual_seed(seed)
    return LSTMModel(hidden).eval()


def pruned_to(model: LSTMModel, keep: int) -> LSTMModel:
    """Structured pruning as the paper's: units >= keep lose their outgoing weights (head and
    recurrent columns), so only `keep` units can still affect the output."""
    with torch.no_grad():
        model.head.weight[0, keep:] = 0
        model.lstm.weight_hh_l0[:, keep:] = 0
    return model


def randomly_sparse(model: LSTMModel, sparsity: float, seed: int = 0) -> LSTMModel:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.lstm.named_parameters():
            if "weight" in name:
                p.mul_((torch.rand(p.shape, generator=generator) >= sparsity).float())
    return model


def table_hidden(seconds: float, repeats: int) -> list[dict]:
    processors = {}
    for hidden in HIDDEN_SIZES:
        model = lstm(hidden)
        processors[(hidden, "exact")] = StreamingLSTM.from_model(model, exact=True)
        processors[(hidden, "fast")] = StreamingLSTM.from_model(model, exact=False)
        processors[(hidden, "torch")] = TorchStreamingLSTM(model)
    timings = time_processors(processors, bench_signal(seconds, RATE, 1), 256, RATE, repeats)
    rows = []
    for hidden in HIDDEN_SIZES:
        t = {kind: timings[(hidden, kind)] for kind in ("exact", "fast", "torch")}
        rows.append({
            "hidden": hidden,
            **{f"rtf_{k}": v.rtf for k, v in t.items()},
            **{f"rtf_{k}_min": v.rtf_min for k, v in t.items()},
            **{f"rtf_{k}_max": v.rtf_max for k, v in t.items()},
            **{f"cpu_{k}": v.rtf_cpu for k, v in t.items()},
            "torch_over_fast": t["torch"].rtf / t["fast"].rtf,
            "torch_over_exact": t["torch"].rtf / t["exact"].rtf,
        })  # fmt: skip
    return rows


def table_blocks(seconds: float, repeats: int) -> list[dict]:
    signal = bench_signal(seconds, RATE, 1)
    rows = []
    for block in BLOCK_SIZES:
        processors = {}
        for hidden in (20, 96):
            model = lstm(hidden)
            processors[(hidden, "fast")] = StreamingLSTM.from_model(model, exact=False)
            processors[(hidden, "torch")] = TorchStreamingLSTM(model)
        timings = time_processors(processors, signal, block, RATE, repeats)
        for hidden in (20, 96):
            fast, ref = timings[(hidden, "fast")], timings[(hidden, "torch")]
            rows.append({
                "block": block, "hidden": hidden, "rtf_fast": fast.rtf, "rtf_torch": ref.rtf,
                "cpu_fast": fast.rtf_cpu, "cpu_torch": ref.rtf_cpu,
                "torch_over_fast": ref.rtf / fast.rtf,
            })  # fmt: skip
    return rows


def table_sparsity(seconds: float, repeats: int) -> list[dict]:
    processors = {}
    stored = {}
    for sparsity in SPARSITIES:
        model = randomly_sparse(lstm(64), sparsity)
        for exact in (False, True):
            mode = "exact" if exact else "fast"
            # compact=False: the comparison is at H = 64 (random pruning rarely kills a unit)
            processors[(sparsity, "dense", mode)] = StreamingLSTM.from_model(
                model, exact=exact, compact=False
            )
            sparse = SparseStreamingLSTM.from_model(model, exact=exact, compact=False)
            processors[(sparsity, "sparse", mode)] = sparse
            stored[sparsity] = sparse.stored_weights
    timings = time_processors(processors, bench_signal(seconds, RATE, 1), 256, RATE, repeats)
    rows = []
    for sparsity in SPARSITIES:
        row = {"sparsity": sparsity, "stored_weights": stored[sparsity]}
        for kind in ("dense", "sparse"):
            for mode in ("fast", "exact"):
                t = timings[(sparsity, kind, mode)]
                row[f"rtf_{kind}_{mode}"] = t.rtf
                row[f"cpu_{kind}_{mode}"] = t.rtf_cpu
        rows.append(row)
    return rows


def table_targets(seconds: float, repeats: int, hidden_rows: list[dict]) -> dict:
    compressed = pruned_to(lstm(96, seed=1), 20)
    full = lstm(96, seed=1)
    processors = {
        "compressed20_fast": StreamingLSTM.from_model(compressed, exact=False),
        "compressed20_exact": StreamingLSTM.from_model(compressed, exact=True),
        "full96_fast": StreamingLSTM.from_model(full, exact=False),
        "full96_exact": StreamingLSTM.from_model(full, exact=True),
        "compressed20_torch": TorchStreamingLSTM(compressed),
    }
    assert processors["compressed20_fast"].hidden_sizes == [20]
    timings = time_processors(processors, bench_signal(seconds, RATE, 1), 256, RATE, repeats)
    rtf = {name: t.rtf for name, t in timings.items()}
    cpu = {name: t.rtf_cpu for name, t in timings.items()}
    small = [row for row in hidden_rows if row["hidden"] <= 32]
    return {
        "rtf": rtf,
        "cpu": cpu,
        "rtf_compressed20": rtf["compressed20_fast"],
        "rtf_compressed20_cpu": cpu["compressed20_fast"],
        "ratio96_20_fast": rtf["full96_fast"] / rtf["compressed20_fast"],
        "ratio96_20_exact": rtf["full96_exact"] / rtf["compressed20_exact"],
        "ratio96_20_fast_cpu": cpu["full96_fast"] / cpu["compressed20_fast"],
        "min_torch_over_fast_h32": min(row["torch_over_fast"] for row in small),
        "min_torch_over_fast_h32_cpu": min(row["cpu_torch"] / row["cpu_fast"] for row in small),
        "min_torch_over_exact_h32": min(row["torch_over_exact"] for row in small),
        "compressed20_torch_over_fast": rtf["compressed20_torch"] / rtf["compressed20_fast"],
    }


def crossover(rows: list[dict], mode: str, clock: str = "rtf") -> float | None:
    """Lowest sparsity from which the sparse kernel stays faster than the dense one."""
    point = None
    for row in reversed(rows):
        if row[f"{clock}_sparse_{mode}"] >= row[f"{clock}_dense_{mode}"]:
            break
        point = row["sparsity"]
    return point


def markdown(results: dict) -> str:
    out = []
    meta = results["meta"]
    out.append(
        f"Measured {meta['date']} on {meta['machine']} ({meta['cores']} cores, load average "
        f"{meta['load']} over 1, 5 and 15 minutes at the start), one thread, 48 kHz, median of "
        f"{meta['repeats']} interleaved runs of {meta['seconds']} s of audio; RTF = processing "
        "time / audio time (wall clock); cpu = thread CPU time / audio time. fast = rational "
        "activations (max abs error 2e-6), exact = libm activations.\n"
    )
    out.append("(a) Hidden size, 256-sample blocks\n")
    out.append("| H | numba exact | numba fast | torch | torch / fast | torch / exact | "
               "fast (cpu) | torch (cpu) |")  # fmt: skip
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["hidden"]:
        out.append(
            f"| {r['hidden']} | {r['rtf_exact']:.4f} | {r['rtf_fast']:.4f} | "
            f"{r['rtf_torch']:.4f} | {r['torch_over_fast']:.1f}x | {r['torch_over_exact']:.1f}x | "
            f"{r['cpu_fast']:.4f} | {r['cpu_torch']:.4f} |"
        )
    out.append("\n(b) Block size (numba fast vs torch)\n")
    out.append("| block | H | numba fast | torch | torch / fast | fast (cpu) | torch (cpu) |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["blocks"]:
        out.append(
            f"| {r['block']} | {r['hidden']} | {r['rtf_fast']:.4f} | {r['rtf_torch']:.4f} | "
            f"{r['torch_over_fast']:.1f}x | {r['cpu_fast']:.4f} | {r['cpu_torch']:.4f} |"
        )
    out.append("\n(c) Dense vs sparse (CSC) kernel, H = 64, random unstructured pruning of the "
               "LSTM weights, 256-sample blocks\n")  # fmt: skip
    out.append("| sparsity | stored weights | dense fast | sparse fast | dense exact | "
               "sparse exact | dense fast (cpu) | sparse fast (cpu) | dense exact (cpu) | "
               "sparse exact (cpu) |")  # fmt: skip
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["sparsity"]:
        out.append(
            f"| {100 * r['sparsity']:.0f}% | {r['stored_weights']} | {r['rtf_dense_fast']:.4f} | "
            f"{r['rtf_sparse_fast']:.4f} | {r['rtf_dense_exact']:.4f} | "
            f"{r['rtf_sparse_exact']:.4f} | {r['cpu_dense_fast']:.4f} | "
            f"{r['cpu_sparse_fast']:.4f} | {r['cpu_dense_exact']:.4f} | "
            f"{r['cpu_sparse_exact']:.4f} |"
        )
    out.append("")
    for mode in ("fast", "exact"):
        for clock, label in (("rtf", "wall clock"), ("cpu", "CPU time")):
            point = crossover(results["sparsity"], mode, clock)
            where = f"from {100 * point:.0f}% sparsity on" if point is not None else "never, in"
            out.append(f"- sparse beats dense ({mode} mode) {where} {label}")
    t = results["targets"]

    def verdict(wall_ok: bool, cpu_ok: bool) -> str:
        return f"wall {'PASS' if wall_ok else 'FAIL'}, cpu {'PASS' if cpu_ok else 'FAIL'}"

    out.append("\n(d) Targets (wall = wall-clock medians, cpu = thread CPU time medians)\n")
    out.append("| target | wall | cpu | result |")
    out.append("|---|---:|---:|---|")
    out.append(
        "| compressed LSTM-20 (LSTM-96 pruned to 20 units), 256 blocks, fast mode: RTF <= 0.01 | "
        f"{t['rtf_compressed20']:.4f} | {t['rtf_compressed20_cpu']:.4f} | "
        f"{verdict(t['rtf_compressed20'] <= 0.01, t['rtf_compressed20_cpu'] <= 0.01)} |"
    )
    out.append(
        "| >= 5x faster than torch.nn.LSTM for H <= 32 (fast mode, worst H of table (a)) | "
        f"{t['min_torch_over_fast_h32']:.1f}x | {t['min_torch_over_fast_h32_cpu']:.1f}x | "
        f"{verdict(t['min_torch_over_fast_h32'] >= 5, t['min_torch_over_fast_h32_cpu'] >= 5)} |"
    )
    out.append(
        f"| RTF LSTM-96 / compressed LSTM-20 >= 3.7 (fast mode; exact mode: wall "
        f"{t['ratio96_20_exact']:.1f}) | {t['ratio96_20_fast']:.1f} | "
        f"{t['ratio96_20_fast_cpu']:.1f} | "
        f"{verdict(t['ratio96_20_fast'] >= 3.7, t['ratio96_20_fast_cpu'] >= 3.7)} |"
    )
    out.append(
        "| dense vs sparse curve over sparsity, H = 64 (Fig. 8) | table (c), "
        "runtime_sparsity.png | | done |"
    )
    return "\n".join(out) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    from leanamp.plots import plt, save_figure  # matplotlib: an optional dependency

    x = [100 * r["sparsity"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, color in (("dense", "tab:blue"), ("sparse", "tab:orange")):
        for mode, style in (("fast", "-"), ("exact", "--")):
            ax.plot(x, [r[f"cpu_{kind}_{mode}"] for r in rows], style, color=color, marker="o",
                    label=f"{kind} ({mode})")  # fmt: skip
    ax.set_xlabel("sparsity of the LSTM weights (%)")
    ax.set_ylabel("real-time factor (thread CPU time)")
    ax.set_yscale("log")  # the sparse kernel spans 50x; on a linear axis the crossover is lost
    ax.set_title("LSTM-64, 48 kHz, 256-sample blocks, one thread")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="audio per timed run")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="0.1 s, 2 repeats: smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    seconds, repeats = (0.1, 2) if args.quick else (args.seconds, args.repeats)
    started = time.time()
    hidden_rows = table_hidden(seconds, repeats)
    print("(a) done", flush=True)
    results = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": cpu_name(),
            "cores": os.cpu_count(),
            "load": " ".join(f"{v:.1f}" for v in os.getloadavg()),
            "seconds": seconds,
            "repeats": repeats,
            "rate": RATE,
            "numpy": np.__version__,
            "torch": torch.__version__,
        },
        "hidden": hidden_rows,
        "blocks": table_blocks(seconds, repeats),
    }
    print("(b) done", flush=True)
    results["sparsity"] = table_sparsity(seconds, repeats)
    print("(c) done", flush=True)
    results["targets"] = table_targets(seconds, max(repeats, 9), hidden_rows)
    results["meta"]["minutes"] = round((time.time() - started) / 60, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "runtime.json", json.dumps(results, indent=2))
    text = markdown(results)
    write_text_atomic(args.out / "runtime.md", text)
    plot(results["sparsity"], args.out / "runtime_sparsity.png")
    print(text)


if __name__ == "__main__":
    main()
