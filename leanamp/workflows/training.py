"""From recordings to a model and its report: what `leanamp train` and `leanamp demo` run."""

from __future__ import annotations

import datetime
import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
from torch import nn

import leanamp
from leanamp.data import DeviceData, find_pairs, load_clips
from leanamp.errors import DataWarning, LeanampError
from leanamp.files import check_output_dir, run_folder_lock, write_text_atomic
from leanamp.formats import load_any
from leanamp.formats.native import save_model
from leanamp.inference import run_model
from leanamp.losses import esr, esr_db
from leanamp.models import LSTMModel
from leanamp.plots import plot_loss_curves
from leanamp.progress import clock_text, print_plan
from leanamp.train import TrainConfig, Trainer, TrainingInterrupted
from leanamp.workflows.steps import held_out_clips, render_test_audio, train_and_evaluate


def check_run_folder(out_dir: str | os.PathLike, resume: bool) -> Path:
    """Refuse an output folder a run cannot use, before any data is loaded: a file, a path under
    a file, an unwritable place, `resume` with nothing to resume, or a finished run without it."""
    out_dir = check_output_dir(out_dir)
    checkpoint = out_dir / "run" / "checkpoint.pt"
    if resume and not checkpoint.exists():
        raise LeanampError(
            f"{out_dir}: --resume, but this folder holds no run to continue (no "
            "run/checkpoint.pt); drop --resume to start a new run"
        )
    if not resume and checkpoint.exists():
        raise LeanampError(
            f"{out_dir}: already holds a run: pass --resume to continue it, or choose another --out"
        )
    return out_dir


def _plan(data: DeviceData, trainer: Trainer, model: nn.Module, config: TrainConfig) -> dict:
    parameters = sum(p.numel() for p in model.parameters())
    budget = f"up to {config.max_epochs} epochs"
    if config.max_minutes is not None:
        budget += f" or {clock_text(60 * config.max_minutes)} ({config.budget_clock} clock)"
    return {
        "data": data.summary().replace("\n", "; "),
        "device": str(trainer.fabric.device),
        "model": f"{model.config.get('architecture')}, {parameters:,} parameters "
        f"({', '.join(f'{k} {v}' for k, v in model.config.items() if k != 'architecture')})",
        "budget": f"{budget}, validation every {config.validate_every} epoch(s)",
    }


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
    out_dir = check_run_folder(out_dir, resume)
    with run_folder_lock(out_dir):
        return _train_locked(
            data, out_dir, model, config, resume, progress, name, render_seconds, extra_summary
        )


def _train_locked(
    data, out_dir: Path, model, config, resume, progress, name, render_seconds, extra_summary
) -> dict:
    model = model or LSTMModel(hidden_size=16, input_size=data.input_size)
    metadata = {
        # The name plugins show: --name, else the run folder's name (not the generic "model").
        "name": out_dir.resolve().name if name == "model" else name,
        "sample_rate": data.sample_rate,
        "leanamp_version": leanamp.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if data.alignment is not None:
        metadata.update(latency=data.alignment.latency, polarity=data.alignment.polarity)
    # Which clips the model saw, so `leanamp eval` can report held-out clips apart.
    metadata["clips"] = {
        role: [c.name for c in clips]
        for role, clips in (("train", data.train), ("validation", data.validation),
                            ("test", data.test))
    }  # fmt: skip

    def show_plan(trainer: Trainer) -> None:
        if progress:
            print_plan(_plan(data, trainer, model, trainer.config))

    try:
        trained = train_and_evaluate(
            model, data, out_dir / "run", config, metadata, resume, progress, on_start=show_plan
        )
    except TrainingInterrupted as interrupted:
        if not interrupted.result.best_epoch:
            raise
        path = save_model(model, out_dir / f"{name}.leanamp", metadata)
        raise TrainingInterrupted(interrupted.result, path) from None
    result, evaluation, by_width = trained.result, trained.evaluation, trained.by_width
    best = [r for r in result.history if r["epoch"] == result.best_epoch and "validation_esr" in r]
    if best:
        metadata["validation_esr"] = best[0]["validation_esr"]
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


def summary_lines(summary: dict) -> list[str]:
    """What a finished run reports: accuracy, how the training went, and where its files are."""
    folder = Path(summary["model"]).parent
    lines = [
        f"test ESR:   {summary['test_esr']:.4f} ({summary['test_esr_db']:.1f} dB)",
        *(f"  at width {w}: {v:.4f}" for w, v in summary.get("test_esr_by_width", {}).items()),
        f"trained:    {summary['epochs']} epochs in {clock_text(summary['train_seconds'])}, best "
        f"at epoch {summary['best_epoch']} (stopped: {summary['stopped_because']}), "
        f"{summary['parameters']:,} parameters",
        f"model:      {summary['model']}",
        f"curves:     {summary['loss_curves']}",
    ]
    if summary["audio"]:
        lines.append(f"audio:      {Path(summary['audio'][0]).parent}/")
    lines.append(f"summary:    {folder / 'summary.json'}")
    return lines


def evaluate_recordings(
    model_path: str | os.PathLike,
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    target_prefix: str = "",
    knobs: list[float] | None = None,
    align: bool = True,
    latency: int | None = None,
    polarity: int | None = None,
) -> dict:
    """ESR of a model file on recordings, per clip with its role in the model's training
    ("train", "validation", "test", "new" for clips it never saw), pooled over the held-out
    clips, over the training clips, and over all.

    The recordings are read at the model's sample rate (resampled, with a note, if needed);
    `knobs` are the constant knob values of a knob-conditioned model.
    """
    model, metadata = load_any(model_path)
    input_size = int(model.config.get("input_size", 1))
    knobs = list(knobs or [])
    if knobs and len(knobs) != input_size - 1:  # without --knob, the files' channels 2.. are knobs
        raise LeanampError(
            f"{model_path}: takes {input_size - 1} knob value(s) besides the audio: pass --knob "
            f"that many times (got {len(knobs)})"
        )
    pairs = find_pairs(input_path, target_path, target_prefix)
    rate = metadata.get("sample_rate")
    clips, _, checks = load_clips(
        pairs, align=align, sample_rate=int(rate) if rate else None, latency=latency,
        polarity=polarity,
    )  # fmt: skip
    for check in checks:
        if check.resampled:
            warnings.warn(
                f"{check.input_name}: recorded at {check.input_rate} Hz, evaluated at the "
                f"model's {rate} Hz (resampled)",
                DataWarning,
                stacklevel=2,
            )
    if knobs:
        for clip in clips:
            if clip.input_size != 1:
                raise LeanampError(
                    f"{clip.name}: the input already has {clip.input_size} channels (knob "
                    "channels); drop --knob"
                )
            clip.input = np.concatenate(
                [clip.input, np.tile(np.float32(knobs), (len(clip.input), 1))], axis=1
            )
    elif clips[0].input_size != input_size:
        raise LeanampError(
            f"{model_path}: takes {input_size} input channel(s), the recordings have "
            f"{clips[0].input_size}: pass --knob values for its knob inputs"
        )
    seen = metadata.get("clips") if isinstance(metadata.get("clips"), dict) else {}
    outputs = [run_model(model, c.input) for c in clips]
    per_clip = {
        c.name: {"role": _role(c.name, seen), "esr": esr(o, c.target)}
        for c, o in zip(clips, outputs, strict=True)
    }

    def pooled(keep) -> float | None:
        chosen = [(o, c.target) for c, o in zip(clips, outputs, strict=True) if keep(c.name)]
        if not chosen:
            return None
        return esr(np.concatenate([o for o, _ in chosen]), np.concatenate([t for _, t in chosen]))

    return {
        "per_clip": per_clip,
        "held_out": pooled(lambda name: per_clip[name]["role"] in HELD_OUT_ROLES),
        "training": pooled(lambda name: per_clip[name]["role"] == "train"),
        "overall": pooled(lambda name: True),
    }


HELD_OUT_ROLES = ("validation", "test", "new")


def _role(name: str, seen: dict) -> str:
    """A clip's part in the model's training; a time split names parts "<clip>[train]"."""
    if not seen:
        return "unknown"
    for role in ("train", "validation", "test"):
        if any(n == name or str(n).startswith(name + "[") for n in seen.get(role) or []):
            return role
    return "new"


def evaluation_table(result: dict) -> str:
    """The eval report: ESR per clip with its role, then held-out and training clips apart."""
    rows = [f"{'clip':<32} {'role':<10} {'ESR':>9} {'dB':>7}"]
    for name, clip in result["per_clip"].items():
        value = clip["esr"]
        rows.append(f"{name:<32} {clip['role']:<10} {value:>9.4f} {esr_db(value):>7.1f}")
    for label, key in (("held-out clips", "held_out"), ("training clips", "training"),
                       ("all clips", "overall")):  # fmt: skip
        if result[key] is not None:
            rows.append(f"{label:<43} {result[key]:>9.4f} {esr_db(result[key]):>7.1f}")
    if any(c["role"] == "unknown" for c in result["per_clip"].values()):
        rows.append("(the model file does not record its training clips: roles unknown)")
    elif any(c["role"] == "train" for c in result["per_clip"].values()):
        rows.append("(training clips flatter the model: judge it by the held-out clips)")
    return "\n".join(rows)
