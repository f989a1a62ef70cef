"""NAM-compatible WaveNet ("legacy" 0.5.x layer-array config), slimmable by channel truncation.

Architecture (as in Neural Amp Modeler's trainer and core), for each layer array:
    z = rechannel(x_in)                              1x1, no bias
    for each layer (dilation d):
        u = conv_d(z) + input_mixer(condition)       dilated conv with bias; mixer 1x1, no bias
        a = act(u)              or, gated: act(u[:c]) * sigmoid(u[c:2c])
        head_sum += a
        z = z + 1x1(a)                               residual stream, 1x1 with bias
    head_out = head_rechannel(head_sum)              1x1, bias if head_bias
The condition is the raw model input. Array 0's input is the raw input too; array i > 0 reads
array i-1's residual stream z, and its head sum starts from array i-1's head output (so
head_size of array i-1 equals channels of array i). Output = head_scale * last head output.

Time convention: causal, with zero *input* before the first sample (NAM pads the input with
receptive_field - 1 zeros and runs valid convolutions). Internal activations before time 0 are
therefore the network's steady response to silence, not zeros; the streaming kernel starts
from the same state.

Slimming (Atkinson, "Slimmable NAM"): running at width c keeps the first c channels of every
tensor of a layer array - rechannel rows (and, for arrays after the first, columns), conv and 1x1
rows and columns, head-rechannel columns (and rows for the head sum of the next array). Widths
of arrays with different channel counts are tied by proportion, see `array_widths` (for NAM's
presets, where each array has half the channels of the previous one, this is the mapping NAM's
core applies to a slimmable file's per-array allowed_channels). Gated layers slice the first 2c
rows of the dilated conv, primary = rows [0, c), gate = rows [c, 2c), exactly as NAM's slimmable
code (trainer and core) does, so a slimmable file plays the same in NAM; at full width this is
the usual halves layout. (A halves-preserving slice, rows [0, c) and [C, C + c), would keep each
channel's own gate at every width, but no NAM player would read such a file correctly.)
Truncation uses views of the full parameters: there is one set of weights, and gradients of a
truncated forward land in the first c channels.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from leanamp.models.widths import WidthSampler

# Activations NAM's legacy WaveNet accepts by name that torch and the streaming kernel share.
ACTIVATIONS = {
    "Tanh": torch.tanh,
    "ReLU": F.relu,
    "Sigmoid": torch.sigmoid,
    "Hardtanh": F.hardtanh,
    "LeakyReLU": F.leaky_relu,  # torch's and NAM core's default slope 0.01
    "SiLU": F.silu,
    "Softsign": F.softsign,
}

# NAM's slimmable marker (0.7.0): {"method": "slice_channels_uniform", "kwargs": {...}}.
SLIMMABLE_METHOD = "slice_channels_uniform"



_REQUIRED_KEYS = (
    "input_size",
    "condition_size",
    "head_size",
    "channels",
    "kernel_size",
    "dilations",
    "activation",
    "gated",
    "head_bias",
)

PRESET_CHANNELS = {"standard": 16, "lite": 12, "feather": 8, "nano": 4}  # the first array's
PRESETS = tuple(PRESET_CHANNELS)


def preset(name: str, input_size: int = 1, channels: int | None = None) -> list[dict]:
    """Layer-array configs of NAM's WaveNet presets: "standard", "lite", "feather", "nano".

    `input_size` > 1 adds knob inputs: they join the audio in the first array's rechannel and
    every layer's input mixer (the condition), as WaveNet's forward expects. `channels` narrows
    or widens the first array (default the preset's own); the second runs at half of it, as in
    every preset, so preset("standard", channels=8) is the standard's dilations at feather's
    width: the fixed WaveNet a slimmable standard sliced to 8 channels is.
    """
    if name not in PRESET_CHANNELS:
        raise ValueError(f"unknown WaveNet preset {name!r}; known: {list(PRESET_CHANNELS)}")
    c = PRESET_CHANNELS[name] if channels is None else channels
    if c < 1:
        raise ValueError(f"a WaveNet needs at least 1 channel, got {c}")
    full = [2**i for i in range(10)]
    if name == "standard":
        dilations = (full, full)
    else:
        dilations = (full[:7], [128, 256, 512, *full])
    common = {"condition_size": input_size, "kernel_size": 3, "activation": "Tanh", "gated": False}
    return [
        {"input_size": input_size, "head_size": max(1, c // 2), "channels": c,
         "dilations": list(dilations[0]), "head_bias": False, **common},
        {"input_size": c, "head_size": 1, "channels": max(1, c // 2),
         "dilations": list(dilations[1]), "head_bias": True, **common},
    ]  # fmt: skip


def _allowed_channels(cfg: dict) -> list[int] | None:
    slim = cfg.get("slimmable")
    if slim is None:
        return None
    allowed = (slim.get("kwargs") or {}).get("allowed_channels")
    return None if allowed is None else [int(c) for c in allowed]


def _validate_layers(layers: list[dict], input_size: int) -> list[dict]:
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("WaveNet needs a non-empty list of layer-array configs")
    out = []
    for i, cfg in enumerate(layers):
        if not isinstance(cfg, dict):
            raise ValueError(f"layer array {i}: expected a dict, got {type(cfg).__name__}")
        missing = [k for k in _REQUIRED_KEYS if k not in cfg]
        if missing:
            raise ValueError(f"layer array {i}: missing keys {missing}")
        unknown = set(cfg) - set(_REQUIRED_KEYS) - {"slimmable"}
        if unknown:
            raise ValueError(
                f"layer array {i}: unsupported keys {sorted(unknown)} (only NAM's legacy "
                "WaveNet layer config is supported: no bottleneck, head1x1, FiLM or per-layer "
                "kernel sizes)"
            )
        cfg = copy.deepcopy(dict(cfg))
        for key in ("input_size", "condition_size", "head_size", "channels", "kernel_size"):
            if not isinstance(cfg[key], int) or cfg[key] < 1:
                raise ValueError(f"layer array {i}: {key} must be a positive integer")
        dil = cfg["dilations"]
        bad_dilation = any(not isinstance(d, int) or d < 1 for d in dil or [0])
        if not isinstance(dil, list) or bad_dilation:
            raise ValueError(f"layer array {i}: dilations must be a non-empty list of ints >= 1")
        if cfg["activation"] not in ACTIVATIONS:
            raise ValueError(
                f"layer array {i}: activation {cfg['activation']!r} is not supported; "
                f"supported: {sorted(ACTIVATIONS)}"
            )
        if cfg["condition_size"] != input_size:
            raise ValueError(
                f"layer array {i}: condition_size {cfg['condition_size']} != model input_size "
                f"{input_size} (the condition is the raw input)"
            )
        expected_in = input_size if i == 0 else layers[i - 1]["channels"]
        if cfg["input_size"] != expected_in:
            raise ValueError(
                f"layer array {i}: input_size {cfg['input_size']} must be {expected_in} "
                "(the model input for the first array, else the previous array's channels)"
            )
        if i + 1 < len(layers) and cfg["head_size"] != layers[i + 1]["channels"]:
            raise ValueError(
                f"layer array {i}: head_size {cfg['head_size']} must equal the next array's "
                f"channels {layers[i + 1]['channels']} (its head sum starts from this head)"
            )
        if i + 1 == len(layers) and cfg["head_size"] != 1:
            raise ValueError(f"last layer array: head_size must be 1, got {cfg['head_size']}")
        slim = cfg.get("slimmable")
        if slim is not None:
            if not isinstance(slim, dict) or slim.get("method") != SLIMMABLE_METHOD:
                raise ValueError(
                    f"layer array {i}: slimmable must be {{'method': '{SLIMMABLE_METHOD}', "
                    f"'kwargs': {{...}}}}, got {slim!r}"
                )
            allowed = _allowed_channels(cfg)
            if allowed is not None and (
                not allowed
                or allowed != sorted(set(allowed))
                or allowed[0] < 1
                or allowed[-1] != cfg["channels"]
            ):
                raise ValueError(
                    f"layer array {i}: allowed_channels {allowed} must be strictly increasing, "
                    f">= 1, and end with the array's channels {cfg['channels']}"
                )
        out.append(cfg)
    marked = [cfg.get("slimmable") is not None for cfg in out]
    if any(marked) and not all(marked):
        raise ValueError("mark every layer array slimmable or none (NAM's 'slimmable' key)")
    return out


class _LayerArray(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        c, k = cfg["channels"], cfg["kernel_size"]
        self.channels = c
        self.gated = bool(cfg["gated"])
        self.dilations = list(cfg["dilations"])
        self.kernel_size = k
        self.activation = ACTIVATIONS[cfg["activation"]]
        c_mid = 2 * c if self.gated else c
        self.rechannel = nn.Conv1d(cfg["input_size"], c, 1, bias=False)
        self.convs = nn.ModuleList(nn.Conv1d(c, c_mid, k, dilation=d) for d in self.dilations)
        self.mixers = nn.ModuleList(
            nn.Conv1d(cfg["condition_size"], c_mid, 1, bias=False) for _ in self.dilations
        )
        self.one_by_ones = nn.ModuleList(nn.Conv1d(c, c, 1) for _ in self.dilations)
        self.head_rechannel = nn.Conv1d(c, cfg["head_size"], 1, bias=bool(cfg["head_bias"]))

    @property
    def receptive_field(self) -> int:
        return 1 + (self.kernel_size - 1) * sum(self.dilations)

    def params_in_nam_order(self) -> list[torch.Tensor]:
        out = [self.rechannel.weight]
        for conv, mixer, one in zip(self.convs, self.mixers, self.one_by_ones, strict=True):
            out += [conv.weight, conv.bias, mixer.weight, one.weight, one.bias]
        out.append(self.head_rechannel.weight)
        if self.head_rechannel.bias is not None:
            out.append(self.head_rechannel.bias)
        return out

    def forward(
        self,
        x: torch.Tensor,
        cond: torch.Tensor,
        head: torch.Tensor | None,
        out_len: int,
        width: int,
        in_width: int,
        head_width: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, in, L), cond (B, cond, L) -> (residual (B, width, L-R+1), head (B, h, out_len))."""
        c = width
        c_mid = 2 * c if self.gated else c
        z = F.conv1d(x, self.rechannel.weight[:c, :in_width])
        for conv, mixer, one, d in zip(
            self.convs, self.mixers, self.one_by_ones, self.dilations, strict=True
        ):
            u = F.conv1d(z, conv.weight[:c_mid, :c], conv.bias[:c_mid], dilation=d)
            length = u.shape[-1]
            u = u + F.conv1d(cond[..., -length:], mixer.weight[:c_mid])
            if self.gated:
                a = self.activation(u[:, :c]) * torch.sigmoid(u[:, c:c_mid])
            else:
                a = self.activation(u)
            tail = a[..., -out_len:]
            head = tail if head is None else head + tail
            z = z[..., -length:] + F.conv1d(a, one.weight[:c, :c], one.bias[:c])
        hr = self.head_rechannel
        bias = None if hr.bias is None else hr.bias[:head_width]
        return z, F.conv1d(head, hr.weight[:head_width, :c], bias)


class NamLayerArrays(nn.Module):
    """What leanamp's two WaveNets (`WaveNet`, and NAM 0.7's `NamWaveNet` in
    leanamp.models.nam_wavenet) share: layer arrays run in sequence, each with its receptive
    field, and NAM's flat weight vector (every array's parameters in .nam order, head_scale last).

    A subclass sets `architecture` and, in its __init__, `input_size`, `layer_configs` (the
    config's layer arrays), `arrays` (modules with `receptive_field` and `params_in_nam_order()`)
    and the `head_scale` buffer.
    """

    architecture: str
    input_size: int
    layer_configs: list[dict]
    arrays: nn.ModuleList
    head_scale: torch.Tensor

    @property
    def config(self) -> dict:
        return {
            "architecture": self.architecture,
            "layers": copy.deepcopy(self.layer_configs),
            "head_scale": float(self.head_scale),
            "input_size": self.input_size,
        }

    @property
    def receptive_field(self) -> int:
        return 1 + sum(a.receptive_field - 1 for a in self.arrays)

    def _nam_params(self) -> list[torch.Tensor]:
        return [p for arr in self.arrays for p in arr.params_in_nam_order()]

    def num_nam_weights(self) -> int:
        return sum(p.numel() for p in self._nam_params()) + 1

    def nam_weights(self) -> torch.Tensor:
        """Flat float32 vector in .nam order, head_scale last (a slimmable WaveNet: full width;
        use `sliced(c)` for a narrower file)."""
        parts = [p.detach().reshape(-1).float().cpu() for p in self._nam_params()]
        parts.append(self.head_scale.detach().reshape(1).float().cpu())
        return torch.cat(parts)

    def load_nam_weights(self, flat) -> None:
        """Set all weights (and head_scale, the last entry) from a .nam flat weight vector."""
        flat = torch.as_tensor(flat, dtype=torch.float32).reshape(-1)
        expected = self.num_nam_weights()
        if flat.numel() != expected:
            raise ValueError(
                f"this WaveNet config takes {expected} weights, got {flat.numel()}"
            )
        i = 0
        with torch.no_grad():
            for p in self._nam_params():
                n = p.numel()
                p.copy_(flat[i : i + n].view_as(p))
                i += n
            self.head_scale.fill_(float(flat[i]))


class WaveNet(NamLayerArrays):
    """NAM's WaveNet: `layers` are NAM layer-array dicts exactly as in a .nam "config"."layers".

    Input (batch, time, input_size) (channel 0 audio, 1.. knob values, all fed to the first
    array and to every input mixer), output (batch, time). Causal with zero input before the
    first sample. `set_width(c)` runs the model truncated to c channels (see module docstring).
    """

    architecture = "wavenet"

    def __init__(self, layers: list[dict], head_scale: float = 0.02, input_size: int = 1):
        super().__init__()
        if not isinstance(input_size, int) or input_size < 1:
            raise ValueError("input_size must be a positive integer")
        self.input_size = input_size
        self.layer_configs = _validate_layers(layers, input_size)
        self.arrays = nn.ModuleList(_LayerArray(cfg) for cfg in self.layer_configs)
        # head_scale is the last weight of a .nam file (NAM's core reads it from there), so it is
        # state, not just config; kept as a buffer so it is saved but never trained.
        self.register_buffer("head_scale", torch.tensor(float(head_scale)))
        self._width: tuple[int, ...] | None = None
        # Width drawn for the current training batch (slimmable training); None outside training.
        self._train_width: tuple[int, ...] | None = None
        self._step_widths: list[tuple[int, ...]] = []
        self.width_sampler = WidthSampler(self.widths) if self.slimmable else None

    # ---- description -------------------------------------------------------------------
    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(a.channels for a in self.arrays)

    @property
    def slimmable(self) -> bool:
        """True when the layer configs carry NAM's slimmable marker (trained for all widths)."""
        return self.layer_configs[0].get("slimmable") is not None

    @property
    def widths(self) -> list[int]:
        """The widths (channels of the first array) the model is meant to run at, ascending.

        NAM's allowed_channels of the first array when given, else every width 1..channels.
        `set_width` accepts any width in 1..channels; this list is what training samples from.
        """
        allowed = _allowed_channels(self.layer_configs[0])
        return allowed if allowed is not None else list(range(1, self.channels[0] + 1))

    def array_widths(self, width: int | Sequence[int] | None) -> tuple[int, ...]:
        """Per-array channel counts for a model width.

        An int is the width of the first array; array i runs at ceil(width * C_i / C_0) clipped
        to 1..C_i (at least its proportional share), rounded up to its allowed_channels if it
        has any. A sequence gives every array's width explicitly. None means full width.
        """
        full = self.channels
        if width is None:
            return full
        if isinstance(width, bool) or not isinstance(width, (int, Sequence)):
            raise ValueError(f"width must be an int, a sequence of ints or None, got {width!r}")
        if isinstance(width, Sequence):
            widths = tuple(int(w) for w in width)
            if len(widths) != len(full):
                raise ValueError(f"need {len(full)} per-array widths, got {len(widths)}")
        else:
            if not 1 <= width <= full[0]:
                raise ValueError(f"width must be in 1..{full[0]}, got {width}")
            widths = [width]
            for cfg, c_full in zip(self.layer_configs[1:], full[1:], strict=True):
                w = min(c_full, max(1, math.ceil(width * c_full / full[0])))
                allowed = _allowed_channels(cfg)
                if allowed is not None:
                    w = next(a for a in allowed if a >= w)
                widths.append(w)
            widths = tuple(widths)
        for i, (w, c_full) in enumerate(zip(widths, full, strict=True)):
            if not 1 <= w <= c_full:
                raise ValueError(f"layer array {i}: width must be in 1..{c_full}, got {w}")
        return widths

    # ---- slimming ------------------------------------------------------------------------
    def set_width(self, c: int | Sequence[int] | None) -> None:
        """Run with the first `c` channels of every layer array (None: full). No copy is made."""
        widths = self.array_widths(c)
        self._width = None if widths == self.channels else widths

    @property
    def width(self) -> tuple[int, ...]:
        """Current per-array widths."""
        return self._width if self._width is not None else self.channels

    def sliced(self, c: int | Sequence[int] | None) -> WaveNet:
        """A new plain (non-slimmable) WaveNet at width `c` holding copies of the sliced weights."""
        widths = self.array_widths(c)
        layers = []
        n = len(widths)
        for i, cfg in enumerate(self.layer_configs):
            cfg = {k: v for k, v in cfg.items() if k != "slimmable"}
            cfg["channels"] = widths[i]
            if i > 0:
                cfg["input_size"] = widths[i - 1]
            if i + 1 < n:
                cfg["head_size"] = widths[i + 1]
            layers.append(cfg)
        small = WaveNet(layers, head_scale=float(self.head_scale), input_size=self.input_size)
        with torch.no_grad():
            for i, (src, dst) in enumerate(zip(self.arrays, small.arrays, strict=True)):
                c = widths[i]
                c_in = self.input_size if i == 0 else widths[i - 1]
                c_head = widths[i + 1] if i + 1 < n else 1
                c_mid = 2 * c if src.gated else c
                dst.rechannel.weight.copy_(src.rechannel.weight[:c, :c_in])
                for a, b in zip(src.convs, dst.convs, strict=True):
                    b.weight.copy_(a.weight[:c_mid, :c])
                    b.bias.copy_(a.bias[:c_mid])
                for a, b in zip(src.mixers, dst.mixers, strict=True):
                    b.weight.copy_(a.weight[:c_mid])
                for a, b in zip(src.one_by_ones, dst.one_by_ones, strict=True):
                    b.weight.copy_(a.weight[:c, :c])
                    b.bias.copy_(a.bias[:c])
                dst.head_rechannel.weight.copy_(src.head_rechannel.weight[:c_head, :c])
                if src.head_rechannel.bias is not None:
                    dst.head_rechannel.bias.copy_(src.head_rechannel.bias[:c_head])
        small.to(self.head_scale.device)
        return small

    def on_train_batch_start(self, rng) -> int:
        """Trainer hook: a slimmable model chooses this batch's widths (see leanamp.models.slim);
        returns how many passes the step makes (one per width; `select_pass` picks one)."""
        if self.width_sampler is None:
            return 1
        self._step_widths = [self.array_widths(w) for w in self.width_sampler.draw_step(rng)]
        self._train_width = self._step_widths[0]
        return len(self._step_widths)

    def select_pass(self, k: int) -> None:
        """Run the next training forward at the k-th width chosen for this step."""
        self._train_width = self._step_widths[k]

    @property
    def distills_in_place(self) -> bool:
        """Trainer hook: the passes after the first learn from the first pass's output."""
        return self.width_sampler is not None and self.width_sampler.distills_in_place

    def train(self, mode: bool = True) -> WaveNet:
        # A width drawn for a training batch never leaks into evaluation: eval runs at the width
        # set explicitly with set_width.
        if not mode:
            self._train_width = None
        return super().train(mode)

    # ---- running -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input (batch, time, {self.input_size}), got {tuple(x.shape)}"
            )
        widths = self.width
        if self.training and self._train_width is not None:
            widths = self._train_width
        t = x.shape[1]
        xt = F.pad(x.transpose(1, 2), (self.receptive_field - 1, 0))
        z, head = xt, None
        n = len(self.arrays)
        for i, arr in enumerate(self.arrays):
            z, head = arr(
                z,
                xt,
                head,
                t,
                width=widths[i],
                in_width=self.input_size if i == 0 else widths[i - 1],
                head_width=widths[i + 1] if i + 1 < n else 1,
            )
        return self.head_scale * head[:, 0, :], None
