"""leanamp.inference: `model_input` (the one place audio from a file becomes a model's input) and
`run_model` (the one offline path: from the model's own state, chunked like one call)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leanamp.errors import LeanampError
from leanamp.inference import model_input, run_model
from leanamp.models import LSTMModel


def knob_model(knobs: int = 2) -> LSTMModel:
    torch.manual_seed(0)
    return LSTMModel(4, input_size=1 + knobs).eval()


def test_mono_audio_gets_the_knob_columns():
    x = np.linspace(-0.5, 0.5, 100, dtype=np.float32)
    out = model_input(knob_model(), x, 48000, knobs=[0.2, 0.9])
    assert out.shape == (100, 3) and out.dtype == np.float32
    assert np.array_equal(out[:, 0], x)
    assert np.all(out[:, 1] == np.float32(0.2)) and np.all(out[:, 2] == np.float32(0.9))


def test_a_file_with_knob_channels_is_used_as_it_is_unless_knobs_are_given():
    x = np.random.default_rng(0).uniform(0, 1, (50, 3)).astype(np.float32)
    assert np.array_equal(model_input(knob_model(), x, 48000), x)
    given = model_input(knob_model(), x, 48000, knobs=[0.5, 0.5])
    assert np.array_equal(given[:, 0], x[:, 0]) and np.all(given[:, 1:] == 0.5)


@pytest.mark.parametrize(
    ("samples", "knobs", "message"),
    [
        (np.zeros((10, 1)), None, "2 knob input"),
        (np.zeros((10, 2)), None, "takes 3 input channel"),
        (np.zeros((10, 1)), [0.5], "takes 2 knob value"),
        (np.zeros((10, 1)), [0.5, 1.5], "within 0..1"),
        (np.full((10, 3), np.nan), None, "NaN"),
    ],
)
def test_bad_input_is_refused_with_what_to_do(samples, knobs, message):
    with pytest.raises(LeanampError, match=message):
        model_input(knob_model(), samples, 48000, knobs=knobs, name="m.leanamp")


def test_audio_is_resampled_to_the_models_rate_before_the_knobs_are_added():
    t = np.arange(4410) / 44100
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = model_input(knob_model(1), x, 44100, 48000, knobs=[0.7])
    assert out.shape == (4800, 2) and np.all(out[:, 1] == np.float32(0.7))
    assert abs(np.sqrt(np.mean(out[200:-200, 0] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


def test_run_model_starts_from_the_models_state_and_restores_its_mode():
    model = LSTMModel(5, residual=False)
    model.set_start_state(torch.full((1, 5), 0.4), torch.full((1, 5), -0.3))
    model.train()
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (3000, 1)).astype(np.float32)
    y = run_model(model, x, chunk_samples=700)
    assert model.training
    with torch.no_grad():
        one_call, _ = model(torch.from_numpy(x)[None])
        from_zero, _ = model(torch.from_numpy(x)[None], (torch.zeros(1, 1, 5),) * 2)
    assert np.max(np.abs(y - one_call[0].numpy())) < 1e-6
    assert np.max(np.abs(y[:10] - from_zero[0, :10].numpy())) > 1e-3
