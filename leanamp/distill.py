"""Distillation of a converged big model (the teacher) into a small one (the student).

The idea is knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a
neural network"): the student learns from the teacher's outputs as well as from the labels. For
a regression model of a device the teacher's soft targets are its output samples, so on a
training segment with target y and teacher output t the student s minimises

    L = alpha * loss(s, y) + (1 - alpha) * loss(s, t)

with `loss` the training recipe's loss (the paper's 0.75 pre-emphasised ESR + 0.25 DC unless the
recipe says otherwise). Validation, the learning-rate schedule, early stopping and the choice of
the best student use loss(s, y) on the validation clips: the teacher never judges the student.

Extra unlabelled audio (`extra_seconds` > 0, off by default): a generated guitar performance
(leanamp.devices.signals.guitar_signal) labelled by the teacher alone, whose segments get
loss(s, t). The validation and test clips are never shown to the teacher.

A run folder holds `teacher/` (the teacher's trainer run, when it is trained here), `student/`
(the student's) and `costs.json`, the CPU seconds of every finished phase: a killed run resumes in
the phase it was in, and the phases it had finished keep their recorded cost. A teacher loaded
from a file is charged the training cost recorded with it (`recorded_training_cost`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leanamp.data import Clip, DeviceData, make_segments
from leanamp.errors import LeanampError
from leanamp.files import write_text_atomic
from leanamp.formats.native import load_model
from leanamp.inference import run_model
from leanamp.ledger import CpuLedger
from leanamp.losses import build_loss
from leanamp.train import TrainConfig, Trainer, TrainResult

COSTS_FILE = "costs.json"
# The guitar performance generated as extra unlabelled audio uses its own seed, so it differs
# from any virtual device's training performance (leanamp.sweep.methods uses seed 0).
EXTRA_AUDIO_SEED = 16


@dataclass
class DistillConfig:
    alpha: float = 0.5  # weight of the recorded target; 1 - alpha goes to the teacher's output
    extra_seconds: float = 0.0  # generated guitar audio labelled by the teacher alone

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise LeanampError(f"distillation alpha must be within 0..1, got {self.alpha}")
        if self.extra_seconds < 0:
            raise LeanampError(f"extra_seconds must be >= 0, got {self.extra_seconds}")


class MixedTargetLoss(nn.Module):
    """alpha * loss(prediction, target) + (1 - alpha) * loss(prediction, teacher) when the target
    stacks (target, teacher) on its last axis; the plain loss for a plain target (validation)."""

    def __init__(self, base: nn.Module, alpha: float):
        super().__init__()
        self.base = base
        self.alpha = alpha

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == prediction.dim():
            return self.base(prediction, target)
        recorded, teacher = target[..., 0], target[..., 1]
        return self.alpha * self.base(prediction, recorded) + (1 - self.alpha) * self.base(
            prediction, teacher
        )


def read_costs(run_dir: str | os.PathLike) -> dict:
    """The recorded phases of a run folder: {phase: {"cpu_seconds": ..., ...}} (costs.json)."""
    path = Path(run_dir) / COSTS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def record_phase_cost(
    run_dir: str | os.PathLike, phase: str, cpu_seconds: float, **details
) -> dict:
    """Add one finished phase's CPU seconds to run_dir/costs.json; returns all phases so far."""
    costs = read_costs(run_dir)
    costs[phase] = {"cpu_seconds": float(cpu_seconds), **details}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(run_dir) / COSTS_FILE, json.dumps(costs, indent=1))
    return costs


def recorded_training_cost(model_path: str | os.PathLike, metadata: dict) -> float | None:
    """CPU seconds spent training a model file, as recorded with it: its metadata
    `training_cpu_seconds`, else the `cpu_seconds` of a sweep result.json or shrink
    candidate.json beside it; None when nothing records it."""
    if metadata.get("training_cpu_seconds") is not None:
        return float(metadata["training_cpu_seconds"])
    folder = Path(model_path).parent
    for name in ("result.json", "candidate.json"):
        path = folder / name
        if path.exists():
            value = json.loads(path.read_text()).get("cpu_seconds")
            if value is not None:
                return float(value)
    return None


def load_teacher(
    path: str | os.PathLike, run_dir: str | os.PathLike, cpu_seconds: float | None = None
) -> nn.Module:
    """A teacher from a model file; the first time, its training cost goes to costs.json:
    `cpu_seconds` if given, else the cost recorded with the file (LeanampError when neither)."""
    teacher, metadata = load_model(path)
    if "teacher" not in read_costs(run_dir):
        cost = recorded_training_cost(path, metadata) if cpu_seconds is None else cpu_seconds
        if cost is None:
            raise LeanampError(
                f"{path}: no training cost is recorded with this teacher; give distill option "
                "teacher_cpu_seconds so that the method is charged for it"
            )
        record_phase_cost(run_dir, "teacher", float(cost), source=str(path))
    return teacher


def _fit_timed(trainer: Trainer) -> tuple[TrainResult, float, bool]:
    """(result, CPU seconds of the phase over every attempt: a CPU ledger in the trainer's
    folder, so a phase killed and resumed is charged its earlier attempts too; whether it
    continued an earlier attempt)."""
    resumed = (trainer.run_dir / "checkpoint.pt").exists()
    trainer.run_dir.mkdir(parents=True, exist_ok=True)
    with CpuLedger(trainer.run_dir) as ledger:
        result = trainer.fit(resume=True)
    return result, ledger.total(), resumed


def train_teacher(
    teacher: nn.Module, data: DeviceData, run_dir: str | os.PathLike,
    train_config: TrainConfig, progress: bool = False,
) -> dict:  # fmt: skip
    """Train (or finish training) the teacher in run_dir/teacher; its cost goes to costs.json
    the first time it finishes. Returns the teacher phase's cost record."""
    run_dir = Path(run_dir)
    costs = read_costs(run_dir)
    trainer = Trainer(teacher, data.train, data.validation, train_config, run_dir / "teacher",
                      {"sample_rate": data.sample_rate, "role": "teacher"}, progress)
    result, cpu, resumed = _fit_timed(trainer)
    if "teacher" not in costs:
        costs = record_phase_cost(run_dir, "teacher", cpu, source="trained", resumed=resumed,
                                  epochs=result.epochs, stopped_because=result.stopped_because)
    return costs["teacher"]


def teacher_clips(teacher: nn.Module, clips: list[Clip], extra_seconds: float = 0.0,
                  sample_rate: int | None = None) -> tuple[list[Clip], list[Clip]]:
    """The training clips relabelled by the teacher, plus the generated extra clip (labelled by
    the teacher in both lists: it has no recording). Returns (recorded-target clips, teacher-
    target clips), aligned clip by clip."""
    teacher = teacher.cpu().eval()
    recorded, taught = list(clips), [
        Clip(c.name, c.input, run_model(teacher, c.input).astype(np.float32), c.sample_rate)
        for c in clips
    ]
    if extra_seconds > 0:
        from leanamp.devices.signals import guitar_signal

        if clips[0].input_size != 1:
            raise LeanampError(
                "extra unlabelled audio needs a model without knob inputs: set extra_seconds 0"
            )
        rate = sample_rate or clips[0].sample_rate
        x = guitar_signal(extra_seconds, rate, EXTRA_AUDIO_SEED)[:, None].astype(np.float32)
        extra = Clip("teacher-extra", x, run_model(teacher, x).astype(np.float32), rate)
        recorded.append(extra)
        taught.append(extra)
    return recorded, taught


def distill_student(
    student: nn.Module,
    teacher: nn.Module,
    data: DeviceData,
    run_dir: str | os.PathLike,
    config: DistillConfig | None = None,
    train_config: TrainConfig | None = None,
    progress: bool = False,
) -> tuple[TrainResult, dict]:
    """Train `student` on the mixed loss (module docstring) in run_dir/student, resumably.
    Returns the trainer's result and the student phase's cost record."""
    config = config or DistillConfig()
    train_config = train_config or TrainConfig()
    run_dir = Path(run_dir)
    recorded, taught = teacher_clips(teacher, data.train, config.extra_seconds, data.sample_rate)
    trainer = Trainer(student, recorded, data.validation, train_config, run_dir / "student",
                      {"sample_rate": data.sample_rate, "role": "student"}, progress)
    _, teacher_targets = make_segments(taught, trainer.segment_samples)
    trainer.targets = torch.stack([trainer.targets, teacher_targets], dim=-1)
    trainer.loss_fn = MixedTargetLoss(build_loss(train_config.loss), config.alpha)
    result, cpu, resumed = _fit_timed(trainer)
    costs = read_costs(run_dir)
    if "student" not in costs:
        costs = record_phase_cost(run_dir, "student", cpu, resumed=resumed, epochs=result.epochs,
                                  stopped_because=result.stopped_because, alpha=config.alpha,
                                  extra_seconds=config.extra_seconds)
    return result, costs["student"]
