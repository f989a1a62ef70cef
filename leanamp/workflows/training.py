"""From recordings to a model and its report: what `leanamp train` and `leanamp demo` run.

`train_device` is the whole of `leanamp train` for Python users too: option checks before the
slow data loading, the default recipe per architecture, a new or transferred start model, then
`train_on_data` (train, evaluate, save, render, report).
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

import leanamp
from leanamp.audio.io import write_audio
from leanamp.data import DeviceData, load_device_data
from leanamp.data.knobs import load_knob_data, parse_knob_setting
from leanamp.errors import LeanampError
from leanamp.files import write_text_atomic
from leanamp.formats.native import save_model
from leanamp.inference import run_model
from leanamp.losses import esr_db
from leanamp.models import LSTMModel, new_model
from leanamp.models.wavenet import PRESETS
from leanamp.plots import plot_loss_curves
from leanamp.train import TrainConfig, Trainer, default_segment_seconds, evaluate, evaluate_by_width
from leanamp.transfer import initial_model


def train_on_data(
    data: DeviceData,
    out_dir: str | os.PathLike,
    model: nn.Module | None = None,
    config: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    name: str = "model",
    render_seconds: float | None = 10.0,
    extra_summary: dict | None = None,
) -> dict:
    """Train, evaluate on the test clips, write model, curves, rendered audio and a summary.

    Returns the summary (also written as summary.json). The model is `out_dir/<name>.leanamp`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model or LSTMModel(hidden_size=16, input_size=data.input_size)
    metadata = {
        "name": name,
        "sample_rate": data.sample_rate,
        "leanamp_version": leanamp.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if data.alignment is not None:
        metadata.update(latency=data.alignment.latency, polarity=data.alignment.polarity)
    trainer = Trainer(
        model, data.train, data.validation, config, out_dir / "run", metadata, progress
    )
    result = trainer.fit(resume=resume)
    test_clips = data.test or data.validation
    evaluation = evaluate(model, test_clips)
    metadata.update(test_esr=evaluation.overall, validation_loss=result.best_validation_loss)
    by_width = {}
    if getattr(model, "slimmable", False):

        by_width = {str(w): e for w, e in evaluate_by_width(model, test_clips).items()}
        metadata["test_esr_by_width"] = by_width
    model_path = save_model(model, out_dir / f"{name}.leanamp", metadata)
    plot_loss_curves(result.history, out_dir / "loss_curves.png")
    rendered = []
    for clip in test_clips:
        n = len(clip.target) if render_seconds is None else int(render_seconds * clip.sample_rate)
        stem = clip.name.replace("/", "_").replace("[", "_").replace("]", "")
        for kind, audio in (
            ("input", clip.input[:n, 0]),
            ("target", clip.target[:n]),
            ("model", run_model(model, clip.input[:n])),
        ):
            path = write_audio(out_dir / "audio" / f"{stem}_{kind}.wav", audio, clip.sample_rate)
            rendered.append(str(path))
    summary = {
        "model": str(model_path),
        "architecture": model.config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_esr": evaluation.overall,
        "test_esr_db": esr_db(evaluation.overall),
        "test_esr_per_clip": evaluation.per_clip,
        **({"test_esr_by_width": by_width} if by_width else {}),
        "best_validation_loss": result.best_validation_loss,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "train_seconds": result.seconds,
        "stopped_because": result.stopped_because,
        "data": data.summary(),
        "train_config": asdict(trainer.config),
        "loss_curves": str(out_dir / "loss_curves.png"),
        "audio": rendered,
        **(extra_summary or {}),
    }
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=1))
    return summary


# Architectures `leanamp train` builds from scratch, and the recipe each gets by default.
DEFAULT_RECIPES = {"lstm": "quick", "wavenet": "nam"}


def load_training_data(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    target_prefix: str = "",
    validation: list[str] | None = None,
    test: list[str] | None = None,
    knobs: list[str] | None = None,
    align: bool = True,
    resample: bool = True,
    sample_rate: int | None = None,
) -> DeviceData:
    """Recordings as checked, aligned, split clips; with `knobs` ("PREFIX=VALUE[,VALUE..]", one
    per recorded setting) a knob-conditioned dataset instead of `target_prefix`'s one setting."""
    if knobs:
        return load_knob_data(
            input_path, target_path, [parse_knob_setting(k) for k in knobs],
            validation=validation, test=test, align=align, resample_target=resample,
            sample_rate=sample_rate,
        )  # fmt: skip
    return load_device_data(
        input_path, target_path, target_prefix, validation=validation, test=test, align=align,
        resample_target=resample, sample_rate=sample_rate,
    )  # fmt: skip


def check_model_options(
    architecture: str = "lstm",
    preset: str = "standard",
    slimmable: bool = False,
    widths: str | list[int] | None = None,
    hidden_size: int | None = None,
    residual: bool | None = None,
    init_from: str | None = None,
) -> list[int] | None:
    """Refuse option combinations before the (slow) data loading; returns the widths as ints
    (`widths` may be text like "4,8,16")."""
    if architecture not in DEFAULT_RECIPES:
        raise LeanampError(f"--architecture {architecture!r}: choose lstm or wavenet")
    if preset not in PRESETS:
        raise LeanampError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if architecture == "wavenet":
        lstm_only = {"--hidden-size": hidden_size, "--residual": residual, "--init-from": init_from}
        given = [name for name, value in lstm_only.items() if value is not None]
        if given:
            raise LeanampError(f"{', '.join(given)} apply to LSTMs, not --architecture wavenet")
    elif slimmable or widths:
        raise LeanampError("--slimmable and --widths apply to --architecture wavenet")
    if widths and not slimmable:
        raise LeanampError("--widths lists the widths of slimmable training: add --slimmable")
    if not isinstance(widths, str):
        return None if widths is None else [int(w) for w in widths]
    try:
        return [int(w) for w in widths.split(",")] if widths else None
    except ValueError:
        raise LeanampError(f"--widths {widths!r}: give widths like 4,8,16") from None


def fresh_model(
    architecture: str, input_size: int, hidden_size: int | None = None,
    residual: bool | None = None, preset: str = "standard", slimmable: bool = False,
    widths: list[int] | None = None, seed: int = 0,
) -> nn.Module:  # fmt: skip
    """A new model seeded with `seed`: an LSTM of `hidden_size` (default 16, residual unless
    asked otherwise) or a WaveNet of NAM's `preset`."""
    torch.manual_seed(seed)
    try:
        return new_model(
            architecture, input_size, hidden_size=hidden_size or 16,
            residual=True if residual is None else residual, preset=preset,
            slimmable=slimmable, widths=widths,
        )  # fmt: skip
    except ValueError as e:
        raise LeanampError(f"train: {e}") from None


def train_device(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    target_prefix: str = "",
    validation: list[str] | None = None,
    test: list[str] | None = None,
    knobs: list[str] | None = None,
    align: bool = True,
    resample: bool = True,
    sample_rate: int | None = None,
    architecture: str = "lstm",
    preset: str = "standard",
    slimmable: bool = False,
    widths: str | list[int] | None = None,
    hidden_size: int | None = None,
    residual: bool | None = None,
    init_from: str | None = None,
    start_library: list[str | os.PathLike] | None = None,
    start_knobs: list[float] | None = None,
    freeze: list[str] | None = None,
    recipe: str | None = None,
    seed: int = 0,
    resume: bool = False,
    name: str = "model",
    log=print,
    **train_options,
) -> dict:
    """`leanamp train`: check the options, load the recordings, start a model (new, or from
    `init_from`: a model file or "auto" to pick the best of `start_library`), train it with
    `recipe` (default: quick for LSTMs, nam for WaveNets) and `train_options` (TrainConfig
    fields; None means the recipe's value), and write the run into `out`. Returns the summary."""
    allowed_widths = check_model_options(
        architecture, preset, slimmable, widths, hidden_size, residual, init_from
    )
    data = load_training_data(
        input_path, target_path, target_prefix, validation, test, knobs, align, resample,
        sample_rate,
    )  # fmt: skip
    log(data.summary())
    start = None
    if init_from:
        model, start = initial_model(
            init_from, data, hidden_size, residual, library=start_library or None,
            freeze_parts=freeze or (), knob_values=start_knobs or None, seed=seed,
        )  # fmt: skip
        log(f"starting from {start.path}")
    else:
        model = fresh_model(architecture, data.input_size, hidden_size, residual, preset,
                            slimmable, allowed_widths, seed)  # fmt: skip
    options = {k: v for k, v in train_options.items() if v is not None}
    options.setdefault("segment_seconds", default_segment_seconds(model, data.sample_rate))
    config = TrainConfig.recipe(recipe or DEFAULT_RECIPES[architecture], seed=seed, **options)
    return train_on_data(
        data, out, model, config, resume=resume, name=name,
        extra_summary={"start": start.to_dict()} if start else None,
    )  # fmt: skip
