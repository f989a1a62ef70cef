"""Automated-GuitarAmpModelling / Proteus / NeuralPi JSON: import against an independent forward
pass, exact round trips, exact padding to the players' sizes, clear refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.errors import ModelFileError
from leanamp.formats.agm import export_agm, load_agm
from leanamp.inference import run_model
from leanamp.models.lstm import LSTMModel

AGM_FILES = [
    "neuralpi_TS9.json",
    "neuralpi_TS9_FullD.json",
    "neuralpi_BluesJr.json",
    "neuralpi_BluesJR_FullD.json",
    "neuralpi_HT40_Overdrive.json",
    "agm_ht1_RNN3_lstm32_model.json",
    "agm_DS1_parameterized_lstm20_in3.json",
]


def agm_forward(state_dict: dict, x: np.ndarray) -> np.ndarray:
    """Automated-GuitarAmpModelling's SimpleRNN written out from its equations, in float64:
    gates i, f, g, o from W_ih x + b_ih + W_hh h + b_hh; y = lin(h) + x[:, 0]."""
    w_ih = np.array(state_dict["rec.weight_ih_l0"])
    w_hh = np.array(state_dict["rec.weight_hh_l0"])
    b = np.array(state_dict["rec.bias_ih_l0"]) + np.array(state_dict["rec.bias_hh_l0"])
    lin_w = np.array(state_dict["lin.weight"])[0]
    lin_b = np.array(state_dict["lin.bias"])[0]
    hidden = w_hh.shape[1]
    h, c = np.zeros(hidden), np.zeros(hidden)
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    out = np.empty(len(x))
    for t, xt in enumerate(x.astype(np.float64)):
        z = w_ih @ xt + w_hh @ h + b
        i, f = sigmoid(z[:hidden]), sigmoid(z[hidden : 2 * hidden])
        g, o = np.tanh(z[2 * hidden : 3 * hidden]), sigmoid(z[3 * hidden :])
        c = f * c + i * g
        h = o * np.tanh(c)
        out[t] = lin_w @ h + lin_b + xt[0]
    return out


def guitar_like(rng, n, input_size):
    audio = 0.6 * np.sin(np.linspace(0, 60 * np.pi, n)) * np.exp(-np.linspace(0, 3, n))
    audio += 0.05 * rng.standard_normal(n)
    knobs = [np.full(n, v) for v in (0.3, 0.8)[: input_size - 1]]
    return np.stack([audio, *knobs], axis=1).astype(np.float32)


def random_lstm(hidden, input_size=1, residual=True, seed=0):
    torch.manual_seed(seed)
    model = LSTMModel(hidden_size=hidden, input_size=input_size, residual=residual)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.mark.parametrize("name", AGM_FILES)
def test_reference_files_match_independent_forward_pass(reference_models, rng, name):
    path = reference_models / name
    model, metadata = load_agm(path)
    data = json.loads(path.read_text())
    assert model.hidden_size == data["model_data"]["hidden_size"]
    assert model.input_size == data["model_data"]["input_size"] and model.residual
    assert metadata["format"] == "agm" and metadata["sample_rate"] == 44100
    x = guitar_like(rng, 1500, model.input_size)
    expected = agm_forward(data["state_dict"], x)
    assert np.max(np.abs(run_model(model, x) - expected)) < 1e-5
    # The model must actually do something beyond the residual path.
    assert np.max(np.abs(expected - x[:, 0])) > 1e-2


@pytest.mark.parametrize("input_size", [1, 2, 3])
def test_round_trip_is_exact(tmp_path, rng, input_size):
    model = random_lstm(7, input_size)
    path = export_agm(model, tmp_path / "m.json")
    again, _ = load_agm(path)
    assert again.config == model.config
    x = guitar_like(rng, 800, input_size)
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5


@pytest.mark.parametrize("player,size", [("proteus", 40), ("neuralpi", 20)])
def test_player_export_pads_exactly(tmp_path, rng, player, size):
    model = random_lstm(13, 2)
    path = export_agm(model, tmp_path / f"{player}.json", player=player)
    data = json.loads(path.read_text())
    assert data["model_data"]["hidden_size"] == size
    assert np.array(data["state_dict"]["rec.weight_hh_l0"]).shape == (4 * size, size)
    again, _ = load_agm(path)
    x = guitar_like(rng, 800, 2)
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5
    # And against the independent implementation of the players' forward pass.
    assert np.max(np.abs(agm_forward(data["state_dict"], x) - run_model(model, x))) < 1e-5


def test_player_export_refuses_larger_models(tmp_path):
    with pytest.raises(ModelFileError, match="NeuralPi runs LSTMs of hidden size 20") as e:
        export_agm(random_lstm(24), tmp_path / "big.json", player="neuralpi")
    assert "prune" in str(e.value) and not (tmp_path / "big.json").exists()


def test_player_export_refuses_models_without_residual(tmp_path):
    with pytest.raises(ModelFileError, match="no residual path"):
        export_agm(random_lstm(8, residual=False), tmp_path / "m.json", player="proteus")


def test_generic_export_keeps_no_residual_as_skip_zero(tmp_path, rng):
    model = random_lstm(6, residual=False)
    path = export_agm(model, tmp_path / "m.json")
    assert json.loads(path.read_text())["model_data"]["skip"] == 0
    again, _ = load_agm(path)
    assert not again.residual
    x = guitar_like(rng, 500, 1)
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5


def test_gru_files_are_refused_clearly(tmp_path):
    data = json.loads(export_agm(random_lstm(4), tmp_path / "m.json").read_text())
    data["model_data"]["unit_type"] = "GRU"
    (tmp_path / "gru.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="gru.json: unit_type 'GRU'"):
        load_agm(tmp_path / "gru.json")
