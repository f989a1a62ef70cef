"""Malformed and hostile model files: each gives a ModelFileError naming the file, never a crash,
a huge allocation, or code execution."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from leanamp.errors import ModelFileError
from leanamp.formats import load_any
from leanamp.formats.agm import agm_dict, load_agm
from leanamp.formats.aidax import aidax_dict, load_aidax
from leanamp.formats.nam import load_nam, load_nam_slimmable
from leanamp.models.lstm import LSTMModel

LOADERS = [load_any, load_nam, load_agm, load_aidax, load_nam_slimmable]


def lstm(residual=True):
    torch.manual_seed(0)
    return LSTMModel(4, 1, residual).eval()


def nam_lstm_dict():
    hidden = 3
    count = 4 * hidden * (1 + hidden) + 4 * hidden + 2 * hidden + hidden + 1
    return {
        "version": "0.5.4", "architecture": "LSTM",
        "config": {"input_size": 1, "hidden_size": hidden, "num_layers": 1},
        "weights": [0.01 * k for k in range(count)], "sample_rate": 48000,
    }  # fmt: skip


def nam_wavenet_dict():
    layer = {"input_size": 1, "condition_size": 1, "head_size": 1, "channels": 2,
             "kernel_size": 2, "dilations": [1, 2], "activation": "Tanh", "gated": False,
             "head_bias": True}  # fmt: skip
    # rechannel 2; per layer conv 2*2*2 + bias 2, mixer 2, 1x1 4 + bias 2; head 2 + 1; scale 1
    count = 2 + 2 * (8 + 2 + 2 + 4 + 2) + 2 + 1 + 1
    return {
        "version": "0.5.4", "architecture": "WaveNet",
        "config": {"layers": [layer], "head": None, "head_scale": 0.02},
        "weights": [0.01] * count,
    }  # fmt: skip


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def expect_refusal(loader, path, *fragments):
    with pytest.raises(ModelFileError) as e:
        loader(path)
    message = str(e.value)
    assert str(path) in message or path.name in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_valid_fixtures_load(tmp_path):
    # The hostile variants below start from these, so they must be valid to begin with.
    assert load_nam(write(tmp_path, "l.nam", nam_lstm_dict()))[0].hidden_size == 3
    assert load_nam(write(tmp_path, "w.nam", nam_wavenet_dict()))[0].receptive_field == 4


@pytest.mark.parametrize("loader", LOADERS)
def test_empty_file(tmp_path, loader):
    expect_refusal(loader, write(tmp_path, "empty.nam", b""), "empty")


@pytest.mark.parametrize("loader", LOADERS)
def test_directory(tmp_path, loader):
    (tmp_path / "folder.nam").mkdir()
    expect_refusal(loader, tmp_path / "folder.nam", "not a file")


@pytest.mark.parametrize("loader", LOADERS)
def test_missing_file(tmp_path, loader):
    expect_refusal(loader, tmp_path / "nothing.nam", "no such file")


@pytest.mark.parametrize("loader", LOADERS)
def test_non_json(tmp_path, loader):
    expect_refusal(loader, write(tmp_path, "text.json", "this is not { json"), "not valid JSON")


@pytest.mark.parametrize("loader", LOADERS)
def test_binary_garbage(tmp_path, loader):
    data = bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))
    expect_refusal(loader, write(tmp_path, "noise.nam", b"\x01" + data))


class Boom:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("loader", LOADERS)
def test_pickle_is_never_unpickled(tmp_path, loader):
    marker = tmp_path / "pwned"
    path = write(tmp_path, "model.pt", pickle.dumps(Boom(str(marker))))
    expect_refusal(loader, path, "never unpickles")
    assert not marker.exists()


@pytest.mark.parametrize("loader", LOADERS)
def test_torch_zip_checkpoint(tmp_path, loader):
    torch.save({"w": torch.zeros(3)}, tmp_path / "model.pth")
    expect_refusal(loader, tmp_path / "model.pth", "never unpickles")


@pytest.mark.parametrize("loader", LOADERS)
def test_deeply_nested_json_bomb(tmp_path, loader):
    path = write(tmp_path, "bomb.json", "[" * 200_000 + "]" * 200_000)
    expect_refusal(loader, path, "nested too deeply")


@pytest.mark.parametrize("loader", LOADERS)
def test_json_that_is_not_an_object(tmp_path, loader):
    expect_refusal(loader, write(tmp_path, "list.json", "[1, 2, 3]"), "JSON object")


def test_unknown_json_names_the_formats(tmp_path):
    expect_refusal(load_any, write(tmp_path, "x.json", {"hello": 1}), "NAM", "AIDA-X")


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda d: d.pop("weights"), "missing key 'weights'"),
        (lambda d: d.pop("config"), "missing key 'config'"),
        (lambda d: d["config"].pop("hidden_size"), "missing key 'hidden_size'"),
        (lambda d: d["weights"].pop(), "has 69 weights"),
        (lambda d: d["weights"].__setitem__(3, float("nan")), "NaN"),
        (lambda d: d["weights"].__setitem__(3, float("inf")), "NaN or infinite"),
        (lambda d: d["weights"].__setitem__(3, "0.5"), "array of numbers"),
        (lambda d: d["weights"].__setitem__(3, [1.0, 2.0]), "weights"),
        (lambda d: d["config"].__setitem__("hidden_size", 10**7), "hidden_size = 10000000"),
        (lambda d: d["config"].__setitem__("hidden_size", -3), "hidden_size = -3"),
        (lambda d: d["config"].__setitem__("hidden_size", 2.5), "must be an integer"),
        (lambda d: d["config"].__setitem__("hidden_size", True), "must be an integer"),
        (lambda d: d["config"].__setitem__("num_layers", 10**6), "num_layers"),
        (lambda d: d.__setitem__("version", "9.0.0"), "version 9.0.0 is not supported"),
        (lambda d: d.__setitem__("version", 5), "not a NAM version"),
        (lambda d: d.__setitem__("architecture", "ConvNet"), "'ConvNet' is not supported"),
        (lambda d: d.__setitem__("sample_rate", -1), "sample_rate"),
        (lambda d: d.__setitem__("config", [1]), "config"),
    ],
)
def test_malformed_nam_lstm(tmp_path, mutate, fragment):
    data = nam_lstm_dict()
    mutate(data)
    expect_refusal(load_any, write(tmp_path, "bad.nam", data), fragment)


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda d: d["config"]["layers"][0].__setitem__("channels", 10**7), "channels"),
        (lambda d: d["config"]["layers"][0].__setitem__("dilations", [1] * 10**5), "dilations"),
        (lambda d: d["config"]["layers"][0].__setitem__("dilations", [10**9]), "dilations"),
        (lambda d: d["config"]["layers"][0].__setitem__("kernel_size", 10**6), "kernel_size"),
        (lambda d: d["config"]["layers"][0].__setitem__("activation", "Exec"), "activation"),
        (lambda d: d["config"]["layers"][0].pop("gated"), "gated"),
        (lambda d: d["config"].__setitem__("layers", []), "config.layers"),
        (lambda d: d["config"].__setitem__("head_scale", "big"), "head_scale"),
        (lambda d: d["config"].__setitem__("head_scale", float("nan")), "head_scale"),
        (lambda d: d["config"].__setitem__("head", {"in_channels": 1}), "post-head"),
        (lambda d: d["weights"].append(0.0), "needs 42"),
        (lambda d: d["config"]["layers"][0].update(head={"out_channels": 1}), "head bias"),
    ],
)
def test_malformed_nam_wavenet(tmp_path, mutate, fragment):
    data = nam_wavenet_dict()
    mutate(data)
    expect_refusal(load_any, write(tmp_path, "bad.nam", data), fragment)


def test_a_head_object_wins_over_head_size_as_in_nam_core(tmp_path):
    # NAM Core reads a layer's "head" object when it is not null, and head_size/head_bias only
    # without one: this file's 42 weights fit the object's head bias, not head_bias false.
    data = nam_wavenet_dict()
    layer = data["config"]["layers"][0]
    layer.update(head_bias=False, head={"out_channels": 1, "kernel_size": 1, "bias": True})
    model, _ = load_any(write(tmp_path, "both.nam", data))
    assert model.num_nam_weights() == 42


def test_malformed_slimmable_container(tmp_path):
    inner = nam_wavenet_dict()
    container = {
        "version": "0.7.0", "architecture": "SlimmableContainer", "weights": [],
        "config": {"submodels": [{"max_value": 1.0, "model": inner},
                                 {"max_value": 0.5, "model": inner}]},
    }  # fmt: skip
    expect_refusal(load_any, write(tmp_path, "order.nam", container), "must increase")
    nested = json.loads(json.dumps(container))
    container["config"]["submodels"] = [{"max_value": 1.0, "model": nested}]
    expect_refusal(load_any, write(tmp_path, "nested.nam", container), "another one")
    container["config"]["submodels"] = [{"max_value": float("nan"), "model": inner}]
    expect_refusal(load_any, write(tmp_path, "nan.nam", container), "max_value")


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda d: d.pop("state_dict"), "missing key 'state_dict'"),
        (lambda d: d["state_dict"].pop("rec.weight_hh_l0"), "rec.weight_hh_l0"),
        (lambda d: d["state_dict"]["rec.weight_ih_l0"].pop(), "shape"),
        (lambda d: d["state_dict"]["lin.weight"][0].__setitem__(0, float("nan")), "NaN"),
        (lambda d: d["model_data"].__setitem__("hidden_size", 10**7), "hidden_size"),
        (lambda d: d["model_data"].__setitem__("input_size", 0), "input_size"),
        (lambda d: d["model_data"].__setitem__("skip", 2), "skip"),
    ],
)
def test_malformed_agm(tmp_path, mutate, fragment):
    data = json.loads(json.dumps(agm_dict(lstm())))
    mutate(data)
    expect_refusal(load_any, write(tmp_path, "bad.json", data), fragment)


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda d: d["layers"][0].pop("weights"), "missing key 'weights'"),
        (lambda d: d["layers"][0]["weights"].pop(), "3 arrays"),
        (lambda d: d["layers"][0]["weights"][1].pop(), "shape"),
        (lambda d: d["layers"][0].__setitem__("shape", [None, None, 10**7]), "10000000"),
        (lambda d: d["layers"][1]["weights"][1].__setitem__(0, float("inf")), "NaN"),
        (lambda d: d["layers"][1].__setitem__("activation", "tanh"), "activation"),
        (lambda d: d.__setitem__("in_shape", [None, None, 99]), "in_shape"),
        (lambda d: d.__setitem__("layers", d["layers"][:1]), "dense"),
        (lambda d: d["metadata"].__setitem__("samplerate", "fast"), "samplerate"),
    ],
)
def test_malformed_aidax(tmp_path, mutate, fragment):
    data = json.loads(json.dumps(aidax_dict(lstm())))
    mutate(data)
    expect_refusal(load_any, write(tmp_path, "bad.json", data), fragment)


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    import leanamp.formats.common as common

    monkeypatch.setattr(common, "MAX_FILE_BYTES", 100)
    path = write(tmp_path, "big.nam", nam_lstm_dict())
    expect_refusal(load_nam, path, "far larger")
