"""benchmarks/lean/equal_steps.py: two stages' runs of one model compared after the same number of
optimiser steps, the steps per epoch counted as the run's trainer cuts its segments."""

import json
import math
from dataclasses import asdict

import numpy as np
import pytest
import soundfile as sf
from lean_scripts import lean_script

from leanamp.formats.native import save_model
from leanamp.models.wavenet import WaveNet, preset
from leanamp.train import TrainConfig

equal_steps = lean_script("equal_steps")
record = lean_script("record")

RATE = 16000
SEGMENT = 0.5  # seconds: 8,000 samples, nano's receptive field 4,093 of them
BATCH = 4


@pytest.fixture
def grid(tmp_path):
    rng = np.random.default_rng(0)
    x = 0.3 * rng.standard_normal(12 * RATE)
    sf.write(tmp_path / "dry.wav", x, RATE, subtype="FLOAT")
    sf.write(tmp_path / "wet.wav", np.tanh(3 * x), RATE, subtype="FLOAT")
    return tmp_path / "grid"


def _run(grid, stage, overlap, validation_esrs):
    run_dir = grid / stage / "runs" / "pedal-nam_preset4-train-s0-abc"
    (run_dir / "train").mkdir(parents=True)
    save_model(WaveNet(preset("nano", 1)), run_dir / "model.leanamp")
    config = TrainConfig(segment_seconds=SEGMENT, batch_size=BATCH, overlap_segments=overlap)
    (run_dir / "train" / "config.json").write_text(json.dumps({"train": asdict(config)}))
    device = {"name": "pedal", "input": "dry.wav", "target": "wet.wav"}
    result = {
        "name": "pedal-nam_preset4-train-s0",
        "status": "done",
        "config": {"device": device, "base_dir": str(grid.parent)},
    }
    (run_dir / "result.json").write_text(json.dumps(result))
    history = [{"epoch": e + 1, "validation_esr": v} for e, v in enumerate(validation_esrs)]
    (run_dir / "train" / "history.json").write_text(json.dumps(history))
    return run_dir, result


def _segments(samples, segment, hop):
    return (samples - segment) // hop + 1


def test_overlapping_windows_are_more_steps_an_epoch_than_back_to_back_segments(grid):
    cache = {}
    run_dir, result = _run(grid, "a", True, [0.1])
    overlapping = equal_steps.steps_per_epoch(run_dir, result, cache)
    back_to_back = equal_steps.steps_per_epoch(*_run(grid, "b", False, [0.1]), cache)
    train = record.device_data(result, cache).train  # both runs' clips: one device
    segment, warmup = int(SEGMENT * RATE), WaveNet(preset("nano", 1)).receptive_field - 1
    counts = [
        sum(_segments(len(c.target), segment, hop) for c in train)
        for hop in (segment - warmup, segment)
    ]
    assert (overlapping, back_to_back) == tuple(math.ceil(n / BATCH) for n in counts)
    assert overlapping > back_to_back


def test_the_other_stage_is_read_within_the_same_steps(grid):
    _run(grid, "nam", True, [0.5, 0.3, 0.2, 0.25])
    _run(grid, "grid", False, [0.6, 0.4, 0.35, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01, 0.005])
    [row] = equal_steps.compare(grid, "nam", "grid")
    a, b = row["a"], row["b"]
    assert row["steps"] == 4 * a["steps_per_epoch"]
    assert b["epochs"] == row["steps"] // b["steps_per_epoch"]
    assert 4 < b["epochs"] < 10  # the fixture's windows: 1.5-2x the steps of its segments
    expected = min([0.6, 0.4, 0.35, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01][: b["epochs"]])
    assert (a["validation_esr"], a["best_epoch"]) == (0.2, 3)
    assert b["validation_esr"] == expected and b["ran_epochs"] == 10
    assert row["ratio"] == pytest.approx(0.2 / expected)


def test_a_history_without_validations_in_range_is_refused():
    with pytest.raises(ValueError, match="no validation ESR in the first 1 epochs"):
        equal_steps.best_validation_esr(
            [{"epoch": 1, "train_loss": 0.1}, {"epoch": 2, "validation_esr": 0.2}], 1
        )
