"""From recordings to a model and its report: what `leanamp train` and `leanamp demo` run."""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict
from pathlib import Path

from torch import nn

import leanamp
from leanamp.audio.io import write_audio
from leanamp.data import DeviceData
from leanamp.files import write_text_atomic
from leanamp.formats.native import save_model
from leanamp.inference import run_model
from leanamp.losses import esr_db
from leanamp.models import LSTMModel
from leanamp.plots import plot_loss_curves
from leanamp.train import TrainConfig, Trainer, evaluate, evaluate_by_width


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
        metadata["slim_rule"] = model.width_sampler.rule
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
