"""Core commands: demo, check-data, train, eval, process."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from leanamp.cli.app import app

INPUT_HELP = "Dry input recording, or a folder of them."
TARGET_HELP = "The device's output recording, or a folder with one per input file."
PREFIX_HELP = "Target file names are PREFIX + input name (e.g. a_zendrive_g5_t3_)."
LATENCY_HELP = (
    "Latency in samples (the target lags the input by N), given by hand: overrides the "
    "estimate, which is shown beside it when they differ."
)
POLARITY_HELP = "+1, or -1 when the device inverts; given by hand, overrides the estimate."


def latency_option():
    return typer.Option(None, "--latency", min=0, help=LATENCY_HELP)


def polarity_option():
    return typer.Option(None, "--polarity", help=POLARITY_HELP)


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("leanamp-demo"), help="Output folder."),
    minutes: float = typer.Option(3.0, help="Training time budget in wall-clock minutes."),
    hidden_size: int = typer.Option(16, help="LSTM hidden size."),
    resume: bool = typer.Option(False, help="Continue an interrupted demo run in OUT."),
):
    """Generate a virtual-pedal dataset, train a small LSTM, evaluate, and write the results."""
    from leanamp.workflows.demo import run_demo
    from leanamp.workflows.training import summary_lines

    summary = run_demo(out, minutes=minutes, hidden_size=hidden_size, resume=resume)
    typer.echo(f"device:     {summary['device']}")
    typer.echo(summary["alignment"])
    typer.echo("\n".join(summary_lines(summary)))


@app.command("check-data")
def check_data(
    input_path: Path = typer.Argument(..., metavar="INPUT", help=INPUT_HELP),
    target_path: Path = typer.Argument(..., metavar="TARGET", help=TARGET_HELP),
    target_prefix: str = typer.Option("", help=PREFIX_HELP),
    resample: bool = typer.Option(
        True, help="Resample the target to the input's rate if they differ."
    ),
    sample_rate: int = typer.Option(None, help="Resample everything to this rate."),
    verbose: bool = typer.Option(False, help="Show the alignment's evidence per clip."),
    latency: int = latency_option(),
    polarity: int = polarity_option(),
):
    """Check recordings (readable, not silent, not clipped, matching) and estimate alignment.

    NAM's standard reamp files (v1.1.1, v2.0.0, v3.0.0), Proteus's capture file and leanamp's
    capture signal are recognised: latency from their blips, NAM's checks, their own split.
    """
    from leanamp.data import find_pairs, load_clips

    pairs = find_pairs(input_path, target_path, target_prefix)
    clips, alignment, checks = load_clips(
        pairs, resample_target=resample, sample_rate=sample_rate, latency=latency,
        polarity=polarity,
    )  # fmt: skip
    for (i, t), clip, check in zip(pairs, clips, checks, strict=True):
        typer.echo(f"{i.name} -> {t.name}: {clip.seconds:.1f} s, {clip.input_size} channel(s)")
        if clip.capture is not None:
            typer.echo(f"  {clip.capture.describe()}")
        for warning in getattr(check, "warnings", []):
            typer.echo(f"  warning: {warning}")
        for note in getattr(check, "notes", []):
            typer.echo(f"  note: {note}")
    typer.echo(alignment.describe(verbose))
    typer.echo(f"ok: {len(clips)} pair(s), {sum(c.seconds for c in clips):.1f} s usable")


@app.command("train")
def train(
    input_path: Path = typer.Argument(..., metavar="INPUT", help=INPUT_HELP),
    target_path: Path = typer.Argument(..., metavar="TARGET", help=TARGET_HELP),
    out: Path = typer.Option(..., help="Output folder (model, run checkpoints, report)."),
    target_prefix: str = typer.Option("", help=PREFIX_HELP),
    validation: list[str] = typer.Option(None, help="Clip name(s) held out for validation."),
    test: list[str] = typer.Option(None, help="Clip name(s) held out for testing."),
    architecture: str = typer.Option("lstm", help="lstm (the paper's) or wavenet (NAM's)."),
    preset: str = typer.Option(
        "standard", help="WaveNet size: NAM's preset standard, lite, feather or nano."
    ),
    slimmable: bool = typer.Option(
        False, help="WaveNet: slimmable training, a width drawn for every batch (Slimmable NAM)."
    ),
    widths: str = typer.Option(
        None, help="Slimmable: the widths to train, e.g. 4,8,16 (default: every width 1..full)."
    ),
    slim_rule: str = typer.Option(
        None, help="Slimmable: widths per step: uniform (the default; one drawn, the paper), "
        "sandwich (largest, smallest, 2 random) or inplace (sandwich, smaller widths learn from "
        "the largest's output)."
    ),
    hidden_size: int = typer.Option(
        None, help="LSTM hidden size (default 16, or the --init-from model's)."
    ),
    residual: bool = typer.Option(
        None, help="y = W h + b + x (the paper, default); --no-residual for NAM export."
    ),
    init_from: str = typer.Option(
        None, help="Start from a model file (leanamp, NAM, AIDA-X, Proteus JSON) or 'auto'."
    ),
    start_library: list[Path] = typer.Option(
        None, help="Folder(s) of candidate start models for --init-from auto."
    ),
    start_knob: list[float] = typer.Option(
        None, help="Values for start-model knob inputs the data lacks (default 0.5)."
    ),
    freeze: list[str] = typer.Option(
        None, help="Parts kept as loaded: input, recurrent, lstm, head (repeatable)."
    ),
    knob: list[str] = typer.Option(
        None,
        help="PREFIX=VALUE[,VALUE..]: one recorded knob setting (target files PREFIX<input name>); "
        "repeat per setting to train a knob-conditioned model.",
    ),
    recipe: str = typer.Option(
        None,
        help="paper (Adam 5e-4, batches of 40), quick (5e-3, batches of 8, gradients clipped) "
        "or nam (NAM's WaveNet recipe). Default: quick for LSTMs, nam for WaveNets.",
    ),
    epochs: int = typer.Option(
        None, help="Maximum epochs (default: the recipe's: 200, NAM's 100)."
    ),
    minutes: float = typer.Option(None, help="Time budget in minutes."),
    budget_clock: str = typer.Option(
        "wall",
        help="What --minutes counts: wall (elapsed) or cpu (this process's CPU time: equal "
        "compute for CPU runs that share a machine).",
    ),
    batch_size: int = typer.Option(None, help="Segments per mini-batch (overrides the recipe)."),
    segment_seconds: float = typer.Option(
        None,
        help="Training segment length (default 0.5 s for LSTMs; 8192 samples plus the receptive "
        "field for WaveNets, as NAM).",
    ),
    learning_rate: float = typer.Option(None, help="Adam learning rate (overrides the recipe)."),
    validate_every: int = typer.Option(
        None, help="Validate every N epochs (default: the recipe's: 2, NAM's 1)."
    ),
    patience: int = typer.Option(
        None,
        help="Stop after N validations without improvement (default: the recipe's: 25; NAM's "
        "never stops early).",
    ),
    loss: str = typer.Option(
        None, help="paper (0.75 pre-emph. ESR + 0.25 DC), esr, mse or nam (overrides the recipe)."
    ),
    seed: int = typer.Option(0),
    accelerator: str = typer.Option("auto", help="cpu, cuda, mps or auto."),
    devices: int = typer.Option(1, help="Number of GPUs for data-parallel training."),
    align: bool = typer.Option(True, help="Estimate and apply latency and polarity."),
    latency: int = latency_option(),
    polarity: int = polarity_option(),
    resample: bool = typer.Option(True, help="Resample the target to the input's rate if needed."),
    sample_rate: int = typer.Option(None, help="Resample everything to this rate."),
    resume: bool = typer.Option(False, help="Continue the run in OUT where it stopped."),
    name: str = typer.Option("model", help="Model file name (without suffix)."),
):
    """Train an LSTM or WaveNet model of a device from input/target recordings."""
    from leanamp.workflows.recordings import train_device
    from leanamp.workflows.training import summary_lines

    summary = train_device(
        input_path, target_path, out,
        data_options=dict(target_prefix=target_prefix, validation=validation, test=test,
                          knobs=knob, align=align, resample=resample, sample_rate=sample_rate,
                          latency=latency, polarity=polarity),
        architecture=architecture, preset=preset, slimmable=slimmable, widths=widths,
        slim_rule=slim_rule, hidden_size=hidden_size, residual=residual, init_from=init_from,
        start_library=start_library, start_knobs=start_knob, freeze=freeze, recipe=recipe,
        seed=seed, resume=resume, name=name, log=typer.echo, batch_size=batch_size,
        learning_rate=learning_rate, loss=loss, segment_seconds=segment_seconds,
        validate_every=validate_every, early_stop_patience=patience, max_epochs=epochs,
        max_minutes=minutes, budget_clock=budget_clock, accelerator=accelerator, devices=devices,
    )  # fmt: skip
    typer.echo("\n".join(summary_lines(summary)))


@app.command("eval")
def evaluate_command(
    model_path: Path = typer.Argument(..., metavar="MODEL"),
    input_path: Path = typer.Argument(..., metavar="INPUT", help=INPUT_HELP),
    target_path: Path = typer.Argument(..., metavar="TARGET", help=TARGET_HELP),
    target_prefix: str = typer.Option("", help=PREFIX_HELP),
    knob: list[float] = typer.Option(
        None, help="Knob value(s) 0..1 for a knob-conditioned model (repeat per knob)."
    ),
    align: bool = typer.Option(True, help="Estimate and apply latency and polarity."),
    latency: int = latency_option(),
    polarity: int = polarity_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """ESR of a model on recordings: per clip, over held-out clips, and over training clips."""
    from leanamp.workflows.training import evaluate_recordings, evaluation_table

    result = evaluate_recordings(
        model_path, input_path, target_path, target_prefix, knob or None, align, latency, polarity
    )
    typer.echo(json.dumps(result) if as_json else evaluation_table(result))


@app.command("process")
def process(
    model_path: Path = typer.Argument(..., metavar="MODEL"),
    input_path: Path = typer.Argument(..., metavar="IN"),
    output_path: Path = typer.Argument(..., metavar="OUT"),
    knob: list[float] = typer.Option(None, help="Knob value(s) 0..1 for conditioned models."),
    width: int = typer.Option(None, help="Channel width of a slimmable WaveNet (default: full)."),
):
    """Run a model over an audio file and write the result (at the model's sample rate)."""
    from leanamp.workflows.render import process_file

    path, seconds, rate = process_file(model_path, input_path, output_path, knob, width)
    typer.echo(f"wrote {path} ({seconds:.1f} s at {rate} Hz)")
