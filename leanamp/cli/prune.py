"""Pruning commands: `prune` (mask search, choice, compression, report) and `compress`."""

from __future__ import annotations

from pathlib import Path

import typer

from leanamp.cli.app import app
from leanamp.cli.core import (
    INPUT_HELP,
    PREFIX_HELP,
    TARGET_HELP,
    latency_option,
    polarity_option,
)
from leanamp.errors import LeanampError


@app.command("prune")
def prune(
    input_path: Path = typer.Argument(..., metavar="INPUT", help=INPUT_HELP),
    target_path: Path = typer.Argument(..., metavar="TARGET", help=TARGET_HELP),
    out: Path = typer.Option(..., help="Output folder (search levels, report, pruned model)."),
    model_path: Path = typer.Option(
        None, "--model", help="Start from this trained LSTM model (e.g. with --pretrain-epochs 0)."
    ),
    target_prefix: str = typer.Option("", help=PREFIX_HELP),
    validation: list[str] = typer.Option(None, help="Clip name(s) held out for validation."),
    test: list[str] = typer.Option(None, help="Clip name(s) held out for testing."),
    hidden_size: int = typer.Option(64, help="LSTM hidden size (without --model)."),
    residual: bool = typer.Option(True, help="y = W h + b + x (the paper)."),
    iterations: int = typer.Option(15, help="Pruning iterations N."),
    prune_fraction: float = typer.Option(0.3, help="Share p of the remaining weights pruned each."),
    window: int = typer.Option(5, help="Early bird: k consecutive mask distances..."),
    threshold: float = typer.Option(0.1, help="...all below epsilon end an iteration."),
    max_epochs_per_iteration: int = typer.Option(100, help="Cap on the epochs of one iteration."),
    fully_train_first: bool = typer.Option(
        True, help="Train the unpruned model to convergence first (FTF, the paper's default)."
    ),
    pretrain_epochs: int = typer.Option(200, help="FTF: maximum epochs of the unpruned model."),
    rewind_epoch: int = typer.Option(
        None, help="Mask search: weight rewinding to this epoch of the unpruned training "
        "(default: rewind only the learning rate). structured with --rewind early: the epoch "
        "rewound to (default 1)."
    ),
    include_biases: bool = typer.Option(False, help="Prune biases too."),
    unit_aware: bool = typer.Option(
        False, help="Rank weights by their hidden unit's pooled norm, so whole units die and "
        "compression removes them."
    ),
    protect_head: bool = typer.Option(
        False, help="Prune the head on its own (never below one weight), so a global threshold "
        "cannot take every head weight."
    ),
    tolerance: float = typer.Option(
        0.1, help="Choose the most pruned level whose validation loss is within this share of "
        "the unpruned model's."
    ),
    level: int = typer.Option(None, help="Use this search level instead of choosing one."),
    finetune_epochs: int = typer.Option(0, help="Dense fine-tuning epochs after compression."),
    batch_size: int = typer.Option(40, help="Segments per mini-batch."),
    segment_seconds: float = typer.Option(0.5, help="Training segment length."),
    learning_rate: float = typer.Option(5e-4, help="Adam learning rate."),
    patience: int = typer.Option(25, help="FTF: stop after N validations without improvement."),
    loss: str = typer.Option("paper", help="paper (0.75 pre-emph. ESR + 0.25 DC), esr or mse."),
    seed: int = typer.Option(0),
    accelerator: str = typer.Option("auto", help="cpu, cuda, mps or auto."),
    align: bool = typer.Option(True, help="Estimate and apply latency and polarity."),
    latency: int = latency_option(),
    polarity: int = polarity_option(),
    resample: bool = typer.Option(True, help="Resample the target to the input's rate if needed."),
    sample_rate: int = typer.Option(None, help="Resample everything to this rate."),
    resume: bool = typer.Option(False, help="Continue the search in OUT where it stopped."),
    name: str = typer.Option("pruned", help="Pruned model file name (without suffix)."),
    method: str = typer.Option(
        "magnitude", help="magnitude: weight masks + compression (LSTM); structured: trim whole "
        "LSTM units / WaveNet channels (structured lottery, Esling et al. 2020)."
    ),
    criterion: str = typer.Option(
        "magnitude", help="structured: unit score, magnitude, activation, gradient or "
        "mutual_information."
    ),
    selection: str = typer.Option(
        "global", help="structured: global (scores normalised per layer, pooled) or local."
    ),
    rewind: str = typer.Option(
        "early", help="structured: after each trim, early (rewind to --rewind-epoch, default 1), "
        "finetune (keep the weights) or reinit."
    ),
    unit_fraction: float = typer.Option(
        0.25, help="structured: share of the remaining units trimmed per iteration."
    ),
):
    """Prune a model: LSTM weight masks (iterative magnitude pruning, early-bird mask search) then
    compression, or, with --method structured, trimming whole units of an LSTM or WaveNet.
    Training follows the paper's recipe (Adam 5e-4, batches of 40; leanamp train defaults to
    the quick one), unless --learning-rate or --batch-size say otherwise.

    Structured: --iterations trims, each followed by --max-epochs-per-iteration epochs of
    retraining, after --pretrain-epochs of training; the chosen model is the smallest whose
    validation loss is within --tolerance of the untrimmed one's (or --level).
    """
    from leanamp.prune.search import SearchConfig
    from leanamp.prune.structured import StructuredConfig
    from leanamp.train import TrainConfig
    from leanamp.workflows.prune import prune_recordings

    summary = prune_recordings(
        input_path, target_path, out, method=method, model_path=model_path,
        hidden_size=hidden_size, residual=residual, tolerance=tolerance, level=level,
        finetune_epochs=finetune_epochs, resume=resume, name=name, log=typer.echo,
        data_options=dict(target_prefix=target_prefix, validation=validation, test=test,
                          align=align, resample=resample, sample_rate=sample_rate,
                          latency=latency, polarity=polarity),
        search=SearchConfig(
            iterations=iterations, prune_fraction=prune_fraction, distance_window=window,
            distance_threshold=threshold, max_epochs_per_iteration=max_epochs_per_iteration,
            fully_train_first=fully_train_first, pretrain_epochs=pretrain_epochs,
            rewind_epoch=rewind_epoch, include_biases=include_biases, unit_aware=unit_aware,
            protect_head=protect_head),
        structured=StructuredConfig(
            criterion=criterion, selection=selection, fraction=unit_fraction,
            iterations=iterations, rewind=rewind,
            rewind_epoch=1 if rewind_epoch is None else rewind_epoch,
            pretrain_epochs=pretrain_epochs, epochs_per_iteration=max_epochs_per_iteration),
        train=TrainConfig(
            segment_seconds=segment_seconds, batch_size=batch_size, learning_rate=learning_rate,
            early_stop_patience=patience, max_epochs=pretrain_epochs, loss=loss, seed=seed,
            accelerator=accelerator),
    )  # fmt: skip
    typer.echo(_describe(summary, out))


def _describe(summary: dict, out: Path) -> str:
    """The lines `leanamp prune` prints about its chosen model."""
    if summary["method"] == "structured":
        return (
            f"chosen iteration {summary['chosen_iteration']}: units {summary['units']}, "
            f"{summary['parameters']} parameters, {summary['macs_per_sample']} MACs/sample\n"
            f"{summary['esr_split']} ESR {summary['esr']:.4f}\nmodel: {summary['model']}"
        )
    compression = summary["compression"]
    return (
        f"chosen level {summary['chosen_level']}: {100 * summary['sparsity']:.1f}% pruned, hidden "
        f"size {compression['hidden_size']} -> {compression['compressed_hidden_size']}, "
        f"{compression['compressed_nonzero_parameters']} non-zero parameters\n"
        f"{summary['esr_split']} ESR unpruned {summary['esr_unpruned']:.4f}, pruned "
        f"{summary['esr_pruned']:.4f}\nmodel: {summary['model']}\nreport: {Path(out) / 'report.md'}"
    )


@app.command("compress")
def compress_command(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="A pruned LSTM model file."),
    output_path: Path = typer.Argument(..., metavar="OUT", help="The compressed .leanamp file."),
    fold_constant_units: bool = typer.Option(
        False, help="Also fold units without inputs into biases (exact only once they settle)."
    ),
    max_settle_samples: int = typer.Option(
        480, help="Fold only units that settle within this many samples."
    ),
):
    """Remove the hidden units of a pruned LSTM that cannot affect its output."""
    from dataclasses import asdict

    import numpy as np

    from leanamp.formats import load_any
    from leanamp.formats.native import save_model
    from leanamp.inference import run_model
    from leanamp.prune.compress import compress, summarize

    model, metadata = load_any(model_path)
    try:
        compressed = compress(model, fold_constant_units, max_settle_samples)
    except LeanampError as e:
        raise LeanampError(f"{model_path}: {e}") from None
    summary = summarize(model, compressed)
    rate = float(metadata.get("sample_rate") or 48000)
    # Check on a second of noise; folded units make the start differ (see leanamp.prune.compress).
    rng = np.random.default_rng(0)
    x = np.full((int(rate), int(model.config.get("input_size", 1))), 0.5, dtype=np.float32)
    x[:, 0] = 0.25 * rng.standard_normal(len(x))
    difference = np.abs(run_model(compressed, x) - run_model(model, x))
    save_model(compressed, output_path, {**metadata, "compression": asdict(summary)})
    typer.echo(summary.describe())
    typer.echo(
        f"max |output difference| on 1 s of noise: {difference.max():.2e} "
        f"(second half: {difference[len(x) // 2 :].max():.2e})"
    )
    typer.echo(f"model: {output_path}")
