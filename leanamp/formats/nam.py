# long: the whole .nam format (LSTM, WaveNet 0.5 and 0.7, SlimmableContainer) in one place
"""NAM .nam files (Neural Amp Modeler plugin and core): LSTM, WaveNet and SlimmableContainer.

Written as the current plugin engine (NeuralAmpModelerCore 0.7) and the current `nam` package
(0.13) both load them: LSTMs as version 0.5.4, WaveNets (and every SlimmableContainer submodel)
in NAM 0.7's layer-array layout as version 0.7.0 (a "head" object {out_channels, kernel_size 1,
bias}, per-layer "activation", "gating_mode" and "secondary_activation" lists). `legacy=True`
writes WaveNets in the 0.5.4 layout ("head_size", "head_bias", "gated") for plugin releases older
than NAM Core 0.7 and `nam` up to 0.12, which cannot read the 0.7 layout. Reads 0.5.x to 0.7.x.
Facts used (checked against the `nam` package's loaders and NAM Core, tests/formats and
tests/engines):

- LSTM: per layer the matrix [W_ih | W_hh] (4H x (in + H), row-major, gates i, f, g, o), the bias
  b_ih + b_hh (4H), the initial hidden state (H) and cell state (H); then the head weight (H) and
  bias. No residual path: y = head(h). NAM starts every run from the stored initial state (its
  trainer writes the state reached from zeros after 48,000 samples of silence). The state is the
  model's own (LSTMModel.initial_hidden / initial_cell): read into it, written from it, so the
  file plays from sample 0 exactly as the model runs in leanamp.
- WaveNet: `leanamp.models.wavenet.WaveNet` holds NAM's layer arrays and gives/takes the flat
  weight vector in .nam order (`nam_weights`, `load_nam_weights`); the last weight is head_scale
  (NAM's core reads it from there, whatever the config says). 0.7 layer arrays that only use
  legacy features become a WaveNet; others (NAM's A2: per-layer kernel sizes, a 16-tap head...)
  become a `NamWaveNet` (leanamp.models.nam_wavenet), written back as version 0.7.0.
- SlimmableContainer (0.7.0): config.submodels = [{max_value, model: <a full .nam>}]; the plugin's
  Slim knob picks the first submodel whose max_value is >= the knob.

Loudness in the metadata follows NAM's definition (RMS of the output in dB on a standard
signal), measured on leanamp's own standard signal (`loudness_signal`: 1 s of pink noise at
-15 dBFS RMS, statistically like NAM's 1 s DI excerpt). "gain" is NAM's formula on it.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leanamp.errors import ModelFileError
from leanamp.files import atomic_path
from leanamp.formats.common import (
    MAX_HIDDEN_SIZE,
    MAX_LSTM_LAYERS,
    as_float_list,
    check_finite_output,
    check_int,
    esr,
    float_array,
    lstm_arrays,
    probe_signal,
    read_json_file,
    require,
    verify_export,
)
from leanamp.inference import run_model
from leanamp.models.lstm import LSTMModel, start_state_arrays
from leanamp.models.nam_wavenet import (
    FILM_KEYS,
    MAX_CHANNELS,
    MAX_DILATION,
    MAX_KERNEL,
    MAX_LAYERS,
    NamWaveNet,
    head_rechannel,
    is_finite_number,
    normalized_array,
    weight_count,
)
from leanamp.models.wavenet import WaveNet

WHAT = "NAM .nam model file"
WRITE_VERSION = "0.5.4"  # LSTMs, and WaveNets with legacy=True
SLIMMABLE_VERSION = "0.7.0"
NAM07_VERSION = "0.7.0"
READ_VERSIONS = ((0, 5), (0, 7))  # inclusive (major, minor) range
DEFAULT_SAMPLE_RATE = 48000
# Generous bounds far beyond real models, so a hostile config is refused before allocating
# (per-array limits are shared with NamWaveNet).
MAX_LAYERS_PER_ARRAY = MAX_LAYERS
MAX_LAYER_ARRAYS = 16
MAX_SUBMODELS = 64
GEAR_TYPES = ("amp", "pedal", "pedal_amp", "amp_cab", "amp_pedal_cab", "preamp", "studio")
TONE_TYPES = ("clean", "overdrive", "crunch", "hi_gain", "fuzz")
_TEXT_KEYS = ("name", "modeled_by", "gear_make", "gear_model")
_LEVEL_KEYS = ("input_level_dbu", "output_level_dbu")
# Layer-array keys only NAM 0.6+ files have (a layer with one of them never is a legacy layer).
_NAM07_ONLY_KEYS = {
    "head", "kernel_sizes", "bottleneck", "gating_mode", "secondary_activation", "head1x1",
    "layer1x1", "groups_input", "groups_input_mixin", *FILM_KEYS,
}
# 0.7 files spell out activation parameters; these equal the by-name activations' defaults.
_DEFAULT_ACTIVATION_PARAMS = {"LeakyReLU": {"negative_slope": 0.01}}


# ---------------------------------------------------------------------------------- reading


def load_nam(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Read a .nam file; returns (model in eval mode, metadata).

    A SlimmableContainer gives its largest submodel (use `load_nam_slimmable` for all of them).
    An LSTM file's initial state becomes the model's initial state.
    """
    path = Path(path)
    data = read_json_file(path, WHAT)
    return nam_from_dict(data, path)


def load_nam_slimmable(path: str | os.PathLike) -> list[tuple[float, nn.Module, dict]]:
    """All submodels of a .nam SlimmableContainer as (max_value, model, metadata), ascending.

    A plain .nam gives one entry with max_value 1.0.
    """
    path = Path(path)
    data = read_json_file(path, WHAT)
    if data.get("architecture") != "SlimmableContainer":
        model, metadata = nam_from_dict(data, path)
        return [(1.0, model, metadata)]
    _check_version(data, path)
    return _slimmable_submodels(data, path)


def is_nam(data: dict) -> bool:
    return "architecture" in data and ("version" in data or "weights" in data)


def nam_from_dict(data: dict, path: Path, where: str = "the file") -> tuple[nn.Module, dict]:
    version = _check_version(data, path, where)
    architecture = require(data, "architecture", path, where)
    config = require(data, "config", path, where)
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: config in {where} must be a JSON object")
    if architecture == "SlimmableContainer":
        if where != "the file":
            raise ModelFileError(f"{path}: a SlimmableContainer may not contain another one")
        submodels = _slimmable_submodels(data, path)
        _, model, metadata = submodels[-1]
        metadata["nam_submodel_max_values"] = [s[0] for s in submodels]
        metadata["nam_architecture"] = "SlimmableContainer"
        metadata["nam_version"] = version
        return model, metadata
    weights = require(data, "weights", path, where)
    if not isinstance(weights, list):
        raise ModelFileError(f"{path}: weights in {where} must be a list of numbers")
    if architecture == "LSTM":
        model = _lstm_from_nam(config, weights, path, where)
    elif architecture == "WaveNet":
        model = _wavenet_from_nam(config, weights, path, where)
    else:
        raise ModelFileError(
            f"{path}: NAM architecture {architecture!r} is not supported by leanamp "
            "(it reads LSTM, WaveNet and SlimmableContainer)"
        )
    metadata = _metadata_from_nam(data, path)
    metadata["nam_version"] = version
    metadata["nam_architecture"] = architecture
    check_finite_output(model, path, metadata["sample_rate"])
    return model, metadata


def _check_version(data: dict, path: Path, where: str = "the file") -> str:
    version = require(data, "version", path, where)
    parts = version.split(".") if isinstance(version, str) else []
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise ModelFileError(
            f"{path}: version {version!r} is not a NAM version like 0.5.4"
        ) from None
    if not READ_VERSIONS[0] <= (major, minor) <= READ_VERSIONS[1]:
        raise ModelFileError(
            f"{path}: .nam version {version} is not supported; leanamp reads versions 0.5.x to "
            "0.7.x. Re-export the model from NAM as 0.5 if you can"
        )
    return version


def _slimmable_submodels(data: dict, path: Path) -> list[tuple[float, nn.Module, dict]]:
    config = require(data, "config", path, "the file")
    submodels = require(config, "submodels", path, "config")
    if not isinstance(submodels, list) or not submodels:
        raise ModelFileError(f"{path}: config.submodels must be a non-empty list")
    if len(submodels) > MAX_SUBMODELS:
        raise ModelFileError(f"{path}: {len(submodels)} submodels is more than leanamp supports")
    result = []
    for k, entry in enumerate(submodels):
        where = f"config.submodels[{k}]"
        max_value = require(entry, "max_value", path, where)
        if not (is_finite_number(max_value) and 0.0 < max_value <= 1.0):
            raise ModelFileError(f"{path}: {where}.max_value must be a number in (0, 1]")
        inner = require(entry, "model", path, where)
        if not isinstance(inner, dict):
            raise ModelFileError(f"{path}: {where}.model must be a .nam JSON object")
        model, metadata = nam_from_dict(inner, path, where=f"{where}.model")
        if "sample_rate" not in inner and "sample_rate" in data:
            metadata["sample_rate"] = _sample_rate(data, path)
        result.append((float(max_value), model, metadata))
    values = [r[0] for r in result]
    if values != sorted(values) or len(set(values)) != len(values):
        raise ModelFileError(f"{path}: submodel max_values must increase: {values}")
    return result


def _sample_rate(data: dict, path: Path) -> float:
    rate = data.get("sample_rate", DEFAULT_SAMPLE_RATE)
    if rate is None:
        return DEFAULT_SAMPLE_RATE
    if not (is_finite_number(rate) and 8000 <= rate <= 384000):
        raise ModelFileError(f"{path}: sample_rate {rate!r} is not a usable sample rate")
    return int(rate) if float(rate).is_integer() else float(rate)


def _metadata_from_nam(data: dict, path: Path) -> dict:
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    out: dict = {"format": "nam", "source_file": path.name, "sample_rate": _sample_rate(data, path)}
    for key in (*_TEXT_KEYS, "gear_type", "tone_type"):
        if isinstance(meta.get(key), str):
            out[key] = meta[key]
    for key in (*_LEVEL_KEYS, "loudness", "gain"):
        value = meta.get(key)
        if is_finite_number(value):
            out[key] = float(value)
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    value = training.get("validation_esr")
    if is_finite_number(value):
        out["training_esr"] = float(value)
    out["nam_metadata"] = meta
    return out


def _lstm_from_nam(config: dict, weights: list, path: Path, where: str) -> LSTMModel:
    input_size = check_int(config.get("input_size", 1), "config.input_size", path, 1, 16)
    hidden = check_int(
        require(config, "hidden_size", path, f"{where} config"), "config.hidden_size", path, 1,
        MAX_HIDDEN_SIZE,
    )
    layers = check_int(config.get("num_layers", 1), "config.num_layers", path, 1, MAX_LSTM_LAYERS)
    expected = sum(
        4 * hidden * ((input_size if k == 0 else hidden) + hidden) + 4 * hidden + 2 * hidden
        for k in range(layers)
    ) + hidden + 1
    if len(weights) != expected:
        raise ModelFileError(
            f"{path}: {where} has {len(weights)} weights, but an LSTM with input_size "
            f"{input_size}, hidden_size {hidden}, num_layers {layers} has {expected}"
        )
    flat = float_array(weights, (expected,), f"weights of {where}", path)
    model = LSTMModel(hidden_size=hidden, input_size=input_size, residual=False, num_layers=layers)
    hidden_state, cell_state = [], []
    i = 0

    def take(n: int) -> np.ndarray:
        nonlocal i
        i += n
        return flat[i - n : i]

    with torch.no_grad():
        for k in range(layers):
            in_k = input_size if k == 0 else hidden
            matrix = take(4 * hidden * (in_k + hidden)).reshape(4 * hidden, in_k + hidden)
            getattr(model.lstm, f"weight_ih_l{k}").copy_(torch.from_numpy(matrix[:, :in_k]))
            getattr(model.lstm, f"weight_hh_l{k}").copy_(torch.from_numpy(matrix[:, in_k:]))
            getattr(model.lstm, f"bias_ih_l{k}").copy_(torch.from_numpy(take(4 * hidden)))
            getattr(model.lstm, f"bias_hh_l{k}").zero_()
            hidden_state.append(take(hidden))
            cell_state.append(take(hidden))
        model.head.weight.copy_(torch.from_numpy(take(hidden)).reshape(1, hidden))
        model.head.bias.copy_(torch.from_numpy(take(1)))
    model.set_start_state(np.stack(hidden_state), np.stack(cell_state))
    return model.eval()


def _legacy_layer_config(layer: dict, k: int, path: Path) -> dict | None:
    """A layer-array config in the legacy (0.5) keys; 0.7 configs are converted when they use
    only what the legacy architecture has, else None (they need NamWaveNet)."""
    where = f"config.layers[{k}]"
    if not isinstance(layer, dict):
        raise ModelFileError(f"{path}: {where} must be a JSON object")
    if layer.get("head") is None and "head_size" in layer and not set(layer) & _NAM07_ONLY_KEYS:
        legacy = dict(layer)
    else:
        try:  # 0.6 files (NAM Core's examples) give head_size / head_bias beside 0.7 features
            head = head_rechannel(layer, where)
        except ValueError as e:
            raise ModelFileError(f"{path}: {e}") from None
        unsupported = []
        if head["kernel_size"] != 1:
            unsupported.append("a head rechannel with kernel_size > 1")
        kernel_sizes = layer.get("kernel_sizes", layer.get("kernel_size"))
        if isinstance(kernel_sizes, list):
            if len(set(map(str, kernel_sizes))) > 1:
                unsupported.append("different kernel sizes per layer")
            kernel_sizes = kernel_sizes[0] if kernel_sizes else None
        activation = layer.get("activation")
        if isinstance(activation, list):
            if len({json.dumps(a, sort_keys=True) for a in activation}) > 1:
                unsupported.append("different activations per layer")
            activation = activation[0] if activation else None
        if isinstance(activation, dict):
            params = {k: v for k, v in activation.items() if k != "type"}
            if params and params != _DEFAULT_ACTIVATION_PARAMS.get(activation.get("type")):
                unsupported.append(f"parameterised activation {activation}")
            activation = activation.get("type")
        gating = layer.get("gating_mode", "gated" if layer.get("gated") is True else "none")
        # str(): a hostile file may put lists or objects here; they are refused below, not hashed.
        gating = set(map(str, gating)) if isinstance(gating, list) else {str(gating)}
        if not gating <= {"none", "gated"} or len(gating) > 1:
            unsupported.append(f"gating modes {sorted(map(str, gating))}")
        if layer.get("bottleneck", layer.get("channels")) != layer.get("channels"):
            unsupported.append("a bottleneck")
        if isinstance(layer.get("head1x1"), dict) and layer["head1x1"].get("active"):
            unsupported.append("head1x1")
        if isinstance(layer.get("layer1x1"), dict) and (
            not layer["layer1x1"].get("active", True) or layer["layer1x1"].get("groups", 1) != 1
        ):
            unsupported.append("layers without 1x1 or with a grouped one")
        for key, value in layer.items():
            if key.endswith("film") and isinstance(value, dict) and value.get("active"):
                unsupported.append(f"FiLM ({key})")
            if key in ("groups_input", "groups_input_mixin") and value != 1:
                unsupported.append(f"{key} = {value}")
        if unsupported:
            return None
        legacy = {
            "input_size": layer.get("input_size"),
            "condition_size": layer.get("condition_size"),
            "head_size": head["out_channels"],
            "channels": layer.get("channels"),
            "kernel_size": kernel_sizes,
            "dilations": layer.get("dilations"),
            "activation": activation,
            "gated": gating == {"gated"},
            "head_bias": head["bias"],
        }
        if layer.get("slimmable") is not None:
            legacy["slimmable"] = layer["slimmable"]
    for key in ("input_size", "condition_size", "head_size", "channels"):
        check_int(require(legacy, key, path, where), f"{where}.{key}", path, 1, MAX_CHANNELS)
    check_int(require(legacy, "kernel_size", path, where), f"{where}.kernel_size", path, 1,
              MAX_KERNEL)
    dilations = require(legacy, "dilations", path, where)
    if not isinstance(dilations, list) or not 1 <= len(dilations) <= MAX_LAYERS_PER_ARRAY:
        raise ModelFileError(f"{path}: {where}.dilations must be a list of 1 to "
                             f"{MAX_LAYERS_PER_ARRAY} integers")
    for d in dilations:
        check_int(d, f"{where}.dilations entry", path, 1, MAX_DILATION)
    for key in ("gated", "head_bias"):
        if not isinstance(legacy.get(key), bool):
            raise ModelFileError(f"{path}: {where}.{key} must be true or false")
    if not isinstance(legacy.get("activation"), str):
        raise ModelFileError(f"{path}: {where}.activation must name an activation, e.g. 'Tanh'")
    return legacy


def legacy_weight_count(layers: list[dict]) -> int:
    """Number of weights NAM's legacy WaveNet with these layer arrays stores (with head_scale)."""
    total = 0
    for layer in layers:
        c, k = layer["channels"], layer["kernel_size"]
        c_out = 2 * c if layer["gated"] else c
        total += c * layer["input_size"]
        per_layer = c_out * c * k + c_out + c_out * layer["condition_size"] + c * c + c
        total += per_layer * len(layer["dilations"])
        total += layer["head_size"] * c + (layer["head_size"] if layer["head_bias"] else 0)
    return total + 1


def _wavenet_weights(weights: list, expected: int, path: Path, where: str) -> np.ndarray:
    """The flat weight list of a WaveNet as float64, refused unless its config needs exactly
    `expected` weights."""
    if len(weights) != expected:
        raise ModelFileError(
            f"{path}: {where} has {len(weights)} weights, but its WaveNet config needs {expected}"
        )
    return float_array(weights, (expected,), f"weights of {where}", path)


def _wavenet_parts(config: dict, path: Path, where: str) -> tuple[list, float]:
    """A WaveNet config's layer arrays and head_scale, checked; a post-head is refused."""
    if config.get("head") is not None:
        raise ModelFileError(
            f"{path}: {where}: a WaveNet with a post-head ('head' not null) is not supported by "
            "leanamp"
        )
    layers = require(config, "layers", path, f"{where} config")
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYER_ARRAYS:
        raise ModelFileError(
            f"{path}: {where} config.layers must list 1 to {MAX_LAYER_ARRAYS} arrays"
        )
    head_scale = require(config, "head_scale", path, f"{where} config")
    if not is_finite_number(head_scale):
        raise ModelFileError(f"{path}: {where} head_scale must be a finite number")
    return layers, float(head_scale)


def _wavenet_from_nam(config: dict, weights: list, path: Path, where: str) -> nn.Module:
    layers, head_scale = _wavenet_parts(config, path, where)
    if config.get("condition_dsp") is not None:
        condition = _condition_dsp(config["condition_dsp"], path, where)
        return _nam07_wavenet(layers, head_scale, weights, path, where, condition)
    legacy = [_legacy_layer_config(layer, k, path) for k, layer in enumerate(layers)]
    if any(array is None for array in legacy):
        return _nam07_wavenet(layers, head_scale, weights, path, where)
    flat = _wavenet_weights(weights, legacy_weight_count(legacy), path, where)

    try:
        model = WaveNet(layers=legacy, head_scale=head_scale)
        model.load_nam_weights(torch.from_numpy(flat.astype(np.float32)))
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{path}: unusable WaveNet in {where}: {e}") from None
    return model.eval()


def _condition_dsp(data, path: Path, where: str) -> NamWaveNet:
    """A WaveNet's condition DSP (a full .nam object inside its config), as a NamWaveNet with
    any number of output channels."""
    where = f"{where} condition_dsp"
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: {where} must be a .nam JSON object")
    _check_version(data, path, where)
    if data.get("architecture") != "WaveNet":
        raise ModelFileError(
            f"{path}: {where} is a {data.get('architecture')!r}; leanamp reads WaveNet ones"
        )
    config = require(data, "config", path, where)
    if not isinstance(config, dict) or config.get("condition_dsp") is not None:
        raise ModelFileError(f"{path}: {where} must be a WaveNet config without a condition_dsp")
    layers, head_scale = _wavenet_parts(config, path, where)
    weights = require(data, "weights", path, where)
    if not isinstance(weights, list):
        raise ModelFileError(f"{path}: weights in {where} must be a list of numbers")
    return _nam07_wavenet(layers, head_scale, weights, path, where, outputs=None)


def _nam07_wavenet(
    layers: list,
    head_scale: float,
    weights: list,
    path: Path,
    where: str,
    condition: NamWaveNet | None = None,
    outputs: int | None = 1,
) -> NamWaveNet:
    """A WaveNet using NAM 0.6/0.7 features leanamp's WaveNet lacks, as a NamWaveNet (with
    `condition` as its condition DSP; `outputs`: the output channels it must have, None: any)."""
    condition_size = 1 if condition is None else condition.output_channels
    try:
        arrays = [normalized_array(layer, k, condition_size) for k, layer in enumerate(layers)]
    except ValueError as e:
        raise ModelFileError(
            f"{path}: {where} is a NAM WaveNet leanamp cannot import: {e}"
        ) from None
    flat = _wavenet_weights(weights, weight_count(arrays), path, where)
    try:
        model = NamWaveNet(
            layers=arrays, head_scale=head_scale,
            condition_dsp=None if condition is None else condition.config,
        )  # fmt: skip
    except ValueError as e:
        raise ModelFileError(f"{path}: unusable WaveNet in {where}: {e}") from None
    if outputs is not None and model.output_channels != outputs:
        raise ModelFileError(
            f"{path}: {where}: the last layer array's head must have {outputs} output channel"
        )
    model.load_nam_weights(torch.from_numpy(flat.astype(np.float32)))
    if condition is not None:
        model.condition_dsp.load_state_dict(condition.state_dict())
    return model.eval()


# ---------------------------------------------------------------------------------- writing


def loudness_signal(sample_rate: float, seconds: float = 1.0) -> np.ndarray:
    """leanamp's standard loudness signal (time,) float32: 1 s of pink Gaussian noise (equal
    energy per octave above 20 Hz) at -15 dBFS RMS, from a fixed seed.

    NAM measures on a 1 s guitar DI excerpt that is, statistically, just that: stationary,
    Gaussian-like (kurtosis 2.9), equal energy per octave from 31 Hz to 8 kHz, -15 dBFS RMS.
    On NAM's example models this signal gives NAM's loudness within 0.1 dB (0.9 dB on the tiny
    wavenet.nam), where a tonal test signal was off by up to 10 dB.
    """
    n = int(round(float(sample_rate) * seconds))
    rng = np.random.default_rng(20_000)
    freqs = np.fft.rfftfreq(n, 1.0 / float(sample_rate))
    spectrum = rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))
    spectrum[freqs < 20.0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return (x * (10 ** (-15 / 20) / np.sqrt(np.mean(x**2)))).astype(np.float32)


@torch.inference_mode()
def _loudness_db(model: nn.Module, sample_rate: float, gains: np.ndarray) -> np.ndarray:
    """Output RMS in dB for the standard signal at each input gain, run as one batch from the
    model's own initial state."""
    device = next(model.parameters()).device
    x = torch.from_numpy(loudness_signal(sample_rate)).to(device)
    scale = torch.as_tensor(gains, dtype=torch.float32, device=device)
    batch = scale[:, None, None] * x[None, :, None]
    was_training = model.training
    model.eval()
    try:
        y, _ = model(batch)
    finally:
        model.train(was_training)
    rms = torch.sqrt(torch.mean(y.double() ** 2, dim=1)).cpu().numpy()
    return 20 * np.log10(np.maximum(rms, 1e-12))


def measure_loudness(model: nn.Module, sample_rate: float) -> float:
    """NAM's loudness: RMS of the model's output in dB on the standard loudness signal."""
    return float(_loudness_db(model, sample_rate, np.array([1.0]))[0])


def measure_gain(model: nn.Module, sample_rate: float) -> float:
    """NAM's 0..1 "gain" (how compressed the model is): 0 linear, 1 fully saturated.

    Output RMS at input gains 0, 0.1 .. 1: a linear model sums to half of 11 times the RMS at
    full input (a "triangle"), a fully compressing one to all of it (a "square").
    """
    gains = np.linspace(0.0, 1.0, 11)
    rms = 10 ** (_loudness_db(model, sample_rate, gains) / 20)
    max_gain = rms[-1] * len(gains)
    min_gain = 0.5 * max_gain
    return float(np.clip((rms.sum() - min_gain) / max(max_gain - min_gain, 1e-12), 0.0, 1.0))


def _nam_metadata(model: nn.Module, metadata: dict, sample_rate: float, path: Path) -> dict:
    now = datetime.datetime.now()
    out: dict = {
        "date": {
            "year": now.year, "month": now.month, "day": now.day,
            "hour": now.hour, "minute": now.minute, "second": now.second,
        },
        "loudness": measure_loudness(model, sample_rate),
        "gain": measure_gain(model, sample_rate),
    }
    for key in _TEXT_KEYS:
        if metadata.get(key) is not None:
            out[key] = str(metadata[key])
    for key, allowed in (("gear_type", GEAR_TYPES), ("tone_type", TONE_TYPES)):
        value = metadata.get(key)
        if value is not None:
            if value not in allowed:
                raise ModelFileError(
                    f"{path}: {key} {value!r} is not one NAM knows; use one of {list(allowed)}"
                )
            out[key] = value
    for key in _LEVEL_KEYS:
        value = metadata.get(key)
        if value is not None:
            if not is_finite_number(value):
                raise ModelFileError(f"{path}: {key} must be a number (dBu), got {value!r}")
            out[key] = float(value)
    # A leanamp run records its best validation ESR; an imported file may carry a training ESR.
    training_esr = metadata.get("validation_esr", metadata.get("training_esr"))
    out["training"] = {
        "validation_esr": float(training_esr) if is_finite_number(training_esr) else None,
        "leanamp": {"source_format": metadata.get("format", "leanamp")},
    }
    return out


def _lstm_weights(model: LSTMModel) -> list:
    h, c = start_state_arrays(model)
    parts = []
    for k in range(model.num_layers):
        w_ih, w_hh, bias = lstm_arrays(model, k)
        parts += [np.concatenate([w_ih, w_hh], axis=1).ravel(), bias, h[k], c[k]]
    parts += [
        model.head.weight.detach().cpu().double().numpy().ravel(),
        model.head.bias.detach().cpu().double().numpy().ravel(),
    ]
    return as_float_list(np.concatenate(parts))


def _refuse_residual(model: LSTMModel, sample_rate: float, path: Path) -> None:
    x = probe_signal(sample_rate, model.input_size)
    with_residual = run_model(model, x).astype(np.float64)
    measured = esr(with_residual, with_residual - x[:, 0].astype(np.float64))
    raise ModelFileError(
        f"{path}: this LSTM adds its input to its output (residual path, y = W h + b + x), and "
        "NAM's LSTM has no residual path: the .nam would sound different (ESR "
        f"{measured:.3g} between the two on a test signal). Train a NAM-ready model with "
        "`leanamp train --no-residual`, or export this one to AIDA-X "
        "(.json/.aidax) or Proteus/NeuralPi, which keep the residual"
    )


def layout_0_7(layer: dict) -> dict:
    """A legacy (0.5) layer-array config in NAM 0.7's keys: same weights, same meaning."""
    n = len(layer["dilations"])
    gated = layer["gated"]
    return {
        "input_size": layer["input_size"],
        "condition_size": layer["condition_size"],
        "head": {"out_channels": layer["head_size"], "kernel_size": 1, "bias": layer["head_bias"]},
        "channels": layer["channels"],
        "kernel_size": layer["kernel_size"],
        "dilations": layer["dilations"],
        "activation": [layer["activation"]] * n,
        "gating_mode": ["gated" if gated else "none"] * n,
        "secondary_activation": ["Sigmoid" if gated else None] * n,
    }


def _nam07_config(model: NamWaveNet, sample_rate: float) -> dict:
    """A NamWaveNet's .nam config, its condition DSP inside as a full .nam object."""
    config = {"layers": model.layer_configs, "head": None, "head_scale": float(model.head_scale)}
    if model.condition_dsp is not None:
        config["condition_dsp"] = {
            "version": NAM07_VERSION,
            "architecture": "WaveNet",
            "config": _nam07_config(model.condition_dsp, sample_rate),
            "weights": as_float_list(model.condition_dsp.nam_weights()),
            "sample_rate": sample_rate,
        }
    return config


def nam_dict(
    model: nn.Module,
    metadata: dict | None = None,
    path: Path | None = None,
    legacy: bool = False,
) -> dict:
    """The .nam JSON object for an LSTM (0.5.4) or WaveNet model (0.7.0 layout; with `legacy`,
    0.5.4 layout for old plugins)."""
    metadata = dict(metadata or {})
    path = Path(path or "model.nam")
    sample_rate = metadata.get("sample_rate") or DEFAULT_SAMPLE_RATE
    input_size = getattr(model, "input_size", 1)
    if input_size != 1:
        raise ModelFileError(
            f"{path}: NAM plays mono audio without knob inputs; this model has input_size "
            f"{input_size} (knob-conditioned). Export it to AIDA-X or Proteus/NeuralPi instead"
        )
    version = WRITE_VERSION
    if isinstance(model, LSTMModel):
        if model.residual:
            _refuse_residual(model, sample_rate, path)
        architecture = "LSTM"
        config = {
            "input_size": 1, "hidden_size": model.hidden_size, "num_layers": model.num_layers
        }
        weights = _lstm_weights(model)
    elif isinstance(model, NamWaveNet):
        # Only NAM cores from 0.7 run these features, so the file says 0.7.0.
        version = NAM07_VERSION
        architecture = "WaveNet"
        config = _nam07_config(model, sample_rate)
        weights = as_float_list(model.nam_weights())
    elif getattr(model, "architecture", None) == "wavenet":
        architecture = "WaveNet"
        layers = [
            {k: v for k, v in layer.items() if k != "slimmable"}
            for layer in model.config["layers"]
        ]
        if not legacy:
            version = NAM07_VERSION
            layers = [layout_0_7(layer) for layer in layers]
        config = {"layers": layers, "head": None, "head_scale": float(model.config["head_scale"])}
        weights = as_float_list(model.nam_weights())
    else:
        raise ModelFileError(
            f"{path}: NAM files hold LSTM or WaveNet models, not "
            f"{getattr(model, 'architecture', type(model).__name__)}"
        )
    return {
        "version": version,
        "metadata": _nam_metadata(model, metadata, sample_rate, path),
        "architecture": architecture,
        "config": config,
        "weights": weights,
        "sample_rate": sample_rate,
    }


def export_nam(
    model: nn.Module,
    path: str | os.PathLike,
    metadata: dict | None = None,
    legacy: bool = False,
) -> Path:
    """Write `model` (LSTM without residual, or WaveNet) as a .nam: LSTMs as version 0.5.4,
    WaveNets in the 0.7.0 layout (NAM Core 0.7, `nam` 0.13), or with `legacy` in the 0.5.4
    layout every plugin release and `nam` 0.12 read.

    metadata: leanamp metadata (sample_rate, name, modeled_by, gear_type, gear_make, gear_model,
    tone_type, input_level_dbu, output_level_dbu, training_esr); loudness and gain are measured.
    An LSTM's initial state is the model's own (zeros for a model trained in leanamp, NAM's for
    an imported one), so the file plays as the model runs from sample 0.
    The file is loaded back and must reproduce the model within 1e-5, else nothing is written.
    """
    path = Path(path)
    data = nam_dict(model, metadata, path, legacy)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data))
        reloaded, _ = load_nam(tmp)
        x = probe_signal(data["sample_rate"], 1)
        verify_export(path, lambda s: run_model(model, s), lambda s: run_model(reloaded, s), x)
    return path


def export_nam_slimmable(
    submodels: list[tuple[float, nn.Module]],
    path: str | os.PathLike,
    metadata: dict | None = None,
) -> Path:
    """Write a NAM SlimmableContainer (version 0.7.0): `submodels` as (max_value, model) with
    increasing max_value in (0, 1], the last 1.0. Each submodel is a full .nam inside (WaveNets
    in the 0.7 layout, as `nam` 0.13 writes them). Only NAM cores from 0.7.0 on load containers
    (the Slim knob picks the submodel)."""
    path = Path(path)
    values = [float(v) for v, _ in submodels]
    if not submodels or values != sorted(set(values)) or values[-1] != 1.0 or values[0] <= 0:
        raise ModelFileError(
            f"{path}: submodel max_values must increase within (0, 1] and end at 1.0: {values}"
        )
    inner = [
        {"max_value": value, "model": nam_dict(model, metadata, path)}
        for value, model in submodels
    ]
    largest = inner[-1]["model"]
    data = {
        "version": SLIMMABLE_VERSION,
        "metadata": largest["metadata"],
        "architecture": "SlimmableContainer",
        "config": {"submodels": inner},
        "weights": [],
        "sample_rate": largest["sample_rate"],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data))
        reloaded = load_nam_slimmable(tmp)
        x = probe_signal(data["sample_rate"], 1)
        for (_, model), (_, again, _) in zip(submodels, reloaded, strict=True):
            verify_export(
                path,
                lambda s, m=model: run_model(m, s),
                lambda s, m=again: run_model(m, s),
                x,
            )
    return path
