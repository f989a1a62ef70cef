"""From recordings to a model and its report: what `leanamp train` and `leanamp demo` run."""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict
from pathlib import Path

from torch import nn

import leanamp
from leanamp.data import DeviceData
from leanamp.files import write_text_atomic
from leanamp.formats.native import save_model
from leanamp.losses import esr_db
from leanamp.models import LSTMModel
from leanamp.plots import plot_loss_curves
from leanamp.train import TrainConfig
from leanamp.workflows.steps import held_out_clips, render_test_audio, train_and_evaluate


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
    trained = train_and_evaluate(model, data, out_dir / "run", config, metadata, resume, progress)
    result, evaluation, by_width = trained.result, trained.evaluation, trained.by_width
    metadata.update(test_esr=evaluation.overall, validation_loss=result.best_validation_loss)
    if by_width:
        metadata["test_esr_by_width"] = {str(w): e for w, e in by_width.items()}
        metadata["slim_rule"] = model.width_sampler.rule
    model_path = save_model(model, out_dir / f"{name}.leanamp", metadata)
    plot_loss_curves(result.history, out_dir / "loss_curves.png")
    clips, _ = held_out_clips(data)
    rendered = render_test_audio(model, clips, out_dir / "audio", render_seconds)
    summary = {
        "model": str(model_path),
        "architecture": model.config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_esr": evaluation.overall,
        "test_esr_db": esr_db(evaluation.overall),
        "test_esr_per_clip": evaluation.per_clip,
        **({"test_esr_by_width": metadata["test_esr_by_width"]} if by_width else {}),
        "best_validation_loss": result.best_validation_loss,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "train_seconds": result.seconds,
        "stopped_because": result.stopped_because,
        "data": data.summary(),
        "train_config": asdict(trained.config),
        "loss_curves": str(out_dir / "loss_curves.png"),
        "audio": [entry[kind] for entry in rendered for kind in ("input", "target", "model")],
        **(extra_summary or {}),
    }
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=1))
    return summary
