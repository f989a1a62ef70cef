"""`leanamp train` for Python users too: load recordings (one setting, or one per recorded knob
setting), refuse bad option combinations before the slow loading, start a new or transferred
model, choose the recipe per architecture, then `train_on_data` (train, evaluate, save, render,
report)."""

from __future__ import annotations

import os
from dataclasses import replace

import torch
from torch import nn

from leanamp.data import DeviceData, load_device_data
from leanamp.data.knobs import load_knob_data, parse_knob_setting
from leanamp.errors import LeanampError
from leanamp.models import check_hidden_size, new_model
from leanamp.models.slim import parse_widths
from leanamp.models.wavenet import PRESETS
from leanamp.models.widths import SLIM_RULES
from leanamp.train import TrainConfig, default_segment_seconds
from leanamp.transfer import initial_model
from leanamp.workflows.training import check_run_folder, train_on_data

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
    latency: int | None = None,
    polarity: int | None = None,
) -> DeviceData:
    """Recordings as checked, aligned, split clips; with `knobs` ("PREFIX=VALUE[,VALUE..]", one
    per recorded setting) a knob-conditioned dataset instead of `target_prefix`'s one setting.
    latency / polarity: given by hand, they override the estimate."""
    if knobs:
        return load_knob_data(
            input_path, target_path, [parse_knob_setting(k) for k in knobs],
            validation=validation, test=test, align=align, resample_target=resample,
            sample_rate=sample_rate, latency=latency, polarity=polarity,
        )  # fmt: skip
    return load_device_data(
        input_path, target_path, target_prefix, validation=validation, test=test, align=align,
        resample_target=resample, sample_rate=sample_rate, latency=latency, polarity=polarity,
    )  # fmt: skip


def check_model_options(
    architecture: str = "lstm",
    preset: str = "standard",
    slimmable: bool = False,
    widths: str | list[int] | None = None,
    hidden_size: int | None = None,
    residual: bool | None = None,
    init_from: str | None = None,
    slim_rule: str | None = None,
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
    if slim_rule is not None and not slimmable:
        raise LeanampError("--slim-rule chooses the widths of slimmable training: add --slimmable")
    if slim_rule is not None and slim_rule not in SLIM_RULES:
        raise LeanampError(f"--slim-rule {slim_rule!r}: choose one of {', '.join(SLIM_RULES)}")
    return parse_widths(widths)


def fresh_model(
    architecture: str, input_size: int, hidden_size: int | None = None,
    residual: bool | None = None, preset: str = "standard", slimmable: bool = False,
    widths: list[int] | None = None, seed: int = 0, slim_rule: str = "uniform",
) -> nn.Module:  # fmt: skip
    """A new model seeded with `seed`: an LSTM of `hidden_size` (default 16, residual unless
    asked otherwise) or a WaveNet of NAM's `preset` (slimmable: trained by `slim_rule`)."""
    torch.manual_seed(seed)
    try:
        return new_model(
            architecture, input_size, hidden_size=16 if hidden_size is None else hidden_size,
            residual=True if residual is None else residual, preset=preset,
            slimmable=slimmable, widths=widths, slim_rule=slim_rule,
        )  # fmt: skip
    except ValueError as e:
        raise LeanampError(f"train: {e}") from None


def train_device(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    data_options: dict | None = None,
    architecture: str = "lstm",
    preset: str = "standard",
    slimmable: bool = False,
    widths: str | list[int] | None = None,
    slim_rule: str | None = None,
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
    """`leanamp train`: check the options, load the recordings (`data_options`:
    load_training_data's), start a model (new, or from `init_from`: a model file or "auto" to
    pick the best of `start_library`), train it with
    `recipe` (default: quick for LSTMs, nam for WaveNets) and `train_options` (TrainConfig
    fields; None means the recipe's value), and write the run into `out`. Returns the summary."""
    allowed_widths = check_model_options(
        architecture, preset, slimmable, widths, hidden_size, residual, init_from, slim_rule
    )
    # Everything refusable is refused before the slow loading: the output folder, the model
    # size, the training settings (the segment length waits for the model).
    check_run_folder(out, resume)
    if hidden_size is not None:
        check_hidden_size(hidden_size)
    options = {k: v for k, v in train_options.items() if v is not None}
    config = TrainConfig.recipe(recipe or DEFAULT_RECIPES[architecture], seed=seed, **options)
    data = load_training_data(input_path, target_path, **(data_options or {}))
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
                            slimmable, allowed_widths, seed, slim_rule or "uniform")  # fmt: skip
    if "segment_seconds" not in options:
        config = replace(config, segment_seconds=default_segment_seconds(model, data.sample_rate))
    return train_on_data(
        data, out, model, config, resume=resume, name=name,
        extra_summary={"start": start.to_dict()} if start else None,
    )  # fmt: skip
