"""NAM .nam: LSTM (initial state, no residual), WaveNet and SlimmableContainer round trips, the
reference files, metadata, and the refusal of residual LSTMs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.errors import ModelFileError
from leanamp.formats import load_any, load_model, save_model
from leanamp.formats.common import run
from leanamp.formats.nam import (
    SILENCE_BURN_IN,
    export_nam,
    export_nam_slimmable,
    legacy_weight_count,
    load_nam,
    load_nam_slimmable,
    measure_loudness,
    silence_state,
    start_state,
)
from leanamp.models.lstm import LSTMModel
from leanamp.models.nam_wavenet import NamWaveNet
from leanamp.models.wavenet import WaveNet, preset

SMALL_WAVENET = [
    {"input_size": 1, "condition_size": 1, "head_size": 2, "channels": 3, "kernel_size": 3,
     "dilations": [1, 2, 4], "activation": "Tanh", "gated": False, "head_bias": False},
    {"input_size": 3, "condition_size": 1, "head_size": 1, "channels": 2, "kernel_size": 2,
     "dilations": [8, 1], "activation": "Tanh", "gated": True, "head_bias": True},
]  # fmt: skip


def lstm(hidden=6, num_layers=1, residual=False, seed=0):
    torch.manual_seed(seed)
    model = LSTMModel(hidden, 1, residual, num_layers)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.6, 0.6)
    return model.eval()


def wavenet(layers=SMALL_WAVENET, seed=0):
    torch.manual_seed(seed)
    model = WaveNet(layers=layers, head_scale=0.02)
    weights = torch.randn(model.num_nam_weights()) * 0.4
    weights[-1] = 0.02  # head_scale
    model.load_nam_weights(weights)
    return model.eval()


def signal(rng, n=2000):
    x = 0.5 * np.sin(np.linspace(0, 90 * np.pi, n)) * np.linspace(1, 0.1, n)
    return (x + 0.03 * rng.standard_normal(n)).astype(np.float32)[:, None]


@pytest.mark.parametrize("num_layers", [1, 2])
def test_lstm_round_trip_is_exact_with_nams_initial_state(tmp_path, rng, num_layers):
    model = lstm(5, num_layers)
    path = export_nam(model, tmp_path / "m.nam", {"name": "Test", "sample_rate": 48000})
    data = json.loads(path.read_text())
    assert data["version"] == "0.5.4" and data["architecture"] == "LSTM"
    assert data["config"] == {"input_size": 1, "hidden_size": 5, "num_layers": num_layers}
    again, metadata = load_nam(path)
    assert again.config == model.config and metadata["name"] == "Test"
    # The file starts from NAM's state: the one reached after 48,000 samples of silence.
    state = silence_state(model)
    stored = start_state(again, metadata)
    assert torch.allclose(stored[0], state[0], atol=1e-7)
    assert torch.allclose(stored[1], state[1], atol=1e-7)
    x = signal(rng)
    assert np.max(np.abs(run(again, x, stored) - run(model, x, state))) <= 1e-5
    # Starting from the stored state is the same as running the silence first.
    warm = np.concatenate([np.zeros((SILENCE_BURN_IN, 1), np.float32), x])
    assert np.max(np.abs(run(model, warm)[SILENCE_BURN_IN:] - run(again, x, stored))) < 1e-5


def test_lstm_initial_state_survives_import_export_import(tmp_path, rng):
    model = lstm(4)
    custom = (torch.full((1, 1, 4), 0.3), torch.full((1, 1, 4), -0.2))
    first = export_nam(model, tmp_path / "a.nam", initial_state=custom)
    model_a, meta_a = load_nam(first)
    second = export_nam(model_a, tmp_path / "b.nam", meta_a)
    assert json.loads(first.read_text())["weights"] == json.loads(second.read_text())["weights"]
    model_b, meta_b = load_nam(second)
    x = signal(rng)
    expected = run(model, x, custom)
    assert np.max(np.abs(run(model_b, x, start_state(model_b, meta_b)) - expected)) <= 1e-5


def test_residual_lstm_is_refused_with_the_measured_difference(tmp_path):
    with pytest.raises(ModelFileError) as e:
        export_nam(lstm(residual=True), tmp_path / "r.nam")
    message = str(e.value)
    assert "r.nam" in message and "residual=False" in message and "ESR" in message
    assert "AIDA-X" in message and not (tmp_path / "r.nam").exists()


def test_knob_conditioned_models_are_refused(tmp_path):
    model = LSTMModel(4, input_size=2, residual=False)
    with pytest.raises(ModelFileError, match="knob"):
        export_nam(model, tmp_path / "k.nam")


@pytest.mark.parametrize("layers", [SMALL_WAVENET, preset("nano")], ids=["small", "nano"])
def test_wavenet_round_trip_is_exact(tmp_path, rng, layers):
    model = wavenet(layers)
    path = export_nam(model, tmp_path / "w.nam", {"sample_rate": 44100, "training_esr": 0.02})
    data = json.loads(path.read_text())
    assert data["architecture"] == "WaveNet" and data["sample_rate"] == 44100
    assert len(data["weights"]) == legacy_weight_count(layers) == model.num_nam_weights()
    assert data["weights"][-1] == pytest.approx(0.02)
    assert data["metadata"]["training"]["validation_esr"] == 0.02
    again, metadata = load_nam(path)
    assert metadata["sample_rate"] == 44100 and metadata["training_esr"] == 0.02
    x = signal(rng, 3000)
    assert np.max(np.abs(run(again, x) - run(model, x))) <= 1e-5


def test_preset_weight_counts_match_nams():
    assert legacy_weight_count(preset("standard")) == 13802
    assert legacy_weight_count(preset("nano")) == 842


def test_metadata_loudness_is_measured_and_validated(tmp_path):
    model = lstm()
    meta = {"gear_type": "pedal", "tone_type": "overdrive", "input_level_dbu": 12.0}
    data = json.loads(export_nam(model, tmp_path / "m.nam", meta).read_text())["metadata"]
    assert data["gear_type"] == "pedal" and data["input_level_dbu"] == 12.0
    assert data["loudness"] == pytest.approx(
        measure_loudness(model, 48000, silence_state(model)), abs=1e-9
    )
    assert 0.0 <= data["gain"] <= 1.0
    with pytest.raises(ModelFileError, match="gear_type 'guitar'"):
        export_nam(model, tmp_path / "bad.nam", {"gear_type": "guitar"})


def test_slimmable_container_round_trip(tmp_path, rng):
    full = wavenet(preset("nano"))
    narrow = wavenet(preset("nano"), seed=1)
    path = export_nam_slimmable([(0.5, narrow), (1.0, full)], tmp_path / "s.nam")
    data = json.loads(path.read_text())
    assert data["version"] == "0.7.0" and data["architecture"] == "SlimmableContainer"
    submodels = load_nam_slimmable(path)
    assert [value for value, _, _ in submodels] == [0.5, 1.0]
    x = signal(rng)
    for (_, original), (_, again, _) in zip([(0.5, narrow), (1.0, full)], submodels, strict=True):
        assert np.max(np.abs(run(again, x) - run(original, x))) <= 1e-5
    largest, metadata = load_nam(path)
    assert np.max(np.abs(run(largest, x) - run(full, x))) <= 1e-5
    assert metadata["nam_submodel_max_values"] == [0.5, 1.0]


@pytest.mark.parametrize(
    "name", ["lstm.nam", "wavenet.nam", "wavenet_a1_standard.nam", "slimmable_wavenet.nam"]
)
def test_reference_files_import(reference_models, rng, name):
    model, metadata = load_nam(reference_models / "nam" / name)
    data = json.loads((reference_models / "nam" / name).read_text())
    assert metadata["nam_version"] == data["version"]
    if model.architecture == "wavenet":
        assert model.num_nam_weights() == len(data["weights"])
        assert model.nam_weights().tolist() == pytest.approx(data["weights"], abs=1e-7)
    x = signal(rng)
    y = run(model, x, start_state(model, metadata))
    assert np.isfinite(y).all() and np.max(np.abs(y)) > 1e-3


@pytest.mark.parametrize("name", ["lstm.nam", "wavenet.nam", "slimmable_wavenet.nam"])
def test_reference_files_export_again(reference_models, tmp_path, rng, name):
    model, metadata = load_nam(reference_models / "nam" / name)
    x = signal(rng)
    y = run(model, x, start_state(model, metadata))
    path = export_nam(model, tmp_path / name, metadata)
    again, again_meta = load_nam(path)
    assert np.max(np.abs(run(again, x, start_state(again, again_meta)) - y)) <= 1e-5


def test_a2_slimmable_container_imports_and_exports_again(reference_models, tmp_path, rng):
    """NAM's A2 (0.7.0: per-layer kernel sizes, LeakyReLU, a 16-tap head) comes in as
    NamWaveNet submodels; written back (as 0.7.0) they load to the same audio."""
    path = reference_models / "nam" / "A2.nam"
    data = json.loads(path.read_text())
    submodels = load_nam_slimmable(path)
    assert [value for value, _, _ in submodels] == [0.5, 1.0]
    x = signal(rng, 8000)
    for (_, model, metadata), entry in zip(submodels, data["config"]["submodels"], strict=True):
        assert isinstance(model, NamWaveNet) and metadata["nam_version"] == "0.7.0"
        assert model.nam_weights().tolist() == pytest.approx(entry["model"]["weights"], abs=1e-7)
        assert model.receptive_field == 1 + 15 + sum(
            (k - 1) * d
            for k, d in zip(
                entry["model"]["config"]["layers"][0]["kernel_sizes"],
                entry["model"]["config"]["layers"][0]["dilations"],
                strict=True,
            )
        )
    largest, metadata = load_nam(path)
    assert metadata["nam_submodel_max_values"] == [0.5, 1.0]
    y = run(largest, x)
    assert np.max(np.abs(y - run(submodels[-1][1], x))) == 0 and np.max(np.abs(y)) > 1e-3
    single = export_nam(submodels[0][1], tmp_path / "a2_small.nam", metadata)
    assert json.loads(single.read_text())["version"] == "0.7.0"
    again, _ = load_nam(single)
    assert np.max(np.abs(run(again, x) - run(submodels[0][1], x))) <= 1e-5


def test_a2_submodel_saves_natively(reference_models, tmp_path, rng):
    model, metadata = load_nam(reference_models / "nam" / "A2.nam")
    save_model(model, tmp_path / "a2.leanamp", metadata)
    again, _ = load_model(tmp_path / "a2.leanamp")
    x = signal(rng, 1000)
    assert np.array_equal(run(again, x), run(model, x))


def test_a_pruned_import_is_written_with_nams_silence_state(tmp_path, reference_models):
    """Units removed since the import: the stored state no longer fits, NAM's convention does."""
    from leanamp.errors import DataWarning
    from leanamp.prune import compress

    model, metadata = load_any(reference_models / "nam" / "lstm.nam")
    with torch.no_grad():  # cut unit 0 off from the output
        model.head.weight[0, 0] = 0.0
        model.lstm.weight_hh_l0[:, 0] = 0.0
    small = compress(model)
    assert small.hidden_size == model.hidden_size - 1
    with pytest.warns(DataWarning, match="silence"):
        export_nam(small, tmp_path / "pruned.nam", metadata)
    again, again_meta = load_any(tmp_path / "pruned.nam")
    h, c = start_state(again, again_meta)
    expected_h, expected_c = silence_state(small)
    assert torch.allclose(h, expected_h, atol=1e-6) and torch.allclose(c, expected_c, atol=1e-6)
