"""The steps every workflow and every sweep method shares, one function each, so that `leanamp
train`, `leanamp prune`, the demo and the sweep do them the same way:

- `train_and_evaluate`: the trainer's recipe, then the ESR on the held-out clips (and at every
  width of a slimmable model);
- `magnitude_prune`: the mask search, the level to keep (`choose_pruning_level`), compression;
- `choose_pruning_level`: a given level (checked), else the most pruned one whose validation loss
  is finite and within a tolerance of the unpruned model's (`leanamp.prune.choose_level`);
  `nan_last` ranks losses where the lowest wins, a diverged (NaN) model never first;
- `render_test_audio`: input, target and model output of the held-out clips as WAV files, named
  by `clip_file_stem`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from leanamp.audio.io import write_audio
from leanamp.data import Clip, DeviceData
from leanamp.errors import LeanampError
from leanamp.inference import run_model
from leanamp.models.lstm import LSTMModel
from leanamp.prune.compress import compress
from leanamp.prune.search import SearchConfig, SearchResult, choose_level, mask_search
from leanamp.train import (
    Evaluation,
    TrainConfig,
    Trainer,
    TrainResult,
    evaluate,
    evaluate_by_width,
)


def held_out_clips(data: DeviceData) -> tuple[list[Clip], str]:
    """The clips a model is judged on and their split's name: the test clips, else (a device
    recorded without a test split) the validation clips."""
    return (data.test, "test") if data.test else (data.validation, "validation")


@dataclass
class TrainedModel:
    model: nn.Module
    result: TrainResult
    config: TrainConfig  # the trainer's own, defaults filled in
    evaluation: Evaluation  # on `held_out_clips`
    by_width: dict[int, float]  # a slimmable model's held-out ESR at each width, else empty


def train_and_evaluate(
    model: nn.Module,
    data: DeviceData,
    run_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    metadata: dict | None = None,
    resume: bool = True,
    progress: bool = True,
    on_start: Callable[[Trainer], None] | None = None,
) -> TrainedModel:
    """Train `model` in place on `data` (checkpoints in `run_dir`, resumed when `resume`), then
    evaluate it on the held-out clips. `on_start` sees the trainer before it runs (the plan)."""
    trainer = Trainer(model, data.train, data.validation, config, run_dir, metadata, progress)
    if on_start is not None:
        on_start(trainer)
    result = trainer.fit(resume=resume)
    clips, _ = held_out_clips(data)
    by_width = evaluate_by_width(model, clips) if getattr(model, "slimmable", False) else {}
    return TrainedModel(model, result, trainer.config, evaluate(model, clips), by_width)


def choose_pruning_level(
    records: list[dict],
    tolerance: float = 0.1,
    level: int | None = None,
    loss: str = "validation_loss",
) -> dict:
    """The record of the level to keep from a pruning run's records (level 0 unpruned, then ever
    more pruned): `level` when given, else `choose_level`'s rule on the records' `loss` (a NaN
    loss is never chosen)."""
    if level is None:
        return choose_level(records, tolerance, loss)
    if not 0 <= level < len(records):
        raise LeanampError(f"--level {level}: the run has levels 0..{len(records) - 1}")
    return records[level]


def nan_last(loss: float) -> float:
    """A loss as a sort key: NaN (a diverged model) ranks after every real loss."""
    return loss if math.isfinite(loss) else math.inf


@dataclass
class MagnitudePruned:
    search: SearchResult
    chosen: dict  # the record of the level kept
    unpruned: LSTMModel
    masked: LSTMModel  # the kept level: pruned weights at zero
    compressed: LSTMModel  # the same model with dead units and constant parts folded away


def magnitude_prune(
    model: LSTMModel,
    data: DeviceData,
    search_dir: str | os.PathLike,
    search: SearchConfig | None = None,
    train: TrainConfig | None = None,
    tolerance: float = 0.1,
    level: int | None = None,
    resume: bool = True,
    progress: bool = True,
    metadata: dict | None = None,
) -> MagnitudePruned:
    """Run (or resume) the mask search in `search_dir`, keep a level (`choose_pruning_level`)
    and compress it."""
    result = mask_search(model, data.train, data.validation, search_dir, search, train, resume,
                         progress, metadata)  # fmt: skip
    chosen = choose_pruning_level(result.records, tolerance, level)
    unpruned, _ = result.load(0)
    masked, _ = result.load(chosen["level"])
    return MagnitudePruned(result, chosen, unpruned, masked, compress(masked))


def clip_file_stem(name: str) -> str:
    """A clip's name as a file-name stem on any file system: characters other than letters,
    digits, '-', '_' and '.' (the '/' of nested clips, the '[...]' of time splits) become '_'."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def render_test_audio(
    model: nn.Module, clips: list[Clip], out_dir: str | os.PathLike, seconds: float | None = None
) -> list[dict]:
    """Input, target and model output of each clip's first `seconds` (None: all of it) as WAV
    files `<stem>_input.wav`, `_target.wav`, `_model.wav` in `out_dir`.

    Returns one entry per clip: {"clip", "sample_rate", "input", "target", "model" (paths)}."""
    out_dir = Path(out_dir)
    rendered = []
    for clip in clips:
        n = len(clip.target) if seconds is None else int(seconds * clip.sample_rate)
        n = min(n, len(clip.target))
        stem = clip_file_stem(clip.name)
        entry = {"clip": clip.name, "sample_rate": clip.sample_rate}
        for kind, audio in (
            ("input", clip.input[:n, 0]),
            ("target", clip.target[:n]),
            ("model", run_model(model, clip.input[:n])),
        ):
            entry[kind] = str(write_audio(out_dir / f"{stem}_{kind}.wav", audio, clip.sample_rate))
        rendered.append(entry)
    return rendered
