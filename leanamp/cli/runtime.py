"""Real-time commands: bench (real-time factor against torch) and play (live audio)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from leanamp.cli.app import app


@app.command("bench")
def bench_command(
    models: list[Path] = typer.Argument(..., help="Model files to benchmark."),
    block: int = typer.Option(256, "--block", help="Block size in samples."),
    rate: float = typer.Option(48000.0, "--rate", help="Sample rate in Hz."),
    seconds: float = typer.Option(2.0, "--seconds", help="Audio per timed run, in seconds."),
    repeats: int = typer.Option(5, "--repeats", help="Timed runs per model (median reported)."),
    exact: bool = typer.Option(
        False, "--exact", help="Also time the exact (libm activation) kernel mode."
    ),
    sparse: bool = typer.Option(False, "--sparse", help="Use the sparse (CSC) LSTM kernel."),
    width: list[int] = typer.Option(
        [], "--width", help="WaveNets: time the kernel at this width (repeatable, e.g. a "
        "slimmable model at --width 4 --width 8 --width 16).",
    ),
    engine: bool = typer.Option(
        False, "--engine", help="Also time each model in its plugin's C++ engine (NAM Core for "
        ".nam and WaveNets, RTNeural for AIDA-X / Proteus / NeuralPi JSON and LSTMs); builds "
        "the engine from ../shared/peers on first use (minutes).",
    ),
    engine_o3: bool = typer.Option(
        False, "--engine-o3", help="Time the engine built with -O3 only (default: "
        "-O3 -march=native).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
):
    """Real-time factor of each model's streaming kernel, single-threaded, with the same model
    through torch in the same run for the ratio (and in the plugin's engine with --engine). A
    model that cannot run is an error line; the others still run (exit code 2 if any failed)."""
    from leanamp.runtime.bench import bench_files, format_results

    results = bench_files(
        models, widths=width, block=block, rate=rate, seconds=seconds, repeats=repeats,
        modes=("fast", "exact") if exact else ("fast",), kernel="lstm-sparse" if sparse else None,
    )  # fmt: skip
    if engine:
        from leanamp.engines.timing import add_engine_timings_to_files

        add_engine_timings_to_files(results, models, repeats, not engine_o3)
    errors = [r.error for r in results if r.error is not None]
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    elif len(errors) < len(results):
        typer.echo(format_results([r for r in results if r.error is None]))
    for error in errors:
        typer.echo(f"error: {error}", err=True)
    if errors:
        raise typer.Exit(2)


@app.command("play")
def play_command(
    model_path: Path = typer.Argument(..., help="Model file to play through."),
    knob: list[float] = typer.Option(
        [], "--knob", help="Knob value 0..1, once per knob of a conditioned model."
    ),
    block: int = typer.Option(128, "--block", help="Audio block size in samples."),
    rate: float = typer.Option(
        None, "--rate", help="Sample rate in Hz (default: the model's, else 48000)."
    ),
    level_db: float = typer.Option(0.0, "--level-db", help="Output level in dB."),
    input_device: str = typer.Option(None, "--input-device", help="Input device name or index."),
    output_device: str = typer.Option(
        None, "--output-device", help="Output device name or index."
    ),
    input_channel: int = typer.Option(1, "--input-channel", help="Input channel (1-based)."),
    seconds: float = typer.Option(None, "--seconds", help="Stop after this long (default: ^C)."),
    exact: bool = typer.Option(False, "--exact", help="Exact activations (slower)."),
    width: int = typer.Option(None, "--width", help="Slimmable WaveNet: the width to play at."),
):
    """Play live through a model: audio-interface input -> model -> outputs (needs sounddevice
    and an audio device)."""
    from leanamp.runtime.play import play_file

    stats = play_file(
        model_path, knob, block, rate, level_db, input_device, output_device, input_channel,
        seconds, exact, width, log=lambda line: typer.echo(line, err=True),
    )  # fmt: skip
    typer.echo(
        f"played {stats.seconds:.1f} s, {stats.blocks} blocks, {stats.status_events} driver "
        f"under/overflow(s){' (' + stats.last_status + ')' if stats.last_status else ''}, "
        f"peak callback load {100 * stats.max_callback_load:.0f}%",
        err=True,
    )
