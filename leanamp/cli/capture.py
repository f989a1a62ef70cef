"""`leanamp capture`: a reamp in, a plugin's model file out."""

from __future__ import annotations

from pathlib import Path

import typer

from leanamp.cli.app import app
from leanamp.cli.core import latency_option, polarity_option


@app.command("capture")
def capture_command(
    input_path: Path = typer.Argument(
        ..., metavar="INPUT", help="The file you reamped (NAM's input.wav, or any dry input)."
    ),
    output_path: Path = typer.Argument(
        ..., metavar="OUTPUT", help="Your gear's recorded output of it (same sample rate)."
    ),
    out: Path = typer.Option(..., help="Output folder: plugin file, model, audio, summary."),
    player: str = typer.Option(
        "nam", "--for", help="The plugin: nam (.nam), aidax (.aidax) or proteus (.json)."
    ),
    minutes: float = typer.Option(5.0, help="Training budget in CPU minutes."),
    max_rtf: float = typer.Option(
        None, help="Budget: real-time factor (runs leanamp shrink; --for aidax or proteus only, "
        "as shrink's LSTMs have a residual path that NAM's lack)."
    ),
    rtf_mode: str = typer.Option(
        "exact", help="Kernel mode --max-rtf is timed in: exact or fast (see leanamp shrink)."
    ),
    max_macs: int = typer.Option(
        None, help="Budget: multiply-adds per sample (shrink; --for aidax or proteus)."
    ),
    target: str = typer.Option(
        None, help="Budget: a named target, pi4 or mcu-m7 (shrink; --for aidax or proteus)."
    ),
    hidden_size: int = typer.Option(16, help="LSTM hidden size."),
    name: str = typer.Option(None, help="Model name (default: the output file's name)."),
    modeled_by: str = typer.Option(None, help="Who made the capture."),
    gear_type: str = typer.Option(
        None, help="amp, pedal, pedal_amp, amp_cab, amp_pedal_cab, preamp or studio."
    ),
    gear_make: str = typer.Option(None, help="Make of the gear."),
    gear_model: str = typer.Option(None, help="Model of the gear."),
    tone_type: str = typer.Option(None, help="clean, overdrive, crunch, hi_gain or fuzz."),
    input_level_dbu: float = typer.Option(None, help="Analog level (dBu) of 0 dBFS input."),
    output_level_dbu: float = typer.Option(None, help="Analog level (dBu) of 0 dBFS output."),
    latency: int = latency_option(),
    polarity: int = polarity_option(),
    seed: int = typer.Option(0),
):
    """Check a reamp, train the model the player expects, evaluate it, export its plugin file.

    Recognises NAM's standard input files (v1.1.1, v2.0.0, v3.0.0), Proteus's capture file and
    leanamp's capture signal (`leanamp capture-signal`): latency from their blips, NAM's checks,
    their own training and validation ranges.
    """
    from leanamp.losses import esr_db
    from leanamp.workflows.capture import GearInfo, capture
    from leanamp.workflows.shrink import ShrinkBudget

    gear = GearInfo(name, modeled_by, gear_type, gear_make, gear_model, tone_type,
                    input_level_dbu, output_level_dbu)  # fmt: skip
    budgeted = any(v is not None for v in (max_rtf, max_macs, target))
    budget = ShrinkBudget.make(max_rtf, max_macs, target, rtf_mode) if budgeted else None
    summary = capture(input_path, output_path, out, player, minutes, gear, hidden_size,
                      latency, polarity, seed, budget=budget)  # fmt: skip
    for line in summary["captures"]:
        typer.echo(f"input:          {line}")
    typer.echo(f"alignment:      {summary['alignment']}")
    typer.echo(f"trained:        {summary.get('shrink') or str(summary['epochs']) + ' epochs'}")
    typer.echo(f"validation ESR: {summary['validation_esr']:.4f}")
    typer.echo(f"test ESR:       {summary['test_esr']:.4f} ({esr_db(summary['test_esr']):.1f} dB)")
    typer.echo(f"plugin file:    {summary['plugin_file']}  (for {summary['player']})")
    typer.echo(f"model:          {summary['model']}")
    typer.echo(f"summary:        {Path(out) / 'capture.json'}")
