"""Train LSTMs on the real pedal (MorphDrive zendrive g5 t3): paper recipe versus quick recipe.

Split as in ../shared/data/morphdrive/PROVENANCE.md: train on six clips, validate on
guitar-chords, test on guitar-funk2. Reports validation and test ESR and wall time on this CPU.
Runs go two at a time (one process per core, one thread each).

    python benchmarks/bench_train.py --sizes 16 32 --recipes paper quick --minutes 5
"""

from __future__ import annotations

import argparse
import itertools
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from common import morphdrive_data  # benchmarks/common.py

from leanamp.losses import esr_db
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig, Trainer, evaluate

HERE = Path(__file__).resolve().parent


def run(pedal: str, size: int, recipe: str, minutes: float) -> dict:
    torch.set_num_threads(1)
    data = morphdrive_data(pedal)
    torch.manual_seed(0)
    model = LSTMModel(hidden_size=size)
    config = TrainConfig.recipe(
        recipe, max_minutes=minutes, max_epochs=100_000, early_stop_patience=None
    )
    result = Trainer(model, data.train, data.validation, config, progress=False).fit()
    return {
        "hidden_size": size,
        "recipe": recipe,
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.seconds, 1),
        "validation_esr": evaluate(model, data.validation).overall,
        "test_esr": evaluate(model, data.test).overall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--recipes", nargs="+", default=["paper", "quick"])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per model")
    parser.add_argument("--pedal", default="zendrive_g5_t3")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    alignment = morphdrive_data(args.pedal).alignment
    jobs = list(itertools.product(args.sizes, args.recipes))
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run, args.pedal, s, r, args.minutes) for s, r in jobs]
        rows = [f.result() for f in futures]
    for row in rows:
        print(row, flush=True)

    lines = [
        f"MorphDrive {args.pedal}, {args.minutes:g} min of training per model, two runs at a "
        f"time on the 2-core CPU (one thread each). Alignment found: latency "
        f"{alignment.latency} samples, polarity {alignment.polarity:+d}. Recipes: paper = Adam "
        "5e-4, batches of 40; quick = Adam 5e-3, batches of 8, gradient norm clipped at 1; both "
        "0.5 s segments, TBPTT 2048, "
        "1000 warm-up samples, loss 0.75 pre-emphasised ESR + 0.25 DC.",
        "",
        "| model | recipe | parameters | epochs (best) | wall time | validation ESR "
        "| test ESR | test ESR dB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| LSTM-{r['hidden_size']} | {r['recipe']} | {r['parameters']} | {r['epochs']} "
            f"({r['best_epoch']}) | {r['train_seconds']:.0f} s | {r['validation_esr']:.4f} "
            f"| {r['test_esr']:.4f} | {esr_db(r['test_esr']):.1f} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_morphdrive.md").write_text("\n".join(lines) + "\n")
    (args.out / "train_morphdrive.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
