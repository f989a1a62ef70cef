"""NAM 0.7 WaveNets that leanamp's own WaveNet cannot express (e.g. NAM's "A2" models):
per-layer kernel sizes and activations (LeakyReLU with its slope...), a bottleneck, gated layers
with any gate activation, and a head rechannel with more than one tap.

`NamWaveNet` is a plain torch model (architecture "nam_wavenet"): it renders, trains, writes
back to .nam 0.7.0 and streams through leanamp.runtime.wavenet's kernel; it has no slimming
(leanamp.models.wavenet has it for the legacy layout). Semantics follow the `neural-amp-modeler`
0.13 loader, checked sample for sample in tests/formats/test_nam_package.py:

per layer array (input x, condition c = the model input):
    z = rechannel(x)                                        1x1, no bias
    for each layer (kernel k_l, dilation d_l):
        u = conv(z) + mixer(c)                              conv has bias, mixer none
        a = act(u)          or gated: act(u[:B]) * gate(u[B:2B])         (B = bottleneck)
        z = z + layer1x1(a)                                 B -> channels, with bias
        head_sum += a
    head_out = head_rechannel(head_sum)                     K taps, bias optional
the next array reads z and starts its head sum from head_out; output = head_scale * head_out.
Weights in the file: rechannel; per layer conv (weight, bias), mixer, layer1x1 (weight, bias);
head rechannel (weight, bias); finally head_scale.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from leanamp.models.wavenet import NamLayerArrays

_ACTIVATIONS = {
    "Tanh": lambda p: torch.tanh,
    "ReLU": lambda p: F.relu,
    "Sigmoid": lambda p: torch.sigmoid,
    "SiLU": lambda p: F.silu,
    "Softsign": lambda p: F.softsign,
    "Hardtanh": lambda p: lambda v: F.hardtanh(
        v, p.get("min_val", -1.0), p.get("max_val", 1.0)
    ),
    "LeakyReLU": lambda p: lambda v: F.leaky_relu(v, p.get("negative_slope", 0.01)),
}
_ACTIVATION_PARAMS = {"Hardtanh": {"min_val", "max_val"}, "LeakyReLU": {"negative_slope"}}
# Limits far beyond real models so a hostile config is refused before anything is allocated.
MAX_CHANNELS = 1024
MAX_KERNEL = 64
MAX_DILATION = 1 << 16
MAX_LAYERS = 256


def _activation(spec, where: str):
    """An activation from a .nam 0.7 spec: a name or {"type": name, **params}."""
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("type"), str):
        name, params = spec["type"], {k: v for k, v in spec.items() if k != "type"}
    else:
        raise ValueError(f"{where}: activation {spec!r} is not a name or {{'type': ...}}")
    if name not in _ACTIVATIONS:
        raise ValueError(f"{where}: activation {name!r} is not supported: {sorted(_ACTIVATIONS)}")
    unknown = set(params) - _ACTIVATION_PARAMS.get(name, set())
    bad = [v for v in params.values() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if unknown or bad:
        raise ValueError(f"{where}: unsupported parameters {params} for activation {name}")
    return _ACTIVATIONS[name](params)


def _positive_int(value, name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an integer in 1..{high}, got {value!r}")
    return value


def _per_layer(value, n: int, name: str) -> list:
    if isinstance(value, list):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries for {n} layers")
        return value
    return [value] * n


def normalized_array(cfg: dict, index: int, input_size: int) -> dict:
    """Checked, explicit form of one .nam 0.7 layer-array config (ValueError if unsupported)."""
    where = f"layer array {index}"
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a JSON object")
    unsupported = []
    for key, value in cfg.items():
        if key.endswith("_film") and isinstance(value, dict) and value.get("active"):
            unsupported.append(f"FiLM ({key})")
        if key in ("groups_input", "groups_input_mixin") and value != 1:
            unsupported.append(f"{key} = {value}")
    if isinstance(cfg.get("head1x1"), dict) and cfg["head1x1"].get("active"):
        unsupported.append("head1x1")
    layer1x1 = cfg.get("layer1x1", {"active": True, "groups": 1})
    if not isinstance(layer1x1, dict) or not layer1x1.get("active", True):
        unsupported.append("layers without layer1x1")
    elif layer1x1.get("groups", 1) != 1:
        unsupported.append("grouped layer1x1")
    if cfg.get("packing") is not None:
        unsupported.append("packing")
    if unsupported:
        raise ValueError(f"{where}: unsupported NAM WaveNet features: {'; '.join(unsupported)}")
    dilations = cfg.get("dilations")
    if not isinstance(dilations, list) or not 1 <= len(dilations) <= MAX_LAYERS:
        raise ValueError(f"{where}: dilations must be a list of 1 to {MAX_LAYERS} integers")
    n = len(dilations)
    channels = _positive_int(cfg.get("channels"), f"{where}: channels", MAX_CHANNELS)
    head = cfg.get("head")
    if not isinstance(head, dict):
        raise ValueError(f"{where}: head must be {{out_channels, kernel_size, bias}}")
    kernels = _per_layer(cfg.get("kernel_sizes", cfg.get("kernel_size")), n, f"{where} kernels")
    activations = _per_layer(cfg.get("activation"), n, f"{where} activation")
    gating = _per_layer(cfg.get("gating_mode", "none"), n, f"{where} gating_mode")
    secondary = _per_layer(cfg.get("secondary_activation"), n, f"{where} secondary_activation")
    out = {
        "input_size": _positive_int(cfg.get("input_size"), f"{where}: input_size", MAX_CHANNELS),
        "condition_size": _positive_int(
            cfg.get("condition_size"), f"{where}: condition_size", MAX_CHANNELS
        ),
        "channels": channels,
        "bottleneck": _positive_int(
            cfg.get("bottleneck", channels), f"{where}: bottleneck", MAX_CHANNELS
        ),
        "kernel_sizes": [_positive_int(k, f"{where}: kernel size", MAX_KERNEL) for k in kernels],
        "dilations": [_positive_int(d, f"{where}: dilation", MAX_DILATION) for d in dilations],
        "activation": copy.deepcopy(activations),
        "gating_mode": list(gating),
        "secondary_activation": copy.deepcopy(secondary),
        "layer1x1": {"active": True, "groups": 1},
        "head1x1": {"active": False, "out_channels": 1, "groups": 1},
        "head": {
            "out_channels": _positive_int(
                head.get("out_channels"), f"{where}: head out_channels", MAX_CHANNELS
            ),
            "kernel_size": _positive_int(
                head.get("kernel_size", 1), f"{where}: head kernel_size", MAX_KERNEL
            ),
            "bias": head.get("bias", True),
        },
    }
    if not isinstance(out["head"]["bias"], bool):
        raise ValueError(f"{where}: head bias must be true or false")
    for k in range(n):
        _activation(activations[k], f"{where} layer {k}")
        if gating[k] == "gated":
            _activation(secondary[k], f"{where} layer {k} gate")
        elif gating[k] != "none":
            raise ValueError(f"{where} layer {k}: gating_mode {gating[k]!r} is not supported")
    if out["condition_size"] != input_size:
        raise ValueError(f"{where}: condition_size must be the model input size {input_size}")
    return out


def weight_count(arrays: list[dict]) -> int:
    """Weights a .nam holds for these normalized layer arrays (head_scale included)."""
    total = 1
    for a in arrays:
        c, b = a["channels"], a["bottleneck"]
        total += c * a["input_size"]
        for k, gating in zip(a["kernel_sizes"], a["gating_mode"], strict=True):
            mid = 2 * b if gating == "gated" else b
            total += mid * c * k + mid + mid * a["condition_size"] + c * b + c
        head = a["head"]
        total += head["out_channels"] * b * head["kernel_size"] + (
            head["out_channels"] if head["bias"] else 0
        )
    return total


class _Layer(nn.Module):
    def __init__(self, a: dict, k: int):
        super().__init__()
        c, b = a["channels"], a["bottleneck"]
        self.gated = a["gating_mode"][k] == "gated"
        self.bottleneck = b
        mid = 2 * b if self.gated else b
        self.dilation = a["dilations"][k]
        self.kernel_size = a["kernel_sizes"][k]
        self.conv = nn.Conv1d(c, mid, self.kernel_size, dilation=self.dilation)
        self.mixer = nn.Conv1d(a["condition_size"], mid, 1, bias=False)
        self.layer1x1 = nn.Conv1d(b, c, 1)
        self.act = _activation(a["activation"][k], "")
        self.gate = _activation(a["secondary_activation"][k], "") if self.gated else None

    def forward(self, z, cond):
        u = self.conv(z)
        u = u + self.mixer(cond[:, :, -u.shape[2] :])
        if self.gated:
            a = self.act(u[:, : self.bottleneck]) * self.gate(u[:, self.bottleneck :])
        else:
            a = self.act(u)
        return z[:, :, -a.shape[2] :] + self.layer1x1(a), a


class _Array(nn.Module):
    def __init__(self, a: dict):
        super().__init__()
        self.rechannel = nn.Conv1d(a["input_size"], a["channels"], 1, bias=False)
        self.layers = nn.ModuleList(_Layer(a, k) for k in range(len(a["dilations"])))
        head = a["head"]
        self.head_rechannel = nn.Conv1d(
            a["bottleneck"], head["out_channels"], head["kernel_size"], bias=head["bias"]
        )
        self.receptive_field = 1 + head["kernel_size"] - 1 + sum(
            (layer.kernel_size - 1) * layer.dilation for layer in self.layers
        )

    def forward(self, x, cond, head):
        z = self.rechannel(x)
        for layer in self.layers:
            z, a = layer(z, cond)
            head = a if head is None else head[:, :, -a.shape[2] :] + a
        head = self.head_rechannel(head)
        return z[:, :, -head.shape[2] :], head

    def params_in_nam_order(self) -> list[torch.Tensor]:
        params = [self.rechannel.weight]
        for layer in self.layers:
            params += [layer.conv.weight, layer.conv.bias, layer.mixer.weight]
            params += [layer.layer1x1.weight, layer.layer1x1.bias]
        params.append(self.head_rechannel.weight)
        if self.head_rechannel.bias is not None:
            params.append(self.head_rechannel.bias)
        return params


class NamWaveNet(NamLayerArrays):
    """A NAM 0.7 WaveNet (see the module docstring). `layers`: the .nam config's layer arrays.

    Input (batch, time, input_size), output (batch, time); causal, zero input before time 0
    (NAM's left padding), so forward(x)[t] depends on x[t - receptive_field + 1 .. t].
    """

    architecture = "nam_wavenet"

    def __init__(self, layers: list[dict], head_scale: float = 0.02, input_size: int = 1):
        super().__init__()
        if not isinstance(layers, list) or not layers:
            raise ValueError("NamWaveNet needs a non-empty list of layer-array configs")
        self.input_size = int(input_size)
        self.layer_configs = [normalized_array(a, i, input_size) for i, a in enumerate(layers)]
        for i, a in enumerate(self.layer_configs):
            expected_in = input_size if i == 0 else self.layer_configs[i - 1]["channels"]
            if a["input_size"] != expected_in:
                raise ValueError(f"layer array {i}: input_size must be {expected_in}")
            if i > 0 and self.layer_configs[i - 1]["head"]["out_channels"] != a["bottleneck"]:
                raise ValueError(
                    f"layer array {i}: its bottleneck must equal the previous head's channels"
                )
        if self.layer_configs[-1]["head"]["out_channels"] != 1:
            raise ValueError("the last layer array's head must have 1 output channel")
        self.arrays = nn.ModuleList(_Array(a) for a in self.layer_configs)
        self.register_buffer("head_scale", torch.tensor(float(head_scale)))

    def forward(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"expected input (batch, time, {self.input_size}), got {x.shape}")
        cond = F.pad(x.transpose(1, 2), (self.receptive_field - 1, 0))
        z, head = cond, None
        for array in self.arrays:
            z, head = array(z, cond, head)
        return self.head_scale * head[:, 0, :], None

