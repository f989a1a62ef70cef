"""Why the in-place slimmable rule's full width does not learn: its training step, term by term.

The grid's in-place run (zendrive, 16 channels, seed 0) ended with a full width 3-4x worse than
the sandwich rule's, though both train the full width on the target at every step. This probe
replays the trainer's slimmable step (leanamp.train.Trainer._train_batch: one optimizer step on
L = sum_k loss(f_{w_k}(x), target_k), the widths by the rule, largest first; a test checks the
gradients are the trainer's) from the grid's initial model and records per step and per width:
the loss's MSE and multi-resolution STFT terms (leanamp.losses.NAMLoss: MSE + 2e-4 x MRSTFT of
pre-emphasised signals) and the norm of that width's gradient; the cosine between the full
width's gradient g_full and the smaller widths' summed gradient g_small (negative: the smaller
widths' updates raise the full width's loss, to first order); and the full width's validation
ESR (whole clip) every `--every` steps. Variants:

- sandwich: every width against the target;
- inplace: widths below the largest against the largest's output, detached, with NAM's loss
  (what the grid ran);
- inplace-mse: the same with the distillation terms as plain MSE (no STFT term).

    python benchmarks/lean/inplace_probe.py --steps 100 --out benchmarks/results/inplace_probe.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from leanamp.data import make_segments
from leanamp.files import write_text_atomic
from leanamp.inference import run_model
from leanamp.losses import NAMLoss, esr
from leanamp.models.slim import make_slimmable
from leanamp.sweep.config import load_sweep_config
from leanamp.sweep.methods import build_device_data, build_model

HERE = Path(__file__).resolve().parent
VARIANTS = ("sandwich", "inplace", "inplace-mse")


def cosine(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """Cosine between two gradients given as lists of tensors."""
    dot = sum(float((x * y).sum()) for x, y in zip(a, b, strict=True))
    norms = [float(torch.sqrt(sum((x**2).sum() for x in v))) for v in (a, b)]
    return dot / max(norms[0] * norms[1], 1e-30)


def step_terms(model, x, y, skip: int, variant: str, loss_fn: NAMLoss, params: list, rng) -> tuple:
    """One trainer step's gradient, as leanamp.train.Trainer._train_batch sums it, with its
    parts: (sum of the widths' gradients, the full width's alone, one record per width)."""
    passes = model.on_train_batch_start(rng)
    grads = [torch.zeros_like(p) for p in params]
    target, widths, full_grads = y, [], None
    for k in range(passes):
        model.select_pass(k)
        prediction = model(x)[0][:, skip:]
        mse, stft = loss_fn.terms(prediction, target)
        loss = mse if (variant == "inplace-mse" and k > 0) else mse + stft
        pass_grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
        for total, g in zip(grads, pass_grads, strict=True):
            total += g
        if k == 0:
            full_grads = pass_grads
        widths.append({"width": model._step_widths[k][0], "mse": mse.item(), "stft": stft.item(),
                       "grad_norm": float(torch.sqrt(sum((g**2).sum() for g in pass_grads))),
                       "against": "target" if target is y else "largest"})  # fmt: skip
        if variant != "sandwich" and k == 0:
            target = prediction.detach()
    return grads, full_grads, widths


def probe(variant: str, spec, data, steps: int, every: int, widths: list[int] | None) -> dict:
    """`steps` optimizer steps of the zendrive slimmable WaveNet by `variant`, from the grid's
    initial model (its seed), with the records described in the module docstring."""
    rule = "sandwich" if variant == "sandwich" else "inplace"
    model = make_slimmable(build_model(spec, data.input_size), widths, rule)
    cfg = spec.train
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"])
    segment_samples = int(round(cfg["segment_seconds"] * data.sample_rate))
    inputs, targets = make_segments(data.train, segment_samples)
    skip = model.receptive_field - 1
    loss_fn, params = NAMLoss(), [p for p in model.parameters() if p.requires_grad]
    rng = np.random.default_rng(spec.seed)  # the widths of each step
    generator = torch.Generator().manual_seed(spec.seed)
    order = torch.cat([torch.randperm(len(inputs), generator=generator)
                       for _ in range(1 + steps * cfg["batch_size"] // len(inputs))])  # fmt: skip
    validation = data.validation[0]
    records, start = [], time.process_time()
    for step in range(steps):
        model.train()
        index = order[step * cfg["batch_size"] : (step + 1) * cfg["batch_size"]]
        grads, full_grads, terms = step_terms(
            model, inputs[index], targets[index][:, skip:], skip, variant, loss_fn, params, rng
        )
        # Do the smaller widths' gradients help the full width's loss or work against it?
        students = [total - g for total, g in zip(grads, full_grads, strict=True)]
        record = {"step": step + 1, "widths": terms,
                  "cosine_full_students": cosine(full_grads, students)}  # fmt: skip
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        optimizer.step()
        records.append(record)
        if (step + 1) % every == 0 or step + 1 == steps:
            model.eval()
            with torch.no_grad():
                record["validation_esr_full"] = esr(run_model(model, validation.input),
                                                    validation.target)  # fmt: skip
            recent = np.mean([r["cosine_full_students"] for r in records[-every:]])
            cpu = time.process_time() - start
            print(f"{variant:12s} step {step + 1:4d} full-width validation ESR "
                  f"{record['validation_esr_full']:.4f}, cosine(full, smaller widths) "
                  f"{recent:+.2f} ({cpu:.0f} CPU-s)", flush=True)  # fmt: skip
    return {"variant": variant, "widths": model.widths, "records": records,
            "cpu_seconds": time.process_time() - start}  # fmt: skip


def summary(result: dict, window: int = 10) -> dict:
    """Mean over the last `window` steps of each term, by whether a pass learnt the target."""
    last = result["records"][-window:]
    out = {}
    for against in ("target", "largest"):
        rows = [w for r in last for w in r["widths"] if w["against"] == against]
        if rows:
            out[against] = {key: float(np.mean([w[key] for w in rows]))
                            for key in ("mse", "stft", "grad_norm")}  # fmt: skip
    esrs = [r["validation_esr_full"] for r in result["records"] if "validation_esr_full" in r]
    out["validation_esr_full"] = esrs
    out["cosine_full_students"] = float(np.mean([r["cosine_full_students"] for r in last]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--widths", type=int, nargs="+", help="allowed widths (default 1..16)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sweep = load_sweep_config(HERE / "zendrive-slim-inplace.yaml")
    spec = next(s for s in sweep.runs if s.seed == args.seed)
    data = build_device_data(spec)
    results = {}
    for variant in args.variants:
        results[variant] = probe(variant, spec, data, args.steps, args.every, args.widths)
        print(json.dumps({variant: summary(results[variant])}, indent=1), flush=True)
    write_text_atomic(args.out, json.dumps(results))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
