"""Knob-conditioned datasets, per-setting evaluation and export with knob inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leanamp.audio.io import write_audio
from leanamp.data import Clip
from leanamp.data.knobs import (
    KnobSetting,
    base_name,
    knob_values,
    load_knob_data,
    parse_knob_setting,
    render_knob_sweep,
    with_knobs,
)
from leanamp.errors import DataError, LeanampError
from leanamp.formats import export_model, load_any
from leanamp.inference import run_model
from leanamp.losses import esr
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig, Trainer, evaluate_per_setting

RATE = 16000


def test_with_knobs_appends_constant_channels_and_names_the_setting():
    clip = Clip("riff", np.ones((100, 1), np.float32), np.zeros(100, np.float32), RATE)
    [conditioned] = with_knobs([clip], [0.2, 0.8])
    assert conditioned.input.shape == (100, 3) and conditioned.input.dtype == np.float32
    assert conditioned.name == "riff@0.2,0.8" and base_name(conditioned.name) == "riff"
    assert knob_values(conditioned) == (0.2, 0.8)
    with pytest.raises(LeanampError, match="0..1"):
        with_knobs([clip], 1.2)


def test_knob_values_refuses_a_moving_knob():
    x = np.stack([np.zeros(10), np.linspace(0, 1, 10)], axis=1).astype(np.float32)
    with pytest.raises(DataError, match="vary"):
        knob_values(Clip("sweep", x, np.zeros(10, np.float32), RATE))


def test_parse_knob_setting():
    assert parse_knob_setting("a_zendrive_g5_t3_=0.6") == KnobSetting("a_zendrive_g5_t3_", (0.6,))
    assert parse_knob_setting("x=y_=0.1,1").values == (0.1, 1.0)
    for bad, message in (("a_zendrive", "PREFIX=VALUE"), ("p=loud", "not numbers"),
                         ("p=3", "0..1")):
        with pytest.raises(LeanampError, match=message):
            parse_knob_setting(bad)


class ClipperStub:
    """A stand-in virtual device (the real circuits compile their kernels on first use)."""

    def __init__(self, gain: float, sample_rate: int):
        self.gain, self.sample_rate = gain, sample_rate

    def render(self, x):
        return np.tanh((1 + 9 * self.gain) * x).astype(np.float32)


def test_virtual_sweep_carries_its_knob_and_the_knob_changes_the_sound(monkeypatch):
    made = []

    def get_device(name, gain=0.5, sample_rate=48000, **fixed):
        made.append((name, gain, fixed))
        return ClipperStub(gain, sample_rate)

    monkeypatch.setattr("leanamp.data.knobs.get_device", get_device)
    clips = render_knob_sweep(
        "diode-clipper", "gain", [0.0, 1.0], 0.25, RATE, same_input=True, tone=0.3
    )
    assert made == [("diode-clipper", 0.0, {"tone": 0.3}), ("diode-clipper", 1.0, {"tone": 0.3})]
    assert [knob_values(c) for c in clips] == [(0.0,), (1.0,)]
    np.testing.assert_array_equal(clips[0].input[:, 0], clips[1].input[:, 0])
    np.testing.assert_allclose(clips[1].target, np.tanh(10 * clips[1].input[:, 0]), atol=1e-6)
    different = render_knob_sweep("diode-clipper", "gain", [0.0, 0.0], 0.25, RATE)
    assert not np.array_equal(different[0].input[:, 0], different[1].input[:, 0])
    with pytest.raises(LeanampError, match="gain and tone"):
        render_knob_sweep("overdrive", "volume", [0.5], 0.1, RATE)


def write_device(tmp_path, settings: dict[str, float], names=("a", "b", "c")):
    """Dry clips and a made-up two-setting device: y = tanh(drive * x), 3 samples late."""
    dry, wet = tmp_path / "dry", tmp_path / "wet"
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        t = np.arange(int(0.6 * RATE)) / RATE
        x = (0.5 * np.sin(2 * np.pi * (110 + 40 * k) * t) + 0.05 * rng.standard_normal(t.size))
        x = x.astype(np.float32)
        write_audio(dry / f"{name}.wav", x, RATE)
        for prefix, drive in settings.items():
            y = np.tanh(drive * np.concatenate([np.zeros(3), x[:-3]]))
            write_audio(wet / f"{prefix}{name}.wav", y.astype(np.float32), RATE)
    return dry, wet


def test_load_knob_data_pairs_every_setting_and_splits_by_clip(tmp_path):
    dry, wet = write_device(tmp_path, {"low_": 1.0, "high_": 6.0})
    settings = [KnobSetting("low_", (0.0,)), KnobSetting("high_", (1.0,))]
    data = load_knob_data(dry, wet, settings, validation=["b"], test=["c"], align=True)
    assert data.input_size == 2
    assert sorted(c.name for c in data.train) == ["a@0", "a@1"]
    assert sorted(c.name for c in data.validation) == ["b@0", "b@1"]
    assert sorted(c.name for c in data.test) == ["c@0", "c@1"]
    assert data.alignment.latency == 3
    # The knob channel says which setting each target came from.
    for clip in data.train:
        drive = 6.0 if knob_values(clip) == (1.0,) else 1.0
        expected = np.tanh(drive * clip.input[:, 0])
        assert esr(clip.target[10:], expected[10:]) < 1e-3
    with pytest.raises(DataError, match="'d'"):
        load_knob_data(dry, wet, settings, validation=["d"])
    with pytest.raises(LeanampError, match="same number"):
        load_knob_data(dry, wet, [KnobSetting("low_", (0.0,)), KnobSetting("high_", (1.0, 0.5))])


def test_conditioned_training_learns_the_knob(tmp_path):
    dry, wet = write_device(tmp_path, {"low_": 1.0, "high_": 6.0}, names=("a", "b"))
    settings = [KnobSetting("low_", (0.0,)), KnobSetting("high_", (1.0,))]
    data = load_knob_data(dry, wet, settings, validation=["b"])
    torch.manual_seed(0)
    model = LSTMModel(6, input_size=2)
    before = evaluate_per_setting(model, data.validation)
    config = TrainConfig(
        segment_seconds=0.1, batch_size=4, learning_rate=1e-2, max_epochs=10, validate_every=5,
        warmup_samples=200, tbptt_samples=400, accelerator="cpu",
    )
    Trainer(model, data.train, data.validation, config, progress=False).fit()
    after = evaluate_per_setting(model, data.validation)
    assert set(after) == {(0.0,), (1.0,)}
    assert after[(1.0,)] < 0.5 * before[(1.0,)]
    # One model serves both settings: at the wrong knob value it is much worse.
    high = next(c for c in data.validation if knob_values(c) == (1.0,))
    wrong = high.input.copy()
    wrong[:, 1] = 0.0
    assert esr(run_model(model, wrong), high.target) > 2 * after[(1.0,)]


@pytest.mark.parametrize(
    "fmt,suffix", [("aidax", ".json"), ("agm", ".json"), ("native", ".leanamp")]
)
def test_conditioned_models_export_with_their_knob_inputs(tmp_path, fmt, suffix):
    torch.manual_seed(1)
    model = LSTMModel(5, input_size=3)
    path = export_model(model, tmp_path / f"conditioned{suffix}", fmt, {"sample_rate": 48000})
    loaded, _ = load_any(path)
    assert loaded.input_size == 3
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2000, 3)).astype(np.float32)
    x[:, 1:] = [0.3, 0.9]
    np.testing.assert_allclose(run_model(loaded, x), run_model(model, x), atol=1e-5)


def test_real_pedal_settings_load_as_one_conditioned_device(morphdrive):
    settings = [KnobSetting("a_honeybee_g5_t0_", (0.0,)), KnobSetting("a_honeybee_g5_t2_", (0.4,))]
    data = load_knob_data(
        morphdrive / "dry", morphdrive / "pedal", settings,
        validation=["guitar-chords"], test=["guitar-funk2"],
    )
    assert data.input_size == 2 and len(data.train) == 12
    assert {knob_values(c) for c in data.test} == {(0.0,), (0.4,)}
    # Same input, two tone settings: the targets differ.
    t0, t2 = sorted(data.test, key=knob_values)
    np.testing.assert_array_equal(t0.input[:, 0], t2.input[:, 0])
    assert esr(t0.target, t2.target) > 0.01
