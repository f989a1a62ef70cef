"""Transfer commands: suggest-start (rank start models), compare-runs (curves in one plot)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from leanamp.cli.app import app
from leanamp.cli.core import latency_option, polarity_option
from leanamp.errors import LeanampError


@app.command("suggest-start")
def suggest_start_command(
    input_path: Path = typer.Option(..., "--input", help="Dry input recording, or a folder."),
    target_path: Path = typer.Option(
        ..., "--target", help="The device's output recording, or a folder with one per input."
    ),
    library: list[Path] = typer.Option(
        ..., help="Folder of candidate model files (any importable format); repeatable."
    ),
    target_prefix: str = typer.Option("", help="Target file names are PREFIX + input name."),
    seconds: float = typer.Option(8.0, help="Seconds of audio to score every candidate on."),
    align: bool = typer.Option(True, help="Estimate and apply latency and polarity first."),
    latency: int = latency_option(),
    polarity: int = polarity_option(),
    top: int = typer.Option(10, help="Candidates to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole ranking as JSON."),
):
    """Rank model files by how well they already explain the target; name the one to start from.

    Score: ESR of each model's output on a slice of every clip after the best gain (and sign,
    i.e. polarity) is fitted; knob inputs are tried over a grid.
    """
    from leanamp.transfer import RANKING_LEGEND, best_start, suggest_start

    ranking = suggest_start(
        input_path, target_path, library, target_prefix, seconds=seconds, align=align,
        latency=latency, polarity=polarity,
    )
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in ranking], indent=1))
        return
    typer.echo(RANKING_LEGEND + "\n")
    for k, candidate in enumerate(ranking[:top], 1):
        typer.echo(f"{k:>2}. {candidate.describe()}")
    chosen = best_start(ranking, ", ".join(map(str, library)))
    knobs = (
        f" (its knob inputs at {list(chosen.knob_values)})" if chosen.knob_values else ""
    )
    typer.echo(f"start from: {chosen.path}{knobs}")


@app.command("compare-runs")
def compare_runs_command(
    out: Path = typer.Argument(..., help="PNG file to write."),
    runs: list[str] = typer.Argument(
        ..., metavar="LABEL=RUN_DIR...", help="Training output folders, each with a label."
    ),
    title: str = typer.Option("", help="Plot title."),
):
    """Plot the loss curves of several training runs together (e.g. from scratch vs transfer)."""
    from leanamp.transfer import compare_runs

    labelled = {}
    for run in runs:
        label, sep, folder = run.partition("=")
        if not sep or not label or not folder:
            raise LeanampError(f"{run!r}: write LABEL=RUN_DIR, e.g. scratch=runs/honeybee")
        labelled[label] = folder
    typer.echo(f"wrote {compare_runs(labelled, out, title)}")
