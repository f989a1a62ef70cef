"""Benchmark of `leanamp.prune` (issue 3): mask search, compression, and the paper's comparisons.

For one device per run (`--device zendrive`: the real MorphDrive pedal zendrive g5 t3, split as in
its PROVENANCE.md; `--device overdrive`: the same dry clips rendered through leanamp's virtual
overdrive): train a 64-unit LSTM (fully train first), run the mask search, choose the level from
the validation losses, compress it and fine-tune it densely; then train a model of the compressed
size from scratch for the same total number of epochs, and prune the trained unpruned model in one
shot to the chosen level's sparsity, retrained for as many epochs as the search trained under
masks up to that level. Test ESR on the whole test clip, real-time factors, and settling time.

Sized far below the paper's budget (its FTF training to convergence and 750 retraining epochs):
20 pretraining epochs, 15 iterations of at most 6 epochs with k = 3, training on the first
`--train-seconds` (1.7 s) of each of the six training clips in 0.25 s segments, validation on the
first 3 s of its clip, test on the whole test clip, learning rate 10x the paper's. Measured on the
shared 2-core machine: about 10 minutes per device for the pipeline and 11 for the scratch
baseline once the search is done; the search itself 10 to 17 minutes per device under load.
`--report` merges the per-device JSON files into benchmarks/results/prune.md.

    python benchmarks/bench_prune.py --device zendrive &
    python benchmarks/bench_prune.py --device zendrive --part scratch &
    (the same for --device overdrive)
    python benchmarks/bench_prune.py --report
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from common import device_data, first_seconds  # benchmarks/common.py

from leanamp.files import write_text_atomic
from leanamp.models import LSTMModel
from leanamp.plots.pruning import (
    plot_impulse_responses,
    plot_pruning_curve,
    pruning_table,
    search_table,
)
from leanamp.prune import (
    SearchConfig,
    choose_level,
    compress,
    count_parameters,
    fine_tune_dense,
    impulse_response,
    load_search,
    mask_search,
    one_shot_prune,
    summarize,
)
from leanamp.runtime.bench import real_time_factor
from leanamp.train import TrainConfig, Trainer, evaluate

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def run_device(args) -> dict:
    torch.set_num_threads(1)
    started = time.monotonic()
    data = device_data(args.device)
    train = first_seconds(data.train, args.train_seconds)
    validation = first_seconds(data.validation, args.validation_seconds)
    test = data.test
    rate = data.sample_rate
    config = TrainConfig(
        segment_seconds=0.25, batch_size=40, warmup_samples=1000, tbptt_samples=2048,
        learning_rate=5e-3, validate_every=2, lr_patience=3, early_stop_patience=5,
        accelerator="cpu", seed=0,
    )
    search = SearchConfig(
        iterations=args.iterations, prune_fraction=0.3, distance_window=args.window,
        distance_threshold=0.1, max_epochs_per_iteration=args.max_epochs_per_iteration,
        fully_train_first=True, pretrain_epochs=args.pretrain_epochs,
    )
    out = RESULTS / f"prune_runs/{args.device}"
    if args.part == "scratch":
        return run_scratch(args, out, train, validation, test, config)
    torch.manual_seed(0)
    model = LSTMModel(hidden_size=args.hidden_size)
    result = mask_search(model, train, validation, out / "search", search, config,
                         resume=True, progress=False)
    records = result.records
    search_epochs = sum(r["epochs"] for r in records)
    print(f"[{args.device}] search done: {search_epochs} epochs, "
          f"{time.monotonic() - started:.0f} s", flush=True)

    unpruned, _ = result.load(0)
    chosen = choose_level(records, args.tolerance)
    pruned, _ = result.load(chosen["level"])
    compressed = compress(pruned)
    summary = summarize(pruned, compressed)
    x = np.concatenate([c.input for c in test])
    from leanamp.inference import run_model

    compression_error = float(np.max(np.abs(run_model(compressed, x) - run_model(pruned, x))))
    test_pruned_before_finetune = evaluate(compressed, test).overall
    pruned_nonzero = count_parameters(compressed)["nonzero_parameters"]
    finetune = fine_tune_dense(compressed, train, validation, args.finetune_epochs, config,
                               progress=False)
    test_unpruned = evaluate(unpruned, test).overall
    test_pruned = evaluate(compressed, test).overall
    print(f"[{args.device}] chosen level {chosen['level']}, compressed to "
          f"{compressed.hidden_size}", flush=True)

    # One shot to the chosen level's sparsity, retrained for as many epochs as the iterative
    # search trained under masks up to that level.
    iterative_epochs = sum(r["epochs"] for r in records[1 : chosen["level"] + 1])
    one_shot_model, _ = result.load(0)
    one_shot = one_shot_prune(one_shot_model, chosen["sparsity"], train, validation,
                              max(iterative_epochs, 1), config, progress=False)
    test_one_shot = evaluate(one_shot_model, test).overall
    print(f"[{args.device}] one-shot done", flush=True)

    rtf_unpruned = real_time_factor(unpruned, rate)
    rtf_pruned = real_time_factor(compressed, rate)
    impulse = impulse_response(unpruned, rate)
    impulse_pruned = impulse_response(compressed, rate)
    plot_pruning_curve(records, RESULTS / f"prune_{args.device}_search.png",
                       f"Mask search, {args.device}, LSTM {args.hidden_size}", chosen["level"])
    plot_impulse_responses(
        {f"{args.device} unpruned": impulse, f"{args.device} pruned": impulse_pruned},
        RESULTS / f"prune_{args.device}_settling.png",
    )
    row = {
        "device": args.device,
        "hidden_unpruned": unpruned.hidden_size,
        "hidden_pruned": compressed.hidden_size,
        "params_unpruned": count_parameters(unpruned)["parameters"],
        "params_pruned": pruned_nonzero,  # non-zero, before dense fine-tuning (as Table I)
        "pruned_percent": 100 * chosen["sparsity"],
        "test_esr_unpruned": test_unpruned,
        "test_esr_pruned": test_pruned_before_finetune,
        "rtf_unpruned": rtf_unpruned.value,
        "rtf_pruned": rtf_pruned.value,
        "rtf_method": rtf_unpruned.method,
    }
    report = {
        "device": args.device,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "train_config": asdict(config),
        "search_config": asdict(search),
        "data_seconds": {
            "train": sum(c.seconds for c in train),
            "validation": sum(c.seconds for c in validation),
            "test": sum(c.seconds for c in test),
        },
        "records": records,
        "chosen_level": chosen["level"],
        "compression": asdict(summary),
        "compression_max_abs_error_on_test_audio": compression_error,
        "finetune": finetune,
        "test_esr": {
            "unpruned": test_unpruned,
            "pruned_compressed_before_finetune": test_pruned_before_finetune,
            "pruned_compressed_finetuned": test_pruned,
            "iterative_at_chosen_level": test_pruned_before_finetune,
            "one_shot_at_chosen_level": test_one_shot,
        },
        "epochs": {
            "search_total": search_epochs,
            "pretrain": records[0]["epochs"],
            "finetune": finetune["epochs"],
            "iterative_up_to_chosen_level": iterative_epochs,
            "one_shot_retrain": one_shot.record["epochs"],
        },
        "one_shot_effective_hidden_size": one_shot.record["effective_hidden_size"],
        "settling_ms": {
            "unpruned": 1000 * impulse.settling_seconds,
            "pruned": 1000 * impulse_pruned.settling_seconds,
        },
        "table_row": row,
        "minutes": (time.monotonic() - started) / 60,
    }
    write_text_atomic(RESULTS / f"prune_{args.device}.json", json.dumps(report, indent=1))
    print(f"[{args.device}] finished in {report['minutes']:.1f} min", flush=True)
    return report


def run_scratch(args, out: Path, train, validation, test, config: TrainConfig) -> dict:
    """A model of the compressed size trained from scratch for the pipeline's total epochs (the
    whole search plus the fine-tuning budget). Runs beside `--part pipeline`, once the search in
    `out` has finished."""
    while True:
        state = out / "search" / "search.json"
        if state.exists() and json.loads(state.read_text())["status"] == "finished":
            break
        time.sleep(20)
    started = time.monotonic()
    result = load_search(out / "search")
    records = result.records
    chosen = choose_level(records, args.tolerance)
    pruned, _ = result.load(chosen["level"])
    hidden = compress(pruned).hidden_size
    epochs = sum(r["epochs"] for r in records) + args.finetune_epochs
    torch.manual_seed(1)
    scratch = LSTMModel(hidden_size=hidden)
    scratch_config = TrainConfig(**{**asdict(config), "early_stop_patience": None})
    Trainer(scratch, train, validation, scratch_config, progress=False).fit(epochs)
    report = {"device": args.device, "hidden_size": hidden, "epochs": epochs,
              "test_esr": evaluate(scratch, test).overall,
              "minutes": (time.monotonic() - started) / 60}
    write_text_atomic(RESULTS / f"prune_{args.device}_scratch.json", json.dumps(report, indent=1))
    print(f"[{args.device}] scratch done ({epochs} epochs)", flush=True)
    return report


def write_report() -> None:
    reports = [
        json.loads(p.read_text())
        for p in sorted(RESULTS.glob("prune_*.json"))
        if not p.stem.endswith("_scratch")
    ]
    for r in reports:
        scratch = RESULTS / f"prune_{r['device']}_scratch.json"
        r["scratch"] = json.loads(scratch.read_text()) if scratch.exists() else None
    if not reports:
        raise SystemExit("no per-device results yet: run with --device first")
    rows = [r["table_row"] for r in reports]
    parts = ["# Pruning benchmark (leanamp.prune)", "", pruning_table(rows), ""]
    parts.append(
        "| Device | Test ESR unpruned [%] | Pruned+compressed, dense fine-tuned [%] | Scratch at "
        "compressed size, same epochs [%] | Iterative at chosen level [%] | One-shot at chosen "
        "level [%] | Chosen level pruned [%] | Settling unpruned / pruned [ms] |"
    )
    parts.append("|---|---|---|---|---|---|---|---|")
    for r in reports:
        e = r["test_esr"]
        scratch = r["scratch"]["test_esr"] if r["scratch"] else float("nan")
        cells = [e["unpruned"], e["pruned_compressed_finetuned"], scratch,
                 e["iterative_at_chosen_level"], e["one_shot_at_chosen_level"]]
        parts.append(
            f"| {r['device']} | " + " | ".join(f"{100 * v:.2f}" for v in cells)
            + f" | {r['table_row']['pruned_percent']:.1f} | "
            f"{r['settling_ms']['unpruned']:.1f} / {r['settling_ms']['pruned']:.1f} |"
        )
    for r in reports:
        parts += [
            "", f"## {r['device']}: mask search levels", "", search_table(r["records"]), "",
            f"Chosen level {r['chosen_level']} (tolerance {r['settings']['tolerance']}); "
            f"compression max |difference| on the test audio "
            f"{r['compression_max_abs_error_on_test_audio']:.2e}; epochs {r['epochs']}; "
            f"scratch {r['scratch']}; one-shot effective hidden size "
            f"{r['one_shot_effective_hidden_size']}; "
            f"data seconds {r['data_seconds']}; {r['minutes']:.1f} min.",
        ]
    write_text_atomic(RESULTS / "prune.md", "\n".join(parts) + "\n")
    print("\n".join(parts))


def main() -> None:
    global RESULTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["zendrive", "overdrive"])
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--part", choices=["pipeline", "scratch"], default="pipeline",
                        help="scratch: the from-scratch baseline, in parallel to the pipeline")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--train-seconds", type=float, default=1.7)
    parser.add_argument("--validation-seconds", type=float, default=3.0)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--window", type=int, default=3)
    parser.add_argument("--max-epochs-per-iteration", type=int, default=6)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--results", type=Path, default=RESULTS, help="Output folder.")
    args = parser.parse_args()
    RESULTS = args.results
    if args.report:
        write_report()
    elif args.device:
        run_device(args)
    else:
        parser.error("give --device or --report")


if __name__ == "__main__":
    main()
