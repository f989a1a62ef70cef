"""Streaming WaveNet kernel against the torch model: blocks, resets, width changes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanamp.errors import LeanampError
from leanamp.formats import load_any
from leanamp.models.nam_wavenet import NamWaveNet
from leanamp.models.wavenet import WaveNet, preset
from leanamp.runtime.base import StreamingProcessor
from leanamp.runtime.kernels import make_processor
from leanamp.runtime.wavenet import StreamingWaveNet

RATE = 48_000


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def random_model(layers, seed=0, scale=0.3, input_size=1) -> WaveNet:
    torch.manual_seed(seed)
    model = WaveNet(layers, input_size=input_size)
    model.load_nam_weights(torch.randn(model.num_nam_weights()) * scale)
    # head_scale 1 (not NAM's 0.02) so outputs are of order 0.1..1 and an absolute tolerance of
    # 1e-4 is a strict one.
    model.head_scale.fill_(1.0)
    return model.eval()


def guitar_like(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.4 * np.sin(2 * np.pi * 196 * t) * np.exp(-3 * (t % 0.5))
    return (tone + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def torch_output(model: WaveNet, x: np.ndarray, width=None) -> np.ndarray:
    saved = model.width
    model.set_width(width)
    with torch.no_grad():
        xt = torch.from_numpy(x).reshape(1, len(x), -1)
        y = model(xt)[0][0].numpy()
    model.set_width(saved)
    return y


def stream(processor, x: np.ndarray, sizes) -> np.ndarray:
    out, i = [], 0
    for n in sizes:
        out.append(processor.process(x[i : i + n]))
        i += n
    return np.concatenate(out)


def random_sizes(total: int, rng, high: int = 1500) -> list[int]:
    sizes = []
    while sum(sizes) < total:
        sizes.append(int(min(rng.integers(0, high), total - sum(sizes))))
    return sizes


def gated_layers() -> list[dict]:
    common = {"condition_size": 1, "kernel_size": 3, "gated": True}
    return [
        {"input_size": 1, "head_size": 3, "channels": 6, "dilations": [1, 2, 4, 8, 16, 32, 64],
         "activation": "Tanh", "head_bias": False, **common},
        {"input_size": 6, "head_size": 1, "channels": 3, "dilations": [128, 1, 256, 4],
         "activation": "LeakyReLU", "head_bias": True, **common},
    ]  # fmt: skip


@pytest.mark.parametrize("layers", [preset("nano"), gated_layers()], ids=["nano", "gated"])
def test_one_second_in_random_blocks_equals_torch(layers):
    model = random_model(layers)
    x = guitar_like(1.0)
    expected = torch_output(model, x)
    processor = StreamingWaveNet(model)
    assert isinstance(processor, StreamingProcessor)
    got = stream(processor, x, random_sizes(len(x), np.random.default_rng(1)))
    assert np.abs(got - expected).max() < 1e-4
    assert np.ptp(expected) > 0.05  # the comparison is not between two silences


def test_reset_returns_to_silence_before_time_zero():
    model = random_model(preset("nano"), seed=1)
    x = guitar_like(0.2, seed=1)
    processor = make_processor(model)
    first = processor.process(x)
    processor.process(guitar_like(0.1, seed=2))
    processor.reset()
    np.testing.assert_array_equal(processor.process(x), first)


def test_width_changes_between_blocks_are_exact_with_history_recompute():
    model = random_model(preset("nano"), seed=2)
    x = guitar_like(1.0, seed=3)
    references = {c: torch_output(model, x, c) for c in (1, 2, 3, 4)}
    processor = StreamingWaveNet(model)
    rng = np.random.default_rng(4)
    widths_used, i = set(), 0
    for n in random_sizes(len(x), rng, high=6000):
        width = int(rng.integers(1, 5))
        processor.set_width(width)
        widths_used.add(width)
        got = processor.process(x[i : i + n])
        assert np.abs(got - references[width][i : i + n]).max() < 1e-4, (width, i)
        i += n
    assert widths_used == {1, 2, 3, 4}


def test_width_change_without_recompute_has_a_transient_of_one_receptive_field():
    model = random_model(preset("nano"), seed=3)
    rf = model.receptive_field
    x = guitar_like(0.5, seed=5)
    switch = 6000
    reference = torch_output(model, x, 2)
    processor = StreamingWaveNet(model)
    processor.process(x[:switch])
    processor.set_width(2, recompute_history=False)
    got = processor.process(x[switch:])
    error = np.abs(got - reference[switch:])
    assert error[: rf - 1].max() > 1e-3  # the stale history is audible...
    assert error[rf - 1 :].max() < 1e-4  # ...until it has left every ring buffer


def test_fast_activations_stay_close():
    model = random_model(preset("nano"), seed=4)
    x = guitar_like(0.3, seed=6)
    fast = StreamingWaveNet(model, exact=False).process(x)
    assert np.abs(fast - torch_output(model, x)).max() < 1e-4


def test_knob_input_streams():
    layers = preset("nano")
    layers[0]["input_size"] = 2
    for cfg in layers:
        cfg["condition_size"] = 2
    model = random_model(layers, seed=5, input_size=2)
    audio = guitar_like(0.25, seed=7)
    x = np.stack([audio, np.full_like(audio, 0.7)], axis=1)
    processor = StreamingWaveNet(model)
    got = stream(processor, x, random_sizes(len(x), np.random.default_rng(8)))
    assert np.abs(got - torch_output(model, x)).max() < 1e-4
    with pytest.raises(LeanampError, match="mono block"):
        processor.process(audio[:10])


def test_starts_at_the_width_the_model_is_set_to_and_rejects_bad_widths():
    model = random_model(preset("nano"), seed=6)
    model.set_width(2)
    processor = StreamingWaveNet(model)
    assert processor.widths == (2, 1)
    x = guitar_like(0.1, seed=9)
    assert np.abs(processor.process(x) - torch_output(model, x, 2)).max() < 1e-4
    with pytest.raises(LeanampError, match="width"):
        processor.set_width(5)


def test_reference_standard_model_streams_like_torch(reference_models):
    data = json.loads((reference_models / "nam" / "wavenet_a1_standard.nam").read_text())
    model = WaveNet(data["config"]["layers"], head_scale=data["config"]["head_scale"])
    model.load_nam_weights(torch.tensor(data["weights"]))
    model.eval()
    x = guitar_like(1.0, seed=10)
    processor = StreamingWaveNet(model)
    got = stream(processor, x, [256] * (len(x) // 256) + [len(x) % 256])
    assert np.abs(got - torch_output(model, x)).max() < 1e-4
    processor.set_width(5)
    processor.reset()
    assert np.abs(processor.process(x) - torch_output(model, x, 5)).max() < 1e-4


@pytest.mark.parametrize("kernel_size", [1, 2, 4])
def test_other_kernel_sizes_stream_like_torch(kernel_size):
    common = {"condition_size": 1, "kernel_size": kernel_size, "gated": False}
    layers = [
        {"input_size": 1, "head_size": 2, "channels": 3, "dilations": [1, 3, 9],
         "activation": "Softsign", "head_bias": True, **common},
        {"input_size": 3, "head_size": 1, "channels": 2, "dilations": [27, 2],
         "activation": "SiLU", "head_bias": False, **common},
    ]  # fmt: skip
    model = random_model(layers, seed=7)
    x = guitar_like(0.1, seed=11)
    processor = StreamingWaveNet(model)
    got = stream(processor, x, random_sizes(len(x), np.random.default_rng(12), high=300))
    assert np.abs(got - torch_output(model, x)).max() < 1e-4


def test_multiply_adds_per_sample_count_every_weight_once():
    model = WaveNet(gated_layers())
    processor = StreamingWaveNet(model)
    for width in (6, 3, 1):
        processor.set_width(width, recompute_history=False)
        small = model.sliced(width)
        expected = sum(p.numel() for n, p in small.named_parameters() if n.endswith("weight"))
        assert processor.macs_per_sample == expected


def nam07_layers() -> list[dict]:
    """NAM 0.7 features the legacy WaveNet lacks: per-layer kernel sizes and activations (with
    parameters), a bottleneck, a gated layer with its own gate activation, a multi-tap head."""
    leaky = {"type": "LeakyReLU", "negative_slope": 0.2}
    clip = {"type": "Hardtanh", "min_val": -0.5, "max_val": 0.7}
    return [
        {"input_size": 1, "condition_size": 1, "channels": 6, "bottleneck": 4,
         "kernel_sizes": [3, 6, 1, 15], "dilations": [1, 7, 1, 41],
         "activation": [leaky, "Tanh", clip, "SiLU"],
         "gating_mode": ["none", "gated", "none", "none"],
         "secondary_activation": [None, "Sigmoid", None, None],
         "head": {"out_channels": 3, "kernel_size": 16, "bias": True}},
        {"input_size": 6, "condition_size": 1, "channels": 5, "bottleneck": 3,
         "kernel_sizes": [2, 4], "dilations": [300, 3], "activation": "ReLU",
         "head": {"out_channels": 1, "kernel_size": 3, "bias": False}},
    ]  # fmt: skip


def plain_output(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x).reshape(1, len(x), -1))[0][0].numpy()


def test_nam07_wavenet_streams_like_torch_in_both_modes():
    torch.manual_seed(11)
    model = NamWaveNet(nam07_layers(), head_scale=1.0).eval()
    model.load_nam_weights(torch.randn(model.num_nam_weights()) * 0.3)
    model.head_scale.fill_(1.0)
    x = guitar_like(0.5, seed=13)
    expected = plain_output(model, x)
    assert np.ptp(expected) > 0.05
    sizes = random_sizes(len(x), np.random.default_rng(14), high=900)  # crosses chunk borders
    for exact in (True, False):
        processor = make_processor(model, exact=exact)
        assert isinstance(processor, StreamingWaveNet)
        assert np.abs(stream(processor, x, sizes) - expected).max() < 1e-4
    processor.reset()
    assert np.abs(processor.process(x) - expected).max() < 1e-4  # one long block, chunked inside
    processor.set_width(None)  # a NamWaveNet has one width
    with pytest.raises(LeanampError, match="fixed width"):
        processor.set_width(2)


def test_reference_a2_model_streams_like_torch(reference_models):
    model, _ = load_any(reference_models / "nam" / "A2.nam")
    assert model.architecture == "nam_wavenet"
    x = guitar_like(1.0, seed=15)
    expected = plain_output(model, x)
    blocks = [256] * (len(x) // 256) + [len(x) % 256]
    for exact in (True, False):
        got = stream(make_processor(model, exact=exact), x, blocks)
        assert np.abs(got - expected).max() < 1e-4


def test_nam_wavenet_features_beyond_the_kernel_are_refused_by_name():
    """FiLM and a condition DSP run in torch (leanamp process) and NAM Core, not in this kernel:
    building a processor says which features stop it (bench prints that as an error line)."""
    layers = nam07_layers()
    layers = [dict(a, condition_size=3) for a in layers]
    layers[0]["conv_post_film"] = {"active": True, "shift": True, "groups": 1}
    model = NamWaveNet(layers, condition_dsp={"layers": nam07_layers()[:1], "head_scale": 1.0})
    assert model.condition_dsp.output_channels == 3
    with pytest.raises(LeanampError, match="uses FiLM, a condition DSP, which"):
        make_processor(model)
