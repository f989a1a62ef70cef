"""Engine commands: verify a model file in the C++ engine of the plugin that plays it."""

from __future__ import annotations

from pathlib import Path

import typer

from leanamp.cli.app import app


@app.command("verify")
def verify_command(
    model_path: Path = typer.Argument(..., metavar="MODEL_FILE", help=".nam, AIDA-X or "
                                      "Proteus / NeuralPi .json file."),  # fmt: skip
    audio_path: Path = typer.Option(
        None, "--audio", help="Audio to compare on (default: 10 s of built-in guitar playing)."
    ),
    knob: list[float] = typer.Option(None, help="Knob value(s) 0..1 for conditioned models."),
    block: int = typer.Option(256, help="Block size the engine processes, samples."),
):
    """Play a model file in its plugin's engine (NeuralAmpModelerCore for .nam, RTNeural for
    AIDA-X / Proteus / NeuralPi JSON) and print the difference to leanamp's own output.

    A .nam runs with NAM Core's exact tanh (bound 1e-4: is the file right?) and with the fast
    tanh the plugin uses (a looser bound: what a player hears). The engine's driver is compiled
    from ../shared/peers ($LEANAMP_PEERS) on first use. Exit code 1 when a difference exceeds
    its bound.
    """
    from leanamp.audio.io import read_audio, resample
    from leanamp.engines.verify import verify_model_file
    from leanamp.errors import LeanampError
    from leanamp.formats import load_any

    if block <= 0:
        raise LeanampError(f"--block {block}: give a positive number of samples")
    audio = None
    if audio_path is not None:
        _, metadata = load_any(model_path)
        given = read_audio(audio_path)
        rate = int(metadata.get("sample_rate") or given.sample_rate)
        audio = given.samples
        if given.sample_rate != rate:
            audio = resample(audio, given.sample_rate, rate)
    results = verify_model_file(model_path, audio, list(knob or []), block)
    for result in results:
        typer.echo(result.line())
    if not all(r.passed for r in results):
        raise typer.Exit(1)
