"""Experiment commands: sweep (many runs on Ray), report (HTML page), listen (MUSHRA test)."""

from __future__ import annotations

from pathlib import Path

import typer

from leanamp.cli.app import app


@app.command("sweep")
def sweep_command(
    config: Path = typer.Argument(..., help="Sweep config (.yaml, .yml or .toml)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Sweep folder (default: sweeps/<config name>)."
    ),
    address: str = typer.Option(
        None, "--address", help="Ray cluster address (e.g. ray://head:10001); default: local Ray."
    ),
    num_cpus: int = typer.Option(None, "--num-cpus", help="CPUs of the local Ray instance."),
    skip: Path = typer.Option(
        None, "--skip", help="A file of run ids finished elsewhere (one per line, '#' starts a "
        "comment): left out, for a sweep that goes on from a record on a new machine.",
    ),
):
    """Run every combination of a sweep config as Ray tasks (needs Ray: pip install -e
    ".[sweep]"); runs already done are skipped, so running it again resumes a killed sweep.
    Results land in <out>/results.sqlite; exits 1 if a run failed."""
    from leanamp.sweep import read_run_ids, run_sweep, sweep_table

    skipped = read_run_ids(skip) if skip is not None else set()
    summary = run_sweep(config, out, address=address, num_cpus=num_cpus, skip=skipped)
    if summary.done or summary.skipped or summary.failed:  # else every run finished elsewhere
        print(sweep_table(summary.sweep_dir))
    if summary.failed:
        raise typer.Exit(1)


@app.command("report")
def report_command(
    folder: Path = typer.Argument(
        ..., help="A sweep folder, a sweep run folder or a `leanamp train` output folder."
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="HTML file (default: <folder>/report.html)."
    ),
):
    """Write one HTML page: run tables, loss and pruning curves, Pareto front, spectra,
    settling times and audio players."""
    from leanamp.report.html import build_report

    print(build_report(folder, out))


@app.command("listen")
def listen_command(
    source: Path = typer.Argument(
        ..., help="A sweep or run folder to build the test from, or a prepared test folder."
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Test folder to prepare (default: <source>/listening)."
    ),
    port: int = typer.Option(8000, "--port", help="Port on 127.0.0.1 (0: any free port)."),
    seconds: float = typer.Option(8.0, "--seconds", help="Length of each stimulus."),
    runs: list[str] = typer.Option(
        None, "--run", help="Only these runs as conditions (repeat the option)."
    ),
    results: bool = typer.Option(
        False, "--results", help="Analyse the answers instead of serving the test."
    ),
):
    """Serve a MUSHRA listening test on localhost, or (--results) post-screen the answers and
    plot mean scores with 95% confidence intervals."""
    from leanamp.listen import open_listening_test, serve_listening_test, write_listening_results

    if not results:
        serve_listening_test(source, out, port, seconds, runs or None)
        return
    outcome, plot = write_listening_results(open_listening_test(source, out, prepare=False))
    print(outcome.table())
    for participant, reason in outcome.dropped.items():
        print(f"dropped {participant}: {reason}")
    print(plot)
