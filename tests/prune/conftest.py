"""Fixtures for the pruning tests: a toy device at 8 kHz and a fast training recipe."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
import torch

from leanamp.audio.io import write_audio
from leanamp.data import Clip
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig

RATE = 8000


@pytest.fixture
def clips() -> tuple[list[Clip], list[Clip]]:
    rng = np.random.default_rng(0)
    x = ss.lfilter(*ss.butter(2, 1000 / (RATE / 2)), rng.standard_normal(RATE * 3))
    x = x.astype(np.float32)
    y = (0.5 * np.tanh(4 * ss.lfilter(*ss.butter(1, 1500 / (RATE / 2)), x))).astype(np.float32)
    return [Clip("train", x[: RATE * 2], y[: RATE * 2], RATE)], [
        Clip("val", x[RATE * 2 :], y[RATE * 2 :], RATE)
    ]


@pytest.fixture
def recordings(clips, tmp_path):
    """The clips written as dry/ and wet/ folders of WAV files under tmp_path (returned)."""
    train, val = clips
    for folder in ("dry", "wet"):
        (tmp_path / folder).mkdir()
    for clip in [*train, *val]:
        write_audio(tmp_path / "dry" / f"{clip.name}.wav", clip.input, clip.sample_rate)
        write_audio(tmp_path / "wet" / f"{clip.name}.wav", clip.target, clip.sample_rate)
    return tmp_path


def _small_config(**overrides) -> TrainConfig:
    values = dict(
        segment_seconds=0.25, batch_size=8, warmup_samples=200, tbptt_samples=512,
        learning_rate=5e-3, validate_every=1, max_epochs=4, accelerator="cpu",
    )
    values.update(overrides)
    return TrainConfig(**values)


def _fresh_model(hidden_size: int = 8, seed: int = 0) -> LSTMModel:
    torch.manual_seed(seed)
    return LSTMModel(hidden_size=hidden_size)


@pytest.fixture
def small_config():
    return _small_config


@pytest.fixture
def fresh_model():
    return _fresh_model
