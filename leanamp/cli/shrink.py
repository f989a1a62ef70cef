"""`leanamp shrink`: the most accurate model that fits a budget (leanamp.workflows.shrink)."""

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


@app.command("shrink")
def shrink(
    input_path: Path = typer.Argument(..., metavar="INPUT", help=INPUT_HELP),
    target_path: Path = typer.Argument(..., metavar="TARGET", help=TARGET_HELP),
    out: Path = typer.Option(..., help="Output folder (candidates, report, the chosen model)."),
    max_rtf: float = typer.Option(
        None, help="Real-time factor budget: thread CPU time over audio time of leanamp's "
        "streaming kernel on this machine, 256-sample blocks, --rtf-seconds of audio."
    ),
    rtf_mode: str = typer.Option(
        "exact", help="Kernel mode --max-rtf is timed in: exact (libm activations; the cost "
        "grows with the size) or fast (leanamp's real-time default, and what leanamp bench times "
        "unless --exact; it prices small LSTMs in steps that depend on the CPU, so which sizes "
        "share a price differs between machines)."
    ),
    max_macs: int = typer.Option(None, help="Multiply-adds per sample budget."),
    target: str = typer.Option(
        None, help="Named target: pi4 (1M MACs/sample, 256 MB) or mcu-m7 (160k MACs/sample, "
        "256 kB); with --max-macs the smaller bound counts."
    ),
    from_model: Path = typer.Option(
        None, "--from", help="A big model already trained (any format): distilled, trimmed and "
        "pruned instead of training one."
    ),
    minutes: float = typer.Option(30.0, help="Total CPU minutes for all candidates."),
    methods: str = typer.Option(
        None, help="Candidate order, comma-separated (default: dense,restart,distill,"
        "structured,unit_aware_prune,train_on; restart: the dense model from the next seed; "
        "train_on: the best candidate before it, trained on)."
    ),
    target_prefix: str = typer.Option("", help=PREFIX_HELP),
    validation: list[str] = typer.Option(None, help="Clip name(s) held out for validation."),
    test: list[str] = typer.Option(None, help="Clip name(s) held out for testing."),
    max_epochs: int = typer.Option(5000, help="Cap on the epochs of one training."),
    rtf_seconds: float = typer.Option(0.5, help="Audio seconds timed per real-time factor."),
    seed: int = typer.Option(0),
    align: bool = typer.Option(True, help="Estimate and apply latency and polarity."),
    latency: int = latency_option(),
    polarity: int = polarity_option(),
    resample: bool = typer.Option(True, help="Resample the target to the input's rate if needed."),
    sample_rate: int = typer.Option(None, help="Resample everything to this rate."),
):
    """Train candidate models by several methods and keep the most accurate that fits the
    budget; the plan is shown first, a killed shrink resumes in OUT."""
    from leanamp.workflows.shrink import shrink_recordings

    summary = shrink_recordings(
        input_path, target_path, out, max_rtf=max_rtf, max_macs=max_macs, target=target,
        rtf_mode=rtf_mode,
        from_model=from_model, minutes=minutes, methods=methods, max_epochs=max_epochs,
        rtf_seconds=rtf_seconds, seed=seed, progress=True, log=typer.echo,
        target_prefix=target_prefix, validation=validation, test=test, align=align,
        resample=resample, sample_rate=sample_rate, latency=latency, polarity=polarity,
    )  # fmt: skip
    typer.echo(f"chosen: {summary['chosen']} (validation ESR {summary['validation_esr']:.4g}, "
               f"test ESR {summary['test_esr']:.4g}, RTF {summary['rtf']:.4g})")
    typer.echo(f"model: {summary['model']}; report: {out / 'report.md'}")
    typer.echo(f"export: {summary['export']}")
