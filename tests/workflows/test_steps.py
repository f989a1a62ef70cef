"""The steps the workflows and the sweep share: level choice, test-audio rendering and file names,
train-and-evaluate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from leanamp.data import Clip, DeviceData
from leanamp.errors import LeanampError
from leanamp.inference import run_model
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig
from leanamp.workflows.steps import (
    choose_pruning_level,
    clip_file_stem,
    held_out_clips,
    nan_last,
    render_test_audio,
    train_and_evaluate,
)

RATE = 8000


def _clip(name: str, seconds: float, seed: int) -> Clip:
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * RATE)).astype(np.float32)
    return Clip(name, x[:, None], np.tanh(3 * x).astype(np.float32), RATE)


def _records(losses, key="validation_loss", index="level"):
    return [{index: i, key: v} for i, v in enumerate(losses)]


def test_a_given_level_is_kept_and_checked():
    records = _records([0.1, 0.5, 0.9])
    assert choose_pruning_level(records, level=1)["level"] == 1
    with pytest.raises(LeanampError, match="levels 0..2"):
        choose_pruning_level(records, level=3)
    with pytest.raises(LeanampError, match="levels 0..2"):
        choose_pruning_level(records, level=-1)


def test_level_choice_skips_nan_for_both_pruning_kinds():
    losses = [0.10, 0.105, float("nan"), 0.3]
    assert choose_pruning_level(_records(losses), tolerance=0.1)["level"] == 1
    # A structured run's records (validation ESR by iteration) go through the same rule.
    structured = _records(losses, "validation_esr", "iteration")
    chosen = choose_pruning_level(structured, tolerance=10.0, loss="validation_esr")
    assert chosen["iteration"] == 3  # within 11x; the NaN iteration before it is never chosen


@given(st.lists(st.one_of(st.floats(0.01, 10.0), st.just(math.nan)), min_size=1, max_size=12),
       st.floats(0.0, 5.0))
def test_the_chosen_level_is_the_last_finite_one_within_tolerance(losses, tolerance):
    records = _records(losses)
    chosen = choose_pruning_level(records, tolerance)
    limit = losses[0] * (1 + tolerance)
    within = [i for i, v in enumerate(losses) if math.isfinite(v) and v <= limit]
    assert chosen["level"] == (within[-1] if within else 0)


def test_nan_ranks_last_where_the_lowest_loss_wins():
    losses = [float("nan"), 0.3, 0.1]
    assert min(range(3), key=lambda i: nan_last(losses[i])) == 2
    assert sorted(losses, key=nan_last)[:2] == [0.1, 0.3]


@given(st.text(min_size=1, max_size=30))
def test_clip_file_stems_are_safe_and_keep_safe_names(name):
    stem = clip_file_stem(name)
    assert len(stem) == len(name)
    assert all(ch.isalnum() or ch in "-_." for ch in stem)
    assert clip_file_stem(stem) == stem


def test_time_split_and_nested_clip_names_become_file_stems():
    assert clip_file_stem("take 1/dry.wav[test]") == "take_1_dry.wav_test_"


def test_render_test_audio_writes_each_clip_cut_or_whole(tmp_path):
    model = LSTMModel(3).eval()
    clips = [_clip("a/b[test]", 0.5, 1), _clip("c", 0.2, 2)]
    cut = render_test_audio(model, clips, tmp_path / "cut", seconds=0.25)
    assert [e["clip"] for e in cut] == ["a/b[test]", "c"]
    assert cut[0]["model"].endswith("a_b_test__model.wav")
    lengths = [len(sf.read(e[kind])[0]) for e in cut for kind in ("input", "target", "model")]
    assert lengths == [2000] * 3 + [1600] * 3  # 0.25 s, or the whole clip when shorter
    (whole,) = render_test_audio(model, clips[:1], tmp_path / "whole")
    audio, rate = sf.read(whole["model"], dtype="float32")
    assert rate == RATE and len(audio) == 4000
    np.testing.assert_array_equal(audio, run_model(model, clips[0].input))  # float WAV


def test_train_and_evaluate_reports_the_held_out_split(tmp_path):
    train = [_clip("train", 1.0, 3)]
    validation, test = [_clip("validation", 0.5, 4)], [_clip("test", 0.5, 5)]
    config = TrainConfig(max_epochs=1, segment_seconds=0.25, batch_size=4, accelerator="cpu")
    data = DeviceData(train, validation, [], RATE)
    assert held_out_clips(data) == (validation, "validation")
    data.test = test
    assert held_out_clips(data) == (test, "test")
    trained = train_and_evaluate(LSTMModel(2), data, tmp_path / "run", config, progress=False)
    assert trained.result.epochs == 1 and (tmp_path / "run" / "history.json").exists()
    assert list(trained.evaluation.per_clip) == ["test"] and trained.by_width == {}
    assert trained.config.max_epochs == 1
