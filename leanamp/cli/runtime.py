"""Real-time commands: bench (real-time factor against torch) and play (live audio)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from leanamp.cli.app import app
from leanamp.errors import LeanampError


def _start_options(model, metadata: dict) -> dict:
    """Kernel options for the model's stored start state (NAM LSTMs), if it has one."""
    from leanamp.formats import start_state

    state = start_state(model, metadata)
    return {} if state is None else {"initial_state": state}


def _check_width(model, width: int, path: Path) -> None:
    try:
        model.array_widths(width)
    except ValueError as e:
        raise LeanampError(f"{path}: --width {width}: {e}") from None


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
    sparse: bool = typer.Option(False, "--sparse", help="Use the sparse (CSR) LSTM kernel."),
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
    through torch in the same run for the ratio (and in the plugin's engine with --engine)."""
    from leanamp.formats import load_any
    from leanamp.runtime.bench import bench_models, format_results

    if not (math.isfinite(seconds) and seconds > 0) or not (math.isfinite(rate) and rate > 0):
        raise LeanampError("--seconds and --rate must be positive")
    loaded, initial_states, widths, paths = {}, {}, {}, {}
    names = [path.name for path in models]
    for path, name in zip(models, names, strict=True):
        model, metadata = load_any(path)
        key = name if names.count(name) == 1 else str(path)
        if not width:
            loaded[key] = model
            if path.suffix.lower() in (".nam", ".json", ".aidax"):
                paths[key] = path
            initial_states[key] = _start_options(model, metadata).get("initial_state")
            continue
        if not hasattr(model, "sliced"):
            raise LeanampError(f"{path}: --width applies to WaveNets, not this model")
        for w in width:
            _check_width(model, w, path)
            loaded[f"{key}@{w}"] = model
            widths[f"{key}@{w}"] = w
    modes = ("fast", "exact") if exact else ("fast",)
    results = bench_models(
        loaded, block=block, rate=rate, seconds=seconds, repeats=repeats, modes=modes,
        kernel="lstm-sparse" if sparse else None, initial_states=initial_states, widths=widths,
    )  # fmt: skip
    if engine:
        from leanamp.engines.timing import add_engine_timings

        add_engine_timings(results, loaded, repeats, not engine_o3, paths)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        typer.echo(format_results(results))


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
    from leanamp.formats import load_any
    from leanamp.runtime.kernels import make_processor
    from leanamp.runtime.play import import_sounddevice, play

    sd = import_sounddevice()  # fail on a missing library before loading the model
    model, metadata = load_any(model_path)
    sample_rate = rate or float(metadata.get("sample_rate") or 48000.0)
    if input_channel < 1:
        raise LeanampError(f"--input-channel is 1-based, got {input_channel}")

    def device(value):
        return int(value) if value is not None and value.isdigit() else value

    processor = make_processor(model, exact=exact, **_start_options(model, metadata))
    if width is not None:
        if not hasattr(model, "sliced"):
            raise LeanampError(f"{model_path}: --width applies to WaveNets, not this model")
        _check_width(model, width, model_path)
        processor.set_width(width)

    def announce():
        typer.echo(
            f"playing {model_path} at {sample_rate:g} Hz, {block}-sample blocks; Ctrl-C to stop",
            err=True,
        )

    stats = play(
        processor, sample_rate, block=block, knobs=knob, level=10 ** (level_db / 20),
        input_device=device(input_device), output_device=device(output_device),
        input_channel=input_channel - 1, seconds=seconds, sd=sd, on_start=announce,
    )  # fmt: skip
    typer.echo(
        f"played {stats.seconds:.1f} s, {stats.blocks} blocks, {stats.status_events} driver "
        f"under/overflow(s){' (' + stats.last_status + ')' if stats.last_status else ''}, "
        f"peak callback load {100 * stats.max_callback_load:.0f}%",
        err=True,
    )
