"""NAM .nam: LSTM (initial state, no residual), WaveNet and SlimmableContainer round trips, the
reference files, metadata, and the refusal of residual LSTMs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.errors import ModelFileError
from leanamp.formats import load_any, load_model, save_model
from leanamp.formats.nam import (
    export_nam,
    export_nam_slimmable,
    legacy_weight_count,
    load_nam,
    load_nam_slimmable,
    measure_loudness,
)
from leanamp.inference import run_model
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
def test_lstm_round_trip_is_exact_with_the_models_initial_state(tmp_path, rng, num_layers):
    model = lstm(5, num_layers)
    model.set_start_state(torch.rand(num_layers, 5) - 0.5, torch.rand(num_layers, 5) - 0.5)
    path = export_nam(model, tmp_path / "m.nam", {"name": "Test", "sample_rate": 48000})
    data = json.loads(path.read_text())
    assert data["version"] == "0.5.4" and data["architecture"] == "LSTM"
    assert data["config"] == {"input_size": 1, "hidden_size": 5, "num_layers": num_layers}
    again, metadata = load_nam(path)
    assert again.config == model.config and metadata["name"] == "Test"
    assert "nam_initial_state" not in metadata
    # The file carries the model's state, and the reloaded model starts from it.
    assert torch.equal(again.initial_hidden, model.initial_hidden)
    assert torch.equal(again.initial_cell, model.initial_cell)
    x = signal(rng)
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5


def test_a_model_trained_from_zeros_is_written_with_zeros(tmp_path, rng):
    """A model that starts from zeros in leanamp plays from zeros in NAM: same first sample."""
    model = lstm(4)
    again, _ = load_nam(export_nam(model, tmp_path / "z.nam"))
    assert not again.initial_hidden.any() and not again.initial_cell.any()
    x = signal(rng)
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5


def test_lstm_initial_state_survives_import_export_import(tmp_path, rng):
    model = lstm(4)
    model.set_start_state(torch.full((1, 4), 0.3), torch.full((1, 4), -0.2))
    first = export_nam(model, tmp_path / "a.nam")
    model_a, meta_a = load_nam(first)
    second = export_nam(model_a, tmp_path / "b.nam", meta_a)
    assert json.loads(first.read_text())["weights"] == json.loads(second.read_text())["weights"]
    model_b, _ = load_nam(second)
    x = signal(rng)
    assert np.max(np.abs(run_model(model_b, x) - run_model(model, x))) <= 1e-5


def test_residual_lstm_is_refused_with_the_measured_difference(tmp_path):
    with pytest.raises(ModelFileError) as e:
        export_nam(lstm(residual=True), tmp_path / "r.nam")
    message = str(e.value)
    assert "r.nam" in message and "--no-residual" in message and "ESR" in message
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
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5


def test_preset_weight_counts_match_nams():
    assert legacy_weight_count(preset("standard")) == 13802
    assert legacy_weight_count(preset("nano")) == 842


def test_metadata_loudness_is_measured_and_validated(tmp_path):
    model = lstm()
    meta = {"gear_type": "pedal", "tone_type": "overdrive", "input_level_dbu": 12.0}
    data = json.loads(export_nam(model, tmp_path / "m.nam", meta).read_text())["metadata"]
    assert data["gear_type"] == "pedal" and data["input_level_dbu"] == 12.0
    assert data["loudness"] == pytest.approx(
        measure_loudness(model, 48000), abs=1e-9
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
        assert np.max(np.abs(run_model(again, x) - run_model(original, x))) <= 1e-5
    largest, metadata = load_nam(path)
    assert np.max(np.abs(run_model(largest, x) - run_model(full, x))) <= 1e-5
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
    y = run_model(model, x)
    assert np.isfinite(y).all() and np.max(np.abs(y)) > 1e-3


@pytest.mark.parametrize("name", ["lstm.nam", "wavenet.nam", "slimmable_wavenet.nam"])
def test_reference_files_export_again(reference_models, tmp_path, rng, name):
    model, metadata = load_nam(reference_models / "nam" / name)
    x = signal(rng)
    y = run_model(model, x)
    path = export_nam(model, tmp_path / name, metadata)
    again, _ = load_nam(path)
    assert np.max(np.abs(run_model(again, x) - y)) <= 1e-5


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
    y = run_model(largest, x)
    assert np.max(np.abs(y - run_model(submodels[-1][1], x))) == 0 and np.max(np.abs(y)) > 1e-3
    single = export_nam(submodels[0][1], tmp_path / "a2_small.nam", metadata)
    assert json.loads(single.read_text())["version"] == "0.7.0"
    again, _ = load_nam(single)
    assert np.max(np.abs(run_model(again, x) - run_model(submodels[0][1], x))) <= 1e-5


def test_a2_submodel_saves_natively(reference_models, tmp_path, rng):
    model, metadata = load_nam(reference_models / "nam" / "A2.nam")
    save_model(model, tmp_path / "a2.leanamp", metadata)
    again, _ = load_model(tmp_path / "a2.leanamp")
    x = signal(rng, 1000)
    assert np.array_equal(run_model(again, x), run_model(model, x))


def test_a_compressed_import_keeps_its_state_cut_with_the_units(tmp_path, reference_models):
    """Units removed after the import take their initial state with them; the rest keep theirs,
    so the compressed model, its .nam and the original play the same from sample 0."""
    from leanamp.prune import compress

    model, metadata = load_any(reference_models / "nam" / "lstm.nam")
    assert model.initial_hidden.any()
    with torch.no_grad():  # cut unit 0 off from the output
        model.head.weight[0, 0] = 0.0
        model.lstm.weight_hh_l0[:, 0] = 0.0
    small = compress(model)
    assert small.hidden_size == model.hidden_size - 1
    assert torch.equal(small.initial_hidden, model.initial_hidden[:, 1:])
    assert torch.equal(small.initial_cell, model.initial_cell[:, 1:])
    again, _ = load_any(export_nam(small, tmp_path / "pruned.nam", metadata))
    assert torch.equal(again.initial_hidden, small.initial_hidden)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2000, 1)).astype(np.float32)
    assert np.max(np.abs(run_model(again, x) - run_model(model, x))) <= 1e-5


def film(groups=1, shift=True):
    return {"active": True, "shift": shift, "groups": groups}


CONDITION_DSP_LAYERS = [
    {"input_size": 1, "condition_size": 1, "channels": 4, "bottleneck": 2, "kernel_size": 2,
     "dilations": [1, 3], "activation": [{"type": "PReLU", "negative_slopes": [0.1, 0.2]},
                                         "Softsign"],
     "gating_mode": ["blended", "gated"],
     "secondary_activation": [{"type": "LeakyHardtanh", "min_val": 0.0, "max_val": 0.9,
                               "min_slope": 0.0, "max_slope": 0.02}, "Hardswish"],
     "groups_input": 2, "head1x1": {"active": True, "out_channels": 4, "groups": 2},
     "layer1x1": {"active": True, "groups": 2}, "layer1x1_post_film": film(),
     "activation_post_film": film(shift=False),
     "head": {"out_channels": 2, "kernel_size": 1, "bias": False}},
]  # fmt: skip
FILM_WAVENET_LAYERS = [
    {"input_size": 1, "condition_size": 2, "head_size": 1, "head_bias": True, "channels": 4,
     "bottleneck": 4, "kernel_size": 3, "dilations": [1, 2], "activation": "SiLU",
     "gating_mode": "none", "groups_input_mixin": 2,
     "head1x1": {"active": True, "out_channels": 2, "groups": 2},
     "conv_pre_film": film(2), "conv_post_film": film(), "input_mixin_pre_film": film(2),
     "input_mixin_post_film": film(2, False), "activation_pre_film": film(),
     "head1x1_post_film": film(2)},
]  # fmt: skip


def test_condition_dsp_film_and_groups_round_trip(tmp_path, rng):
    """A NAM Core 0.6/0.7 WaveNet with a condition DSP, every FiLM, grouped convolutions, a
    head1x1, blended gating and PReLU / LeakyHardtanh / Hardswish is written as .nam and read
    back to the same weights and audio (NAM Core plays such files: tests/engines)."""
    torch.manual_seed(5)
    model = NamWaveNet(
        FILM_WAVENET_LAYERS, condition_dsp={"layers": CONDITION_DSP_LAYERS, "head_scale": 0.5}
    ).eval()
    for net in (model, model.condition_dsp):
        net.load_nam_weights(torch.randn(net.num_nam_weights()) * 0.5)
    assert model.receptive_field == 1 + 2 * 3 + 1 * 4
    x = signal(rng, 3000)
    y = run_model(model, x)
    assert np.max(np.abs(y)) > 1e-3
    path = export_nam(model, tmp_path / "film.nam")
    data = json.loads(path.read_text())
    assert data["config"]["condition_dsp"]["architecture"] == "WaveNet"
    again, _ = load_nam(path)
    assert torch.equal(again.nam_weights(), model.nam_weights())
    assert torch.equal(again.condition_dsp.nam_weights(), model.condition_dsp.nam_weights())
    assert np.max(np.abs(run_model(again, x) - y)) == 0


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda layer: layer.__setitem__("groups_input", 3), "not divisible by 3 groups"),
        (lambda layer: layer.__setitem__("condition_size", 1), "condition_size must be 2"),
        (lambda layer: layer["head1x1"].__setitem__("active", False), "head1x1_post_film"),
    ],
)
def test_bad_film_wavenets_are_refused(tmp_path, mutate, fragment):
    model = NamWaveNet(
        FILM_WAVENET_LAYERS, condition_dsp={"layers": CONDITION_DSP_LAYERS, "head_scale": 0.5}
    )
    data = json.loads(export_nam(model, tmp_path / "ok.nam").read_text())
    mutate(data["config"]["layers"][0])
    (tmp_path / "bad.nam").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=fragment):
        load_nam(tmp_path / "bad.nam")
