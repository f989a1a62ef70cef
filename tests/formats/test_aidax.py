"""AIDA-X / RTNeural JSON: the example file's own test vector, exact round trips, padding to the
hidden sizes AIDA-X supports, knob inputs, clear refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.errors import ModelFileError
from leanamp.formats.aidax import SUPPORTED_HIDDEN, export_aidax, load_aidax
from leanamp.formats.common import padded_lstm
from leanamp.inference import run_model
from leanamp.models.lstm import LSTMModel

EXAMPLE = "aidax_tw40_california_clean_deerinkstudios.json"


def random_lstm(hidden, input_size=1, residual=True, num_layers=1, seed=0):
    torch.manual_seed(seed)
    model = LSTMModel(hidden, input_size, residual, num_layers)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
    return model.eval()


def signal(rng, n, input_size=1):
    audio = 0.5 * np.sin(np.linspace(0, 80 * np.pi, n)) + 0.05 * rng.standard_normal(n)
    knobs = [np.full(n, 0.25 * (k + 1)) for k in range(input_size - 1)]
    return np.stack([audio, *knobs], axis=1).astype(np.float32)


def test_example_reproduces_its_own_test_vector(reference_models):
    model, metadata = load_aidax(reference_models / EXAMPLE)
    assert model.config == {
        "architecture": "lstm", "hidden_size": 12, "input_size": 1, "residual": False,
        "num_layers": 1,
    }  # fmt: skip
    assert metadata["sample_rate"] == 48000
    assert metadata["name"] == "tw40_california_clean_deerinkstudios"
    assert metadata["training_esr"] == pytest.approx(0.1778, abs=1e-4)
    # The file's output_batch was computed by its trainer; float32 rounding only.
    assert metadata["test_vector_max_error"] < 1e-6


@pytest.mark.parametrize("suffix", [".json", ".aidax"])
@pytest.mark.parametrize("input_size", [1, 3])
def test_round_trip_is_exact(tmp_path, rng, suffix, input_size):
    model = random_lstm(16, input_size)
    path = export_aidax(model, tmp_path / f"m{suffix}", {"name": "test", "sample_rate": 44100})
    again, metadata = load_aidax(path)
    assert again.config == model.config
    assert metadata["sample_rate"] == 44100 and metadata["name"] == "test"
    x = signal(rng, 800, input_size)
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5


def test_weights_are_transposed_not_permuted(tmp_path):
    model = random_lstm(8)
    data = json.loads(export_aidax(model, tmp_path / "m.json").read_text())
    w_ih_t = np.array(data["layers"][0]["weights"][0])
    np.testing.assert_allclose(w_ih_t, model.lstm.weight_ih_l0.detach().numpy().T, rtol=1e-7)
    bias = np.array(data["layers"][0]["weights"][2])
    expected = (model.lstm.bias_ih_l0 + model.lstm.bias_hh_l0).detach().numpy()
    np.testing.assert_allclose(bias, expected, rtol=1e-6)
    assert data["in_skip"] == 1


@pytest.mark.parametrize("hidden,padded", [(5, 8), (9, 12), (17, 20), (33, 40), (41, 64), (80, 80)])
def test_pruned_sizes_pad_up_exactly(tmp_path, rng, hidden, padded):
    model = random_lstm(hidden)
    path = export_aidax(model, tmp_path / "m.aidax")
    data = json.loads(path.read_text())
    assert data["layers"][0]["shape"][-1] == padded
    again, _ = load_aidax(path)
    x = signal(rng, 600)
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5


def test_padding_leaves_every_extra_unit_silent(rng):
    model = random_lstm(5)
    padded = padded_lstm(model, 12)
    x = torch.from_numpy(signal(rng, 400))[None]
    h, _ = padded.lstm(x)
    assert torch.count_nonzero(h[..., 5:]) == 0


def test_too_large_and_unsupported_models_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="at most 80"):
        export_aidax(random_lstm(96), tmp_path / "a.json")
    with pytest.raises(ModelFileError, match="single LSTM layer"):
        export_aidax(random_lstm(8, num_layers=2), tmp_path / "b.json")
    with pytest.raises(ModelFileError, match="at most 2 knobs"):
        export_aidax(random_lstm(8, input_size=4), tmp_path / "c.json")
    assert not list(tmp_path.iterdir())
    assert SUPPORTED_HIDDEN[-1] == 80


def test_other_layer_types_are_refused_clearly(tmp_path):
    data = json.loads(export_aidax(random_lstm(8), tmp_path / "m.json").read_text())
    data["layers"][0]["type"] = "gru"
    (tmp_path / "gru.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="gru.json: layers\\[0\\] has type 'gru'"):
        load_aidax(tmp_path / "gru.json")
