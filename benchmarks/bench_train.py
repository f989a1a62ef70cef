"""Train LSTMs on the real pedal (MorphDrive zendrive g5 t3) with the paper's recipe.

Split as in ../shared/data/morphdrive/PROVENANCE.md: train on six clips, validate on
guitar-chords, test on guitar-funk2. Reports validation and test ESR and wall time on this CPU.

    python benchmarks/bench_train.py --sizes 16 32 --minutes 6
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from leanamp.data import load_device_data
from leanamp.losses import esr_db
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig, Trainer, evaluate

HERE = Path(__file__).resolve().parent
MORPHDRIVE = HERE.parent.parent / "shared" / "data" / "morphdrive"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--minutes", type=float, default=6.0, help="training budget per model")
    parser.add_argument("--pedal", default="zendrive_g5_t3")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    torch.set_num_threads(1)
    data = load_device_data(
        MORPHDRIVE / "dry",
        MORPHDRIVE / "pedal",
        f"a_{args.pedal}_",
        validation=["guitar-chords"],
        test=["guitar-funk2"],
    )
    print(data.summary(), flush=True)
    rows = []
    for size in args.sizes:
        torch.manual_seed(0)
        model = LSTMModel(hidden_size=size)
        config = TrainConfig(max_minutes=args.minutes, max_epochs=10_000, early_stop_patience=None)
        result = Trainer(model, data.train, data.validation, config, progress=False).fit()
        val = evaluate(model, data.validation).overall
        test = evaluate(model, data.test).overall
        rows.append(
            {
                "hidden_size": size,
                "parameters": sum(p.numel() for p in model.parameters()),
                "epochs": result.epochs,
                "best_epoch": result.best_epoch,
                "train_seconds": round(result.seconds, 1),
                "validation_esr": val,
                "test_esr": test,
            }
        )
        print(rows[-1], flush=True)

    lines = [
        f"Pedal: MorphDrive {args.pedal}; paper recipe (0.5 s segments, batch 40, TBPTT 2048, "
        f"Adam 5e-4); {args.minutes:g} min budget per model on this 2-core CPU; "
        f"alignment: {data.alignment.latency} samples, polarity {data.alignment.polarity:+d}.",
        "",
        "| model | parameters | epochs (best) | wall time | validation ESR | test ESR "
        "| test ESR dB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| LSTM-{r['hidden_size']} | {r['parameters']} | {r['epochs']} ({r['best_epoch']}) | "
            f"{r['train_seconds']:.0f} s | {r['validation_esr']:.4f} | {r['test_esr']:.4f} | "
            f"{esr_db(r['test_esr']):.1f} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_morphdrive.md").write_text("\n".join(lines) + "\n")
    (args.out / "train_morphdrive.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
