"""Distillation: the mixed loss, teacher-labelled segments, resumable phases with their costs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.data import Clip, DeviceData
from leanamp.distill import (
    DistillConfig,
    MixedTargetLoss,
    distill_student,
    read_costs,
    teacher_clips,
    train_teacher,
)
from leanamp.errors import LeanampError
from leanamp.losses import build_loss
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig

pytestmark = pytest.mark.usefixtures("single_torch_thread")
RATE = 16000


def test_the_mixed_loss_weights_target_and_teacher():
    base = build_loss("esr")
    prediction, target, teacher = torch.rand(2, 50), torch.rand(2, 50), torch.rand(2, 50)
    loss = MixedTargetLoss(base, 0.3)
    want = 0.3 * base(prediction, target) + 0.7 * base(prediction, teacher)
    torch.testing.assert_close(loss(prediction, torch.stack([target, teacher], -1)), want)
    # validation clips carry the recorded target only: the plain loss
    torch.testing.assert_close(loss(prediction, target), base(prediction, target))
    with pytest.raises(LeanampError):
        DistillConfig(alpha=1.5)


def _data() -> DeviceData:
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((RATE * 2, 1))).astype(np.float32)
    y = np.tanh(3 * x[:, 0]).astype(np.float32)
    clip = lambda a, b: Clip("c", x[a:b], y[a:b], RATE)  # noqa: E731
    return DeviceData([clip(0, RATE)], [clip(RATE, 3 * RATE // 2)],
                      [clip(3 * RATE // 2, 2 * RATE)], RATE, None)


def _config() -> TrainConfig:
    return TrainConfig(segment_seconds=0.2, batch_size=4, warmup_samples=200, tbptt_samples=400,
                       validate_every=1, max_epochs=2, accelerator="cpu")


def test_teacher_labels_the_training_clips_and_the_extra_audio():
    torch.manual_seed(0)
    teacher = LSTMModel(3)
    data = _data()
    recorded, taught = teacher_clips(teacher, data.train, extra_seconds=0.5, sample_rate=RATE)
    assert [c.name for c in recorded] == ["c", "teacher-extra"] == [c.name for c in taught]
    np.testing.assert_array_equal(recorded[0].target, data.train[0].target)
    assert not np.allclose(taught[0].target, recorded[0].target)
    assert len(taught[1].target) == RATE // 2
    np.testing.assert_array_equal(recorded[1].target, taught[1].target)  # no recording there


def test_phases_resume_and_keep_their_first_recorded_cost(tmp_path):
    data = _data()
    torch.manual_seed(0)
    teacher = LSTMModel(4)
    teacher_cost = train_teacher(teacher, data, tmp_path, _config())
    student = LSTMModel(2)
    result, student_cost = distill_student(student, teacher, data, tmp_path,
                                           DistillConfig(alpha=0.5), _config())
    assert result.epochs == 2 and student_cost["cpu_seconds"] > 0
    costs = read_costs(tmp_path)
    assert set(costs) == {"teacher", "student"} and costs["teacher"] == teacher_cost
    # a second call finds both phases finished: nothing trains, the costs stay as recorded
    train_teacher(LSTMModel(4), data, tmp_path, _config())
    distill_student(LSTMModel(2), teacher, data, tmp_path, DistillConfig(), _config())
    assert json.loads((tmp_path / "costs.json").read_text()) == costs


def test_a_killed_teacher_is_charged_every_attempt(tmp_path):
    """The teacher phase's cost comes from its folder's CPU ledger: a training killed and
    resumed is charged the killed attempt too, not only the last one."""
    data = _data()
    torch.manual_seed(0)
    killed = {"attempts": [7.5]}  # what a killed attempt's ledger left behind
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / "cpu_ledger.json").write_text(json.dumps(killed))
    cost = train_teacher(LSTMModel(4), data, tmp_path, _config())
    assert cost["cpu_seconds"] > 7.5
