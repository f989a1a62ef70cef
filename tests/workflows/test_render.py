"""load_any / export_model, models as devices (ModelDevice, render_file, `leanamp render`), the
export/import CLI, and imported models being ordinary leanamp models (train, stream, re-export)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

import leanamp.workflows.render as model_device
from leanamp.errors import LeanampError, ModelFileError
from leanamp.formats import export_model, load_any, load_model, save_model, start_state
from leanamp.formats.common import run
from leanamp.models.lstm import LSTMModel
from leanamp.models.wavenet import WaveNet, preset
from leanamp.workflows.render import ModelDevice, render_file

FORMATS = [
    ("m.leanamp", None, "native"),
    ("m.nam", None, "nam"),
    ("m.aidax", None, "aidax"),
    ("m.json", "aidax", "aidax"),
    ("m.json", "proteus", "agm"),
    ("m.json", "neuralpi", "agm"),
    ("m.json", "agm", "agm"),
]


def lstm(hidden=6, input_size=1, residual=True, seed=0):
    torch.manual_seed(seed)
    model = LSTMModel(hidden, input_size, residual)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
    return model.eval()


def nano_wavenet(seed=0):
    torch.manual_seed(seed)
    model = WaveNet(layers=preset("nano"), head_scale=0.02)
    weights = torch.randn(model.num_nam_weights()) * 0.3
    weights[-1] = 0.02
    model.load_nam_weights(weights)
    return model.eval()


def audio(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 48000
    return (0.5 * np.sin(2 * np.pi * 147 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("name,fmt,detected", FORMATS)
def test_every_format_round_trips_through_load_any(tmp_path, name, fmt, detected):
    model = lstm(residual=detected != "nam")
    path = export_model(model, tmp_path / name, fmt, metadata={"sample_rate": 48000})
    again, metadata = load_any(path)
    if detected != "native":
        assert metadata["format"] == detected
    x = audio(1500)[:, None]
    ours = run(model, x)
    if detected == "nam":  # NAM files start from the silence state they store
        ours = run(model, np.concatenate([np.zeros((48000, 1), np.float32), x]))[48000:]
    assert np.max(np.abs(run(again, x, start_state(again, metadata)) - ours)) <= 1e-5


def test_json_needs_a_format_and_unknown_suffixes_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="AIDA-X or for Proteus"):
        export_model(lstm(), tmp_path / "m.json")
    with pytest.raises(ModelFileError, match="suffix '.bin'"):
        export_model(lstm(), tmp_path / "m.bin")
    with pytest.raises(ModelFileError, match="unknown format 'onnx'"):
        export_model(lstm(), tmp_path / "m.nam", "onnx")


def test_native_file_keeps_nam_initial_state(tmp_path, reference_models):
    model, metadata = load_any(reference_models / "nam" / "lstm.nam")
    save_model(model, tmp_path / "m.leanamp", metadata)
    again, again_meta = load_any(tmp_path / "m.leanamp")
    x = audio(800)[:, None]
    expected = run(model, x, start_state(model, metadata))
    assert np.max(np.abs(run(again, x, start_state(again, again_meta)) - expected)) == 0


@pytest.mark.parametrize("make", [lambda: lstm(8), nano_wavenet], ids=["lstm", "wavenet"])
def test_model_device_renders_in_chunks_like_one_call(monkeypatch, make):
    model = make()
    monkeypatch.setattr(model_device, "CHUNK_SAMPLES", 700)
    device = ModelDevice(model, {"sample_rate": 44100}, device="cpu")
    assert device.sample_rate == 44100
    x = audio(2600)
    y = device.render(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - run(model, x[:, None]))) < 1e-6
    assert np.array_equal(device.render(x), y)  # fresh state every call


def test_model_device_uses_nams_initial_state(reference_models):
    device = ModelDevice(reference_models / "nam" / "lstm.nam", device="cpu")
    model, metadata = load_any(reference_models / "nam" / "lstm.nam")
    x = audio(500)
    expected = run(model, x[:, None], start_state(model, metadata))
    assert np.max(np.abs(device.render(x) - expected)) < 1e-6


def test_model_device_knobs(reference_models):
    path = reference_models / "neuralpi_TS9.json"  # audio + gain knob
    with pytest.raises(LeanampError, match="knob"):
        ModelDevice(path, device="cpu").render(audio(100))
    with pytest.raises(LeanampError, match="within 0..1"):
        ModelDevice(path, knobs=[1.5], device="cpu")
    low = ModelDevice(path, knobs=[0.0], device="cpu").render(audio(3000))
    high = ModelDevice(path, knobs=[1.0], device="cpu").render(audio(3000))
    stacked = np.stack([audio(3000), np.ones(3000, np.float32)], axis=1)
    assert np.array_equal(ModelDevice(path, device="cpu").render(stacked), high)
    assert np.sqrt(np.mean((high - low) ** 2)) > 1e-3  # the knob matters


def test_render_file_resamples_to_the_models_rate_and_back(tmp_path, reference_models):
    sf.write(tmp_path / "dry.wav", audio(4800), 48000, subtype="FLOAT")
    with pytest.warns(UserWarning, match="resampled"):
        render_file(reference_models / "neuralpi_TS9_FullD.json", tmp_path / "dry.wav",
                    tmp_path / "wet.wav")  # fmt: skip
    wet, rate = sf.read(tmp_path / "wet.wav")
    assert rate == 48000 and wet.shape == (4800,) and np.sqrt(np.mean(wet**2)) > 0.01


def test_cli_import_export_render(tmp_path, reference_models, run_cli):
    source = reference_models / "agm_ht1_RNN3_lstm32_model.json"
    code, out, err = run_cli(["import", str(source), str(tmp_path / "ht1.leanamp")])
    assert code == 0, err
    assert "hidden_size=32" in out
    model, metadata = load_model(tmp_path / "ht1.leanamp")
    assert metadata["format"] == "agm"
    code, out, err = run_cli(
        ["export", str(tmp_path / "ht1.leanamp"), str(tmp_path / "ht1.json"), "-f", "proteus"],
    )
    assert code == 0, err
    assert json.loads((tmp_path / "ht1.json").read_text())["model_data"]["hidden_size"] == 40
    code, _, err = run_cli(["export", str(source), str(tmp_path / "ht1.nam")])
    assert code == 2 and err.startswith("error:") and "residual" in err
    assert "Traceback" not in err and not (tmp_path / "ht1.nam").exists()
    sf.write(tmp_path / "dry.wav", audio(2000), 44100, subtype="FLOAT")
    code, _, err = run_cli(
        ["render", str(tmp_path / "ht1.json"), str(tmp_path / "dry.wav"), str(tmp_path / "w.wav")],
    )
    assert code == 0, err
    wet, _ = sf.read(tmp_path / "w.wav", dtype="float32")
    expected = run(model, audio(2000)[:, None])
    assert np.max(np.abs(wet - expected)) < 1e-5


def test_cli_export_metadata_and_bad_files(tmp_path, reference_models, run_cli):
    source = reference_models / "nam" / "wavenet.nam"
    code, _, err = run_cli(
        ["export", str(source), str(tmp_path / "w.nam"), "--name", "Mine", "--gear-type", "amp"],
    )
    assert code == 0, err
    meta = json.loads((tmp_path / "w.nam").read_text())["metadata"]
    assert meta["name"] == "Mine" and meta["gear_type"] == "amp"
    (tmp_path / "bad.nam").write_text("{")
    code, _, err = run_cli(["render", str(tmp_path / "bad.nam"), "a.wav", "b.wav"])
    assert code == 2 and "bad.nam" in err and "Traceback" not in err


def test_imported_models_train(reference_models):
    model, _ = load_any(reference_models / "neuralpi_BluesJR_FullD.json")
    model.train()
    x = torch.from_numpy(audio(1000))[None, :, None]
    target = torch.tanh(3 * x[..., 0])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        optimizer.zero_grad()
        loss = torch.mean((model(x)[0] - target) ** 2)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("name", ["agm_DS1_parameterized_lstm20_in3.json", "nam/lstm.nam"])
def test_imported_models_run_in_the_streaming_engine(reference_models, name):
    from leanamp.runtime.kernels import make_processor

    model, metadata = load_any(reference_models / name)
    processor = make_processor(model)
    x = np.stack([audio(1200)] + [np.full(1200, 0.4, np.float32)] * (model.input_size - 1), 1)
    if model.input_size == 1:
        x = x[:, 0]
    blocks = [processor.process(x[i : i + 256]) for i in range(0, len(x), 256)]
    expected = run(model, x.reshape(len(x), -1))  # the engine starts from silence (zero state)
    assert np.max(np.abs(np.concatenate(blocks) - expected)) < 1e-4


def test_cli_exports_wavenet_widths_and_slimmable_containers(tmp_path, run_cli):
    layers = [dict(cfg, slimmable={"method": "slice_channels_uniform", "kwargs": {}})
              for cfg in preset("nano")]  # fmt: skip
    torch.manual_seed(0)
    model = WaveNet(layers=layers, head_scale=0.02)
    save_model(model, tmp_path / "slim.leanamp", {"sample_rate": 48000})
    code, _, err = run_cli(
        ["export", str(tmp_path / "slim.leanamp"), str(tmp_path / "w2.nam"), "--width", "2"],
    )
    assert code == 0, err
    narrow, _ = load_any(tmp_path / "w2.nam")
    x = audio(1500)[:, None]
    assert narrow.channels == (2, 1)
    assert np.max(np.abs(run(narrow, x) - run(model.sliced(2), x))) <= 1e-5
    code, out, err = run_cli(
        ["export", str(tmp_path / "slim.leanamp"), str(tmp_path / "c.nam"), "--slim-widths",
         "1,2,4"],
    )  # fmt: skip
    assert code == 0, err
    data = json.loads((tmp_path / "c.nam").read_text())
    assert [s["max_value"] for s in data["config"]["submodels"]] == [0.25, 0.5, 1.0]
    code, _, err = run_cli(
        ["export", str(tmp_path / "slim.leanamp"), str(tmp_path / "d.nam"), "--slim-widths",
         "1,9"],
    )  # fmt: skip
    assert code == 2 and "--slim-widths" in err
