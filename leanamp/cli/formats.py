"""Model file commands: export, import, render."""

from __future__ import annotations

from pathlib import Path

import typer

from leanamp.cli.app import app

_FORMAT_HELP = (
    "native, nam, aidax, agm (Automated-GuitarAmpModelling JSON), proteus (hidden 40) or "
    "neuralpi (hidden 20); "
    "default from the suffix (.leanamp, .nam, .aidax; .json needs a format)."
)


@app.command("export")
def export_command(
    model_path: Path = typer.Argument(..., help="Model file (any format leanamp reads)."),
    out: Path = typer.Argument(..., help="File to write."),
    fmt: str = typer.Option(None, "--format", "-f", help=_FORMAT_HELP),
    name: str = typer.Option(None, help="Model name shown by the plugin."),
    modeled_by: str = typer.Option(None, help="Who made the capture."),
    gear_type: str = typer.Option(
        None, help="NAM gear type: amp, pedal, pedal_amp, amp_cab, amp_pedal_cab, preamp or studio."
    ),
    gear_make: str = typer.Option(None, help="Manufacturer of the captured gear."),
    gear_model: str = typer.Option(None, help="Model name of the captured gear."),
    tone_type: str = typer.Option(
        None, help="NAM tone type: clean, overdrive, crunch, hi_gain or fuzz."
    ),
    input_level_dbu: float = typer.Option(None, help="Interface input level for 0 dBFS, dBu."),
    output_level_dbu: float = typer.Option(None, help="Interface output level for 0 dBFS, dBu."),
    width: int = typer.Option(None, help="WaveNet: export truncated to this width (channels)."),
    slim_widths: str = typer.Option(
        None,
        help="WaveNet to .nam: write a SlimmableContainer of these widths, e.g. 2,4,8 (the "
        "last must be the full width); the Slim knob's value v picks the first width >= v x full.",
    ),
    nam_legacy: bool = typer.Option(
        False, help="WaveNet to .nam: the 0.5.4 layout for plugin releases before NAM Core 0.7 "
        "(and nam <= 0.12); default is the 0.7 layout NAM Core 0.7 and nam 0.13 read.",
    ),
):
    """Write a model for a plugin (NAM, AIDA-X, Proteus/NeuralPi) or as a leanamp file.

    The written file is loaded back and checked to reproduce the model's audio.
    """
    from leanamp.workflows.model_files import describe_model, export_file

    given = {
        "name": name, "modeled_by": modeled_by, "gear_type": gear_type, "gear_make": gear_make,
        "gear_model": gear_model, "tone_type": tone_type, "input_level_dbu": input_level_dbu,
        "output_level_dbu": output_level_dbu,
    }  # fmt: skip
    options = {"legacy": True} if nam_legacy else {}
    done = export_file(
        model_path, out, fmt, width=width, slim_widths=slim_widths, metadata=given, **options
    )
    if done.slim_widths is not None:
        typer.echo(f"wrote {out}: NAM SlimmableContainer of widths {done.slim_widths}; checked by "
                   "reloading")  # fmt: skip
    else:
        typer.echo(f"wrote {out} ({done.fmt}): {describe_model(done.model)}; checked by reloading")


@app.command("import")
def import_command(
    model_path: Path = typer.Argument(..., help="A .nam, AIDA-X or Proteus/NeuralPi file."),
    out: Path = typer.Argument(..., help="leanamp model file to write (.leanamp)."),
    submodel: int = typer.Option(
        None, help="For a NAM SlimmableContainer: index of the submodel (default: largest)."
    ),
):
    """Import a plugin model file as a leanamp model (to train, prune, run, export again)."""
    from leanamp.workflows.model_files import describe_model, import_file

    model, metadata = import_file(model_path, out, submodel)
    rate = metadata.get("sample_rate")
    typer.echo(f"wrote {out}: {describe_model(model)}, {rate} Hz, from {metadata.get('format')}")


@app.command("render")
def render_command(
    model_path: Path = typer.Argument(..., help="Model file (any format leanamp reads)."),
    input_path: Path = typer.Argument(..., help="Dry input audio."),
    output_path: Path = typer.Argument(..., help="Output audio to write."),
    knob: list[float] = typer.Option(
        None, help="Knob value in 0..1 for a knob-conditioned model; repeat for each knob."
    ),
):
    """Use a model as a virtual device: render the input through it, like recording a pedal."""
    from leanamp.workflows.render import render_file

    render_file(model_path, input_path, output_path, knobs=knob or None)
    typer.echo(f"wrote {output_path}")
