"""Virtual device commands: capture-signal, render-circuit."""

from __future__ import annotations

from pathlib import Path

import typer

from leanamp.cli.app import app


@app.command("capture-signal")
def capture_signal_command(
    out: Path = typer.Argument(..., help="Audio file to write (.wav, 24-bit)."),
    seconds: float = typer.Option(60.0, help="Length in seconds (at least 10)."),
    sample_rate: int = typer.Option(48000, help="Sample rate in Hz."),
    seed: int = typer.Option(0, help="Seed of the generated guitar material."),
):
    """Write a capture input (blips, sweep, noise, guitar) and its layout JSON beside it; keep
    the two together: the layout is how leanamp recognises the recording and splits it."""
    from leanamp.devices.file_tools import write_capture_file

    audio_path, layout_path = write_capture_file(out, seconds, sample_rate, seed)
    typer.echo(f"wrote {audio_path} ({seconds:g} s at {sample_rate} Hz) and {layout_path}")


@app.command("render-circuit")
def render_circuit_command(
    name: str = typer.Argument(
        ..., help="diode-clipper, overdrive, amp, or into a cabinet: overdrive-cab, amp-cab."
    ),
    input_path: Path = typer.Argument(..., metavar="IN", help="Dry input audio (channel 0)."),
    output_path: Path = typer.Argument(..., metavar="OUT", help="Output audio to write."),
    gain: float = typer.Option(0.5, help="Gain knob, 0..1."),
    tone: float = typer.Option(0.5, help="Tone knob, 0..1."),
    latency: int = typer.Option(0, help="Pure delay added at the output, in samples."),
    polarity: int = typer.Option(1, help="+1, or -1 to invert the output."),
):
    """Render audio through a virtual circuit, like recording a real pedal or amp."""
    from leanamp.devices.file_tools import render_circuit_file

    written = render_circuit_file(name, input_path, output_path, gain, tone, latency, polarity)
    typer.echo(f"wrote {written}")
