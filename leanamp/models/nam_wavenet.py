"""NAM 0.7 WaveNets that leanamp's own WaveNet cannot express (e.g. NAM's "A2" models and NAM
Core's example_models/wavenet_a2_max.nam and wavenet_condition_dsp.nam): per-layer kernel sizes
and activations (LeakyReLU, PReLU, Hardswish, LeakyHardtanh...), a bottleneck, gated and blended
layers, grouped convolutions, a head1x1, FiLM modulations, a head rechannel with more than one
tap, and a condition DSP (a WaveNet that turns the input into the condition).

`NamWaveNet` is a plain torch model (architecture "nam_wavenet"): it renders, trains and writes
back to .nam 0.7.0; the streaming kernel (leanamp.runtime.wavenet) runs those without FiLM,
groups, head1x1, blending or a condition DSP. It has no slimming. Semantics follow
NeuralAmpModelerCore (NAM/wavenet/model.cpp, NAM/film.h, NAM/gating_activations.h), checked
sample for sample in tests/engines/test_nam_core.py, and for the A2 subset the `nam` 0.13 loader
(tests/formats/test_nam_package.py):

condition c = condition_dsp(x) if there is one, else the input x; per layer array (input z0):
    z = rechannel(z0)                                       1x1, no bias
    for each layer (kernel k_l, dilation d_l):               FiLM_f(v) = v * s + t, (s, t) = 1x1(c)
        u = conv(FiLM_conv_pre(z)), FiLM_conv_post          conv has bias, groups_input
          + FiLM_mixin_post(mixer(FiLM_mixin_pre(c)))       mixer: no bias, groups_input_mixin
        u = FiLM_activation_pre(u)
        a = act(u)  |  gated: act(u[:B]) * gate(u[B:])  |  blended: g act(u[:B]) + (1 - g) u[:B]
            with g = gate(u[B:])  (B = bottleneck)
        a = FiLM_activation_post(a)
        z = z + layer1x1(a)   (then FiLM_layer1x1_post, which NAM Core applies in blended layers
                               only, though it reads its weights for every layer)
        head_sum += FiLM_head1x1_post(head1x1(a)) if head1x1 else a
    head_out = head_rechannel(head_sum)                     K taps, bias optional
the first array reads x, the next reads z and starts its head sum from head_out; output =
head_scale * head_out (a condition DSP's output has its head's channels).
Weights in the file: rechannel; per layer conv (weight, bias), mixer, layer1x1 (weight, bias),
head1x1 (weight, bias), each active FiLM (weight, bias) in FILM_KEYS order; head rechannel
(weight, bias); finally head_scale. Grouped weights are torch's (out, in / groups, k) layout.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from leanamp.models.wavenet import NamLayerArrays


def _leaky_hardtanh(p):
    lo, hi = float(p.get("min_val", -1.0)), float(p.get("max_val", 1.0))
    lo_slope, hi_slope = float(p.get("min_slope", 0.01)), float(p.get("max_slope", 0.01))
    return lambda v: torch.where(
        v < lo, (v - lo) * lo_slope + lo, torch.where(v > hi, (v - hi) * hi_slope + hi, v)
    )


def _prelu(p):
    slopes = p.get("negative_slopes", [p.get("negative_slope", 0.01)])
    per_channel = torch.tensor(slopes, dtype=torch.float32).view(-1, 1)
    return lambda v: torch.where(v > 0, v, v * per_channel.to(v.device, v.dtype))


_ACTIVATIONS = {
    "Tanh": lambda p: torch.tanh,
    "ReLU": lambda p: F.relu,
    "Sigmoid": lambda p: torch.sigmoid,
    "SiLU": lambda p: F.silu,
    "Hardswish": lambda p: F.hardswish,
    "Softsign": lambda p: F.softsign,
    "Hardtanh": lambda p: lambda v: F.hardtanh(
        v, p.get("min_val", -1.0), p.get("max_val", 1.0)
    ),
    "LeakyHardtanh": _leaky_hardtanh,
    "LeakyReLU": lambda p: lambda v: F.leaky_relu(v, p.get("negative_slope", 0.01)),
    "PReLU": _prelu,
}
_ACTIVATION_PARAMS = {
    "Hardtanh": {"min_val", "max_val"},
    "LeakyHardtanh": {"min_val", "max_val", "min_slope", "max_slope"},
    "LeakyReLU": {"negative_slope"},
    "PReLU": {"negative_slope", "negative_slopes"},
}
GATING_MODES = ("none", "gated", "blended")
# Where a layer can modulate a signal by the condition, in NAM Core's weight order.
FILM_KEYS = (
    "conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
    "activation_pre_film", "activation_post_film", "layer1x1_post_film", "head1x1_post_film",
)  # fmt: skip
_FILM_OFF = {"active": False, "shift": True, "groups": 1}
# Limits far beyond real models so a hostile config is refused before anything is allocated.
MAX_CHANNELS = 1024
MAX_KERNEL = 64
MAX_DILATION = 1 << 16
MAX_LAYERS = 256


def is_finite_number(value: object) -> bool:
    """A JSON number that is finite (JSON's true/false are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _activation(spec, where: str, channels: int | None = None):
    """An activation from a .nam 0.7 spec: a name or {"type": name, **params}; `channels`: the
    rows it acts on (a PReLU's per-channel slopes must match them)."""
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("type"), str):
        name, params = spec["type"], {k: v for k, v in spec.items() if k != "type"}
    else:
        raise ValueError(f"{where}: activation {spec!r} is not a name or {{'type': ...}}")
    if name not in _ACTIVATIONS:
        raise ValueError(f"{where}: activation {name!r} is not supported: {sorted(_ACTIVATIONS)}")
    unknown = set(params) - _ACTIVATION_PARAMS.get(name, set())
    slopes = params.get("negative_slopes")
    bad = [v for k, v in params.items() if k != "negative_slopes" and not is_finite_number(v)]
    if slopes is not None and not (
        isinstance(slopes, list) and slopes and all(map(is_finite_number, slopes))
        and channels in (None, len(slopes))
    ):  # fmt: skip
        bad.append(slopes)
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


def _switch(cfg: dict, key: str, default: dict, where: str) -> dict:
    """A {active, groups, ...} option block with the defaults NAM Core assumes."""
    value = cfg.get(key)
    if value is None or value is False:
        return dict(default)
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {key} must be a JSON object")
    out = {**default, **{k: value[k] for k in default if k in value}}
    out["groups"] = _positive_int(out["groups"], f"{where}: {key} groups", MAX_CHANNELS)
    for flag in ("active", "shift"):
        if flag in out and not isinstance(out[flag], bool):
            raise ValueError(f"{where}: {key}.{flag} must be true or false")
    return out


def head_rechannel(cfg: dict, where: str) -> dict:
    """The head rechannel {out_channels, kernel_size, bias} of a layer-array config, read as NAM
    Core reads it (NAM/wavenet/model.cpp): a "head" object when it is not null, else the 0.5/0.6
    keys head_size and head_bias (kernel size 1). ValueError when neither is usable."""
    head = cfg.get("head")
    if head is None and "head_size" in cfg:
        head = {"out_channels": cfg["head_size"], "kernel_size": 1, "bias": cfg.get("head_bias")}
    if not isinstance(head, dict):
        raise ValueError(f"{where}: head must be {{out_channels, kernel_size, bias}}")
    if head.get("head_dilation", 1) != 1:
        raise ValueError(f"{where}: a dilated head rechannel is not supported")
    out = {
        "out_channels": _positive_int(
            head.get("out_channels"), f"{where}: head out_channels", MAX_CHANNELS
        ),
        "kernel_size": _positive_int(
            head.get("kernel_size", 1), f"{where}: head kernel_size", MAX_KERNEL
        ),
        "bias": head.get("bias"),
    }
    if not isinstance(out["bias"], bool):
        raise ValueError(f"{where}: head bias (head_bias) must be true or false")
    return out


def normalized_array(cfg: dict, index: int, condition_size: int) -> dict:
    """Checked, explicit form of one .nam 0.6/0.7 layer-array config (ValueError if unsupported);
    `condition_size`: channels of the condition (the input, or the condition DSP's output)."""
    where = f"layer array {index}"
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a JSON object")
    layer1x1 = _switch(cfg, "layer1x1", {"active": True, "groups": 1}, where)
    if not layer1x1["active"]:
        raise ValueError(f"{where}: unsupported NAM WaveNet feature: layers without layer1x1")
    if cfg.get("packing") is not None:
        raise ValueError(f"{where}: unsupported NAM WaveNet feature: packing")
    dilations = cfg.get("dilations")
    if not isinstance(dilations, list) or not 1 <= len(dilations) <= MAX_LAYERS:
        raise ValueError(f"{where}: dilations must be a list of 1 to {MAX_LAYERS} integers")
    n = len(dilations)
    channels = _positive_int(cfg.get("channels"), f"{where}: channels", MAX_CHANNELS)
    kernels = _per_layer(cfg.get("kernel_sizes", cfg.get("kernel_size")), n, f"{where} kernels")
    activations = _per_layer(cfg.get("activation"), n, f"{where} activation")
    default_gating = "gated" if cfg.get("gated") is True else "none"
    gating = _per_layer(cfg.get("gating_mode", default_gating), n, f"{where} gating_mode")
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
        "secondary_activation": [
            copy.deepcopy(s if s not in (None, "") else "Sigmoid") if g != "none" else None
            for g, s in zip(gating, secondary, strict=True)
        ],
        "groups_input": _positive_int(
            cfg.get("groups_input", 1), f"{where}: groups_input", MAX_CHANNELS
        ),
        "groups_input_mixin": _positive_int(
            cfg.get("groups_input_mixin", 1), f"{where}: groups_input_mixin", MAX_CHANNELS
        ),
        "layer1x1": layer1x1,
        "head1x1": _switch(
            cfg, "head1x1", {"active": False, "out_channels": channels, "groups": 1}, where
        ),
        **{key: _switch(cfg, key, _FILM_OFF, where) for key in FILM_KEYS},
        "head": head_rechannel(cfg, where),
    }
    head1x1 = out["head1x1"]
    head1x1["out_channels"] = _positive_int(
        head1x1["out_channels"], f"{where}: head1x1 out_channels", MAX_CHANNELS
    )
    if out["head1x1_post_film"]["active"] and not head1x1["active"]:
        raise ValueError(f"{where}: head1x1_post_film needs an active head1x1")
    b = out["bottleneck"]
    for k in range(n):
        if gating[k] not in GATING_MODES:
            raise ValueError(f"{where} layer {k}: gating_mode {gating[k]!r} is not supported")
        _activation(activations[k], f"{where} layer {k}", b)
        if gating[k] != "none":
            _activation(out["secondary_activation"][k], f"{where} layer {k} gate", b)
    if out["condition_size"] != condition_size:
        raise ValueError(
            f"{where}: condition_size must be {condition_size} (the condition's channels)"
        )
    for k in range(n):
        _conv_specs(out, k)  # refuses channel counts the groups do not divide
    return out


def _conv_specs(a: dict, k: int) -> dict[str, tuple[int, int, int, int, bool]]:
    """Layer k's convolutions in NAM Core's weight order: name -> (in, out, kernel, groups,
    bias). ValueError if a group count does not divide its channels."""
    c, b, cond = a["channels"], a["bottleneck"], a["condition_size"]
    mid = b if a["gating_mode"][k] == "none" else 2 * b
    specs = {
        "conv": (c, mid, a["kernel_sizes"][k], a["groups_input"], True),
        "mixer": (cond, mid, 1, a["groups_input_mixin"], False),
        "layer1x1": (b, c, 1, a["layer1x1"]["groups"], True),
    }
    head1x1 = a["head1x1"]
    if head1x1["active"]:
        specs["head1x1"] = (b, head1x1["out_channels"], 1, head1x1["groups"], True)
    modulated = {
        "conv_pre_film": c, "conv_post_film": mid, "input_mixin_pre_film": cond,
        "input_mixin_post_film": mid, "activation_pre_film": mid, "activation_post_film": b,
        "layer1x1_post_film": c, "head1x1_post_film": head1x1["out_channels"],
    }  # fmt: skip
    for key in FILM_KEYS:
        film = a[key]
        if film["active"]:
            rows = (2 if film["shift"] else 1) * modulated[key]
            specs[key] = (cond, rows, 1, film["groups"], True)
    for name, (n_in, n_out, _, groups, _) in specs.items():
        if n_in % groups or n_out % groups:
            raise ValueError(
                f"layer {k}: {name} has {n_in} -> {n_out} channels, not divisible by {groups} "
                "groups"
            )
    return specs


def head_input_size(a: dict) -> int:
    """Channels each layer adds to the head sum: head1x1's outputs, else the bottleneck."""
    return a["head1x1"]["out_channels"] if a["head1x1"]["active"] else a["bottleneck"]


def weight_count(arrays: list[dict]) -> int:
    """Weights a .nam holds for these normalized layer arrays (head_scale included)."""
    total = 1
    for a in arrays:
        total += a["channels"] * a["input_size"]
        for k in range(len(a["dilations"])):
            for n_in, n_out, kernel, groups, bias in _conv_specs(a, k).values():
                total += n_out * (n_in // groups) * kernel + (n_out if bias else 0)
        head = a["head"]
        total += head["out_channels"] * head_input_size(a) * head["kernel_size"] + (
            head["out_channels"] if head["bias"] else 0
        )
    return total


class _FiLM(nn.Module):
    """v * scale + shift, (scale, shift) = a 1x1 convolution of the condition (NAM/film.h)."""

    def __init__(self, conv: nn.Conv1d, shift: bool):
        super().__init__()
        self.conv = conv
        self.shift = shift

    def forward(self, v, cond):
        ss = self.conv(cond[:, :, -v.shape[2] :])
        rows = v.shape[1]
        return v * ss[:, :rows] + ss[:, rows:] if self.shift else v * ss


class _Layer(nn.Module):
    def __init__(self, a: dict, k: int):
        super().__init__()
        specs = _conv_specs(a, k)
        self.gating = a["gating_mode"][k]
        self.bottleneck = a["bottleneck"]
        self.dilation = a["dilations"][k]
        self.kernel_size = a["kernel_sizes"][k]

        def conv(name):
            n_in, n_out, kernel, groups, bias = specs[name]
            dilation = self.dilation if name == "conv" else 1
            return nn.Conv1d(n_in, n_out, kernel, dilation=dilation, groups=groups, bias=bias)

        self.conv = conv("conv")
        self.mixer = conv("mixer")
        self.layer1x1 = conv("layer1x1")
        self.head1x1 = conv("head1x1") if "head1x1" in specs else None
        self.films = nn.ModuleDict(
            {key: _FiLM(conv(key), a[key]["shift"]) for key in FILM_KEYS if key in specs}
        )
        self.act = _activation(a["activation"][k], "", self.bottleneck)
        gate = a["secondary_activation"][k]
        self.gate = _activation(gate, "", self.bottleneck) if self.gating != "none" else None

    def _film(self, key, v, cond):
        return self.films[key](v, cond) if key in self.films else v

    def forward(self, z, cond):
        u = self.conv(self._film("conv_pre_film", z, cond))
        u = self._film("conv_post_film", u, cond)
        c = cond[:, :, -u.shape[2] :]
        mixed = self.mixer(self._film("input_mixin_pre_film", c, c))
        u = u + self._film("input_mixin_post_film", mixed, c)
        u = self._film("activation_pre_film", u, c)
        b = self.bottleneck
        if self.gating == "gated":
            a = self.act(u[:, :b]) * self.gate(u[:, b:])
        elif self.gating == "blended":
            alpha = self.gate(u[:, b:])
            a = alpha * self.act(u[:, :b]) + (1.0 - alpha) * u[:, :b]
        else:
            a = self.act(u)
        a = self._film("activation_post_film", a, c)
        residual = self.layer1x1(a)
        if self.gating == "blended":  # NAM Core applies this FiLM in blended layers only
            residual = self._film("layer1x1_post_film", residual, c)
        head = a
        if self.head1x1 is not None:
            head = self._film("head1x1_post_film", self.head1x1(a), c)
        return z[:, :, -a.shape[2] :] + residual, head

    def params_in_nam_order(self) -> list[torch.Tensor]:
        convs = [self.conv, self.mixer, self.layer1x1]
        convs += [self.head1x1] if self.head1x1 is not None else []
        convs += [film.conv for film in self.films.values()]
        return [p for m in convs for p in (m.weight, m.bias) if p is not None]


class _Array(nn.Module):
    def __init__(self, a: dict):
        super().__init__()
        self.rechannel = nn.Conv1d(a["input_size"], a["channels"], 1, bias=False)
        self.layers = nn.ModuleList(_Layer(a, k) for k in range(len(a["dilations"])))
        head = a["head"]
        self.head_rechannel = nn.Conv1d(
            head_input_size(a), head["out_channels"], head["kernel_size"], bias=head["bias"]
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
            params += layer.params_in_nam_order()
        params.append(self.head_rechannel.weight)
        if self.head_rechannel.bias is not None:
            params.append(self.head_rechannel.bias)
        return params


class NamWaveNet(NamLayerArrays):
    """A NAM 0.7 WaveNet (see the module docstring). `layers`: the .nam config's layer arrays;
    `condition_dsp`: the config of a NamWaveNet that computes the condition from the input
    (None: the condition is the input).

    Input (batch, time, input_size), output (batch, time); causal, zero input before time 0
    (NAM's left padding), so forward(x)[t] depends on x[t - receptive_field + 1 .. t].
    """

    architecture = "nam_wavenet"

    def __init__(
        self,
        layers: list[dict],
        head_scale: float = 0.02,
        input_size: int = 1,
        condition_dsp: dict | None = None,
    ):
        super().__init__()
        if not isinstance(layers, list) or not layers:
            raise ValueError("NamWaveNet needs a non-empty list of layer-array configs")
        self.input_size = int(input_size)
        self.condition_dsp = None
        condition_size = self.input_size
        if condition_dsp is not None:
            inner = {k: v for k, v in condition_dsp.items() if k != "architecture"}
            self.condition_dsp = NamWaveNet(**inner)
            if self.condition_dsp.input_size != self.input_size:
                raise ValueError(f"the condition DSP must take the model's {input_size} inputs")
            condition_size = self.condition_dsp.output_channels
        self.layer_configs = [
            normalized_array(a, i, condition_size) for i, a in enumerate(layers)
        ]
        for i, a in enumerate(self.layer_configs):
            expected_in = input_size if i == 0 else self.layer_configs[i - 1]["channels"]
            if a["input_size"] != expected_in:
                raise ValueError(f"layer array {i}: input_size must be {expected_in}")
            if i > 0 and self.layer_configs[i - 1]["head"]["out_channels"] != head_input_size(a):
                raise ValueError(
                    f"layer array {i}: its head input (bottleneck or head1x1 outputs) must "
                    "equal the previous head's channels"
                )
        self.output_channels = self.layer_configs[-1]["head"]["out_channels"]
        self.arrays = nn.ModuleList(_Array(a) for a in self.layer_configs)
        self.register_buffer("head_scale", torch.tensor(float(head_scale)))

    @property
    def config(self) -> dict:
        config = super().config
        config["condition_dsp"] = None if self.condition_dsp is None else self.condition_dsp.config
        return config

    @property
    def receptive_field(self) -> int:
        own = super().receptive_field
        return own if self.condition_dsp is None else own + self.condition_dsp.receptive_field - 1

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every output channel for (batch, input_size, time) input without padding: (batch,
        output_channels, time - receptive_field + 1)."""
        cond = x if self.condition_dsp is None else self.condition_dsp.outputs(x)
        z, head = x[:, :, -cond.shape[2] :], None
        for array in self.arrays:
            z, head = array(z, cond, head)
        return self.head_scale * head

    def forward(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"expected input (batch, time, {self.input_size}), got {x.shape}")
        if self.output_channels != 1:
            raise ValueError(f"this WaveNet has {self.output_channels} outputs, not one signal")
        padded = F.pad(x.transpose(1, 2), (self.receptive_field - 1, 0))
        return self.outputs(padded)[:, 0, :], None
