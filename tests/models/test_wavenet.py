"""WaveNet: NAM config and weight layout, forward semantics, slimming by truncation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.formats.native import load_model, save_model
from leanamp.models import build_model
from leanamp.models.wavenet import WaveNet, preset

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


_NUMPY_ACTS = {"Tanh": np.tanh, "ReLU": lambda v: np.maximum(v, 0.0), "Sigmoid": _sigmoid}


def reference_forward(layers: list[dict], weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """NAM's legacy WaveNet written out from FORMATS.md, reading the flat .nam weight vector.

    float64 numpy, zero input before the first sample; x (T,) mono -> (T,).
    """
    it = iter(np.asarray(weights, dtype=np.float64))

    def take(*shape):
        n = int(np.prod(shape))
        return np.array([next(it) for _ in range(n)]).reshape(shape)

    t_len = len(x)
    rf = 1 + sum((cfg["kernel_size"] - 1) * sum(cfg["dilations"]) for cfg in layers)
    cond = np.concatenate([np.zeros(rf - 1), x])[None, :]
    stream, head = cond, None
    for cfg in layers:
        c, k = cfg["channels"], cfg["kernel_size"]
        c_out = 2 * c if cfg["gated"] else c
        z = take(c, cfg["input_size"]) @ stream
        for d in cfg["dilations"]:
            w, b = take(c_out, c, k), take(c_out)
            mixer = take(c_out, cfg["condition_size"])
            w1, b1 = take(c, c), take(c)
            length = z.shape[1] - d * (k - 1)
            u = b[:, None] + mixer @ cond[:, -length:]
            for tap in range(k):
                u = u + w[:, :, tap] @ z[:, tap * d : tap * d + length]
            act = _NUMPY_ACTS[cfg["activation"]]
            a = act(u[:c]) * _sigmoid(u[c:]) if cfg["gated"] else act(u)
            head = a[:, -t_len:] if head is None else head + a[:, -t_len:]
            z = z[:, -length:] + w1 @ a + b1[:, None]
        head = take(cfg["head_size"], c) @ head
        if cfg["head_bias"]:
            head = head + take(cfg["head_size"])[:, None]
        stream = z
    scale = next(it)
    assert next(it, None) is None, "weights left over"
    return scale * head[0]


def small_layers(gated: bool = False, activation: str = "Tanh") -> list[dict]:
    common = {"condition_size": 1, "kernel_size": 3, "activation": activation, "gated": gated}
    return [
        {"input_size": 1, "head_size": 3, "channels": 5, "dilations": [1, 2, 4],
         "head_bias": False, **common},
        {"input_size": 5, "head_size": 1, "channels": 3, "dilations": [8, 1],
         "head_bias": True, **common},
    ]  # fmt: skip


def random_model(layers, seed=0, scale=0.4) -> WaveNet:
    torch.manual_seed(seed)
    model = WaveNet(layers)
    model.load_nam_weights(torch.randn(model.num_nam_weights()) * scale)
    return model.eval()


def run(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(x, dtype=torch.float32).reshape(1, -1, 1))[0][0].numpy()


def test_preset_weight_counts_and_receptive_field():
    assert WaveNet(preset("standard")).num_nam_weights() == 13_802
    assert WaveNet(preset("nano")).num_nam_weights() == 842
    for name in ("standard", "lite", "feather", "nano"):
        model = WaveNet(preset(name))
        assert len(model.nam_weights()) == model.num_nam_weights()
        assert model.receptive_field == 1 + 2 * 2 * 1023
    with pytest.raises(ValueError, match="unknown WaveNet preset"):
        preset("huge")


REFERENCE_WAVENETS = ["wavenet.nam", "wavenet_a1_standard.nam", "slimmable_wavenet.nam"]


@pytest.mark.parametrize("name", REFERENCE_WAVENETS)
def test_reference_nam_files_load_with_matching_weight_counts(reference_models, name):
    data = json.loads((reference_models / "nam" / name).read_text())
    config = data["config"]
    model = WaveNet(config["layers"], head_scale=config["head_scale"])
    assert model.num_nam_weights() == len(data["weights"])
    model.load_nam_weights(torch.tensor(data["weights"]))
    assert torch.equal(model.nam_weights(), torch.tensor(data["weights"], dtype=torch.float32))
    assert float(model.head_scale) == pytest.approx(data["weights"][-1])


def test_forward_matches_reference_on_a_real_nam_file(reference_models):
    data = json.loads((reference_models / "nam" / "wavenet.nam").read_text())
    layers = data["config"]["layers"]
    model = WaveNet(layers, head_scale=data["config"]["head_scale"])
    model.load_nam_weights(torch.tensor(data["weights"]))
    x = np.random.default_rng(0).uniform(-1, 1, 400)
    np.testing.assert_allclose(
        run(model.eval(), x), reference_forward(layers, data["weights"], x), atol=1e-6
    )


@pytest.mark.parametrize(("gated", "activation"), [(False, "Tanh"), (True, "Tanh"), (True, "ReLU")])
def test_forward_matches_reference_gated_and_not(gated, activation):
    layers = small_layers(gated, activation)
    model = random_model(layers, seed=3)
    x = np.random.default_rng(1).uniform(-1, 1, 300)
    expected = reference_forward(layers, model.nam_weights().numpy(), x)
    np.testing.assert_allclose(run(model, x), expected, atol=2e-6)


def test_causal_with_the_stated_receptive_field():
    model = random_model(small_layers())
    rf = model.receptive_field
    assert rf == 1 + 2 * (1 + 2 + 4) + 2 * (8 + 1)
    x = np.random.default_rng(2).uniform(-1, 1, 200)
    bumped = x.copy()
    bumped[50] += 0.5
    diff = np.abs(run(model, bumped) - run(model, x))
    assert diff[:50].max() == 0.0
    assert diff[50 + rf - 1] > 0.0  # the oldest sample the output still depends on
    assert diff[50 + rf :].max() == 0.0


def test_zero_input_before_the_first_sample():
    model = random_model(small_layers(gated=True))
    x = np.random.default_rng(3).uniform(-1, 1, 150)
    with_silence = np.concatenate([np.zeros(100), x])
    np.testing.assert_allclose(run(model, x), run(model, with_silence)[100:], atol=1e-6)


def test_load_nam_weights_rejects_wrong_length():
    model = WaveNet(preset("nano"))
    with pytest.raises(ValueError, match="takes 842 weights, got 841"):
        model.load_nam_weights(torch.zeros(841))


@pytest.mark.parametrize("gated", [False, True])
def test_truncation_equals_model_built_at_that_width_with_sliced_weights(gated):
    model = random_model(small_layers(gated), seed=5)
    x = np.random.default_rng(4).uniform(-1, 1, 250)
    full = run(model, x)
    for c in range(1, 6):
        model.set_width(c)
        small = model.sliced(c)
        assert small.channels == model.array_widths(c)
        assert small.num_nam_weights() == len(small.nam_weights())
        np.testing.assert_allclose(run(model, x), run(small, x), atol=1e-6)
        if c < 5:
            assert np.abs(run(model, x) - full).max() > 1e-4  # truncation does change the model
    model.set_width(None)
    np.testing.assert_array_equal(run(model, x), full)


def test_width_mapping_across_layer_arrays():
    model = WaveNet(preset("standard"))
    assert model.array_widths(16) == (16, 8)
    assert model.array_widths(1) == (1, 1)
    assert model.array_widths(3) == (3, 2)  # at least the proportional share
    assert model.array_widths((5, 7)) == (5, 7)
    for bad in (0, 17, (1, 9), (1, 2, 3)):
        with pytest.raises(ValueError):
            model.set_width(bad)


def test_truncation_is_a_view_trained_through_the_full_parameters():
    model = random_model(small_layers(gated=True), seed=6).train()
    pointers = {name: p.data_ptr() for name, p in model.named_parameters()}
    model.set_width(2)
    assert {name: p.data_ptr() for name, p in model.named_parameters()} == pointers
    y, _ = model(torch.randn(2, 100, 1))
    y.pow(2).mean().backward()
    conv = model.arrays[0].convs[1].weight  # (2 * 5, 5, 3), gated: first 2c rows at width c
    assert conv.grad[:4, :2].abs().sum() > 0
    assert conv.grad[4:].abs().sum() == 0 and conv.grad[:, 2:].abs().sum() == 0
    head = model.arrays[0].head_rechannel.weight  # (3, 5): rows = next array's width (2)
    assert model.array_widths(2) == (2, 2)
    assert head.grad[:2, :2].abs().sum() > 0 and head.grad[2:].abs().sum() == 0


def test_config_rebuilds_and_native_file_round_trip(tmp_path):
    model = random_model(small_layers(gated=True, activation="ReLU"), seed=7)
    rebuilt = build_model(model.config)
    rebuilt.load_nam_weights(model.nam_weights())
    x = np.random.default_rng(5).uniform(-1, 1, 120)
    np.testing.assert_array_equal(run(rebuilt.eval(), x), run(model, x))
    path = save_model(model, tmp_path / "wn.leanamp")
    loaded, _ = load_model(path)
    assert loaded.config == model.config
    np.testing.assert_array_equal(run(loaded, x), run(model, x))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"activation": "Fasttanh"}, "not supported"),
        ({"head_size": 4}, "head_size 4 must equal the next array's channels"),
        ({"kernel_sizes": [3, 3, 3]}, "unsupported keys"),
        ({"dilations": []}, "dilations"),
        ({"condition_size": 2}, "condition_size"),
        ({"slimmable": {"method": "other"}}, "slimmable"),
    ],
)
def test_rejects_configs_it_cannot_run(change, message):
    layers = small_layers()
    layers[0].update(change)
    with pytest.raises(ValueError, match=message):
        WaveNet(layers)


def test_knob_inputs_feed_the_first_array_and_every_mixer():
    layers = small_layers()
    layers[0]["input_size"] = 2
    for cfg in layers:
        cfg["condition_size"] = 2
    model = WaveNet(layers, input_size=2).eval()
    x = torch.rand(1, 80, 2)
    y, _ = model(x)
    x2 = x.clone()
    x2[..., 1] += 0.3
    assert (model(x2)[0] - y).abs().max() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():
    model = random_model(small_layers(gated=True)).cuda()
    model.set_width(2)
    x = torch.rand(1, 64, 1)
    y_gpu = model(x.cuda())[0].cpu()
    y_cpu = model.cpu()(x)[0]
    torch.testing.assert_close(y_gpu, y_cpu, atol=1e-5, rtol=1e-4)
