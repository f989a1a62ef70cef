# long: the structured lottery's criteria, LSTM and WaveNet trimming and its loop belong together
"""Structured lottery (Esling et al., "Diet deep generative audio models with structured lottery",
DAFx 2020): trim whole units by a global criterion, rewind, retrain, repeat.

Units ("groups" are the layers whose units compete):

- LSTMModel (one layer), group "lstm": hidden unit j is its four gate rows of W_ih, W_hh and both
  biases, its recurrent column W_hh[:, j] and its head weight. Trimming leaves a smaller dense
  LSTM.
- WaveNet, group "array<i>": channel j of layer array i is, in every layer, its rows of the
  dilated conv (both the primary row j and its gate row c + j when gated), conv bias, input
  mixer and 1x1 (rows, bias and column), its column of the dilated convs, its rechannel row and
  head-rechannel column; plus its input column of array i+1's rechannel and, since array i's
  head sum starts from array i-1's head output, row j of array i-1's head rechannel (the
  skip/head group). Trimming leaves a smaller NAM WaveNet.

`mask_units` zeroes all of a unit's weights (incoming and outgoing), so the masked model and the
trimmed one compute the same function to float rounding whatever the activation.

Criteria (`score_units`), each a per-unit score where low means "trim first":
- "magnitude": L2 norm of all of the unit's weights;
- "activation": mean |unit output| over validation audio (LSTM h_j; WaveNet the channel's layer
  outputs a_j, averaged over the array's layers);
- "gradient": mean |dL/d(unit output)| of the training loss over validation audio, through every
  path (recurrent and residual ones included): how much the loss reacts to the unit;
- "mutual_information": Gaussian-copula MI between the unit output and the model output (or the
  model's audio input, `mi_target="input"`), see leanamp.prune.mutual_information.

Selection (`select_units`): "global" normalises each group's scores by the group's maximum, pools
all units and trims the lowest `fraction` of them; "local" trims `fraction` of every group.
Every group keeps at least one unit.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leanamp.data import Clip
from leanamp.errors import LeanampError
from leanamp.files import write_text_atomic
from leanamp.formats.native import load_model, save_model
from leanamp.inference import run_model
from leanamp.losses import build_loss, esr
from leanamp.models.lstm import LSTMModel
from leanamp.models.wavenet import WaveNet
from leanamp.prune.mutual_information import gaussian_copula_mi
from leanamp.runtime import bench_models
from leanamp.train import TrainConfig, Trainer

CRITERIA = ("magnitude", "activation", "gradient", "mutual_information")
SELECTIONS = ("global", "local")
REWINDS = ("early", "finetune", "reinit")

Keep = dict[str, np.ndarray]  # group name -> boolean (units,) True where the unit stays
# The weights after `rewind_epoch` epochs of the pretraining, kept in its training folder
EARLY_SNAPSHOT_FILE = "early.leanamp"


# ---- units --------------------------------------------------------------------------------------
def _check_model(model: nn.Module) -> None:
    if isinstance(model, LSTMModel):
        if model.num_layers != 1:
            raise LeanampError(
                f"structured trimming supports single-layer LSTMs; this one has "
                f"{model.num_layers} layers (train a single-layer model)"
            )
        return
    if isinstance(model, WaveNet):
        if model.slimmable or model.width != model.channels:
            raise LeanampError(
                "structured trimming needs a plain full-width WaveNet; use model.sliced(width) "
                "to get one from a slimmable model"
            )
        return
    raise LeanampError(
        f"structured trimming supports LSTMModel and WaveNet, got {type(model).__name__}"
    )


def unit_groups(model: nn.Module) -> dict[str, int]:
    """The groups of trimmable units and their sizes, in network order."""
    _check_model(model)
    if isinstance(model, LSTMModel):
        return {"lstm": model.hidden_size}
    return {f"array{i}": c for i, c in enumerate(model.channels)}


def _check_keep(model: nn.Module, keep: Keep) -> None:
    groups = unit_groups(model)
    if set(keep) != set(groups):
        raise LeanampError(f"keep must name the groups {sorted(groups)}, got {sorted(keep)}")
    for g, n in groups.items():
        k = np.asarray(keep[g])
        if k.shape != (n,) or k.dtype != bool:
            raise LeanampError(f"keep[{g!r}] must be a boolean array of {n} units")
        if not k.any():
            raise LeanampError(f"keep[{g!r}] trims every unit; keep at least one")


def _lstm_rows(units: np.ndarray, hidden: int) -> np.ndarray:
    return (np.arange(4)[:, None] * hidden + np.asarray(units)[None, :]).reshape(-1)


def _lstm_unit_tensors(model: LSTMModel, j: int) -> list[torch.Tensor]:
    lstm, h = model.lstm, model.hidden_size
    rows = torch.from_numpy(_lstm_rows(np.array([j]), h))
    return [
        lstm.weight_ih_l0[rows],
        lstm.weight_hh_l0[rows],
        lstm.bias_ih_l0[rows],
        lstm.bias_hh_l0[rows],
        lstm.weight_hh_l0[:, j],
        model.head.weight[:, j],
    ]


def _wavenet_unit_tensors(model: WaveNet, i: int, j: int) -> list[torch.Tensor]:
    """Every weight of channel j of array i; shared entries (row x column) appear twice, which
    only matters to the magnitude score and there treats all channels alike."""
    arr = model.arrays[i]
    c = arr.channels
    rows = [j, c + j] if arr.gated else [j]
    out = [arr.rechannel.weight[j], arr.head_rechannel.weight[:, j]]
    for conv, mixer, one in zip(arr.convs, arr.mixers, arr.one_by_ones, strict=True):
        out += [conv.weight[rows], conv.bias[rows], conv.weight[:, j], mixer.weight[rows]]
        out += [one.weight[j], one.bias[j : j + 1], one.weight[:, j]]
    if i + 1 < len(model.arrays):
        out.append(model.arrays[i + 1].rechannel.weight[:, j])
    if i > 0:
        prev = model.arrays[i - 1].head_rechannel
        out.append(prev.weight[j])
        if prev.bias is not None:
            out.append(prev.bias[j : j + 1])
    return out


@torch.no_grad()
def mask_units(model: nn.Module, keep: Keep) -> nn.Module:
    """A copy of `model` with every weight of the trimmed units set to zero (same shapes)."""
    _check_model(model)
    _check_keep(model, keep)
    masked = copy.deepcopy(model)
    if isinstance(masked, LSTMModel):
        lstm, h = masked.lstm, masked.hidden_size
        gone = np.flatnonzero(~keep["lstm"])
        rows = torch.from_numpy(_lstm_rows(gone, h))
        cols = torch.from_numpy(gone)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(lstm, name)[rows] = 0
        lstm.weight_hh_l0[:, cols] = 0
        masked.head.weight[:, cols] = 0
        masked.initial_hidden[:, cols] = 0
        masked.initial_cell[:, cols] = 0
        return masked
    n = len(masked.arrays)
    for i, arr in enumerate(masked.arrays):
        gone = torch.from_numpy(np.flatnonzero(~keep[f"array{i}"]))
        c = arr.channels
        rows = torch.cat([gone, gone + c]) if arr.gated else gone
        arr.rechannel.weight[gone] = 0
        arr.head_rechannel.weight[:, gone] = 0
        for conv, mixer, one in zip(arr.convs, arr.mixers, arr.one_by_ones, strict=True):
            conv.weight[rows] = 0
            conv.bias[rows] = 0
            conv.weight[:, gone] = 0
            mixer.weight[rows] = 0
            one.weight[gone] = 0
            one.weight[:, gone] = 0
            one.bias[gone] = 0
        if i + 1 < n:
            masked.arrays[i + 1].rechannel.weight[:, gone] = 0
        if i > 0:
            prev = masked.arrays[i - 1].head_rechannel
            prev.weight[gone] = 0
            if prev.bias is not None:
                prev.bias[gone] = 0
    return masked


@torch.no_grad()
def trim(model: nn.Module, keep: Keep) -> nn.Module:
    """A smaller dense model holding only the kept units (same function as `mask_units`)."""
    _check_model(model)
    _check_keep(model, keep)
    device = next(model.parameters()).device
    if isinstance(model, LSTMModel):
        units = np.flatnonzero(keep["lstm"])
        rows = torch.from_numpy(_lstm_rows(units, model.hidden_size)).to(device)
        cols = torch.from_numpy(units).to(device)
        small = LSTMModel(len(units), model.input_size, model.residual, 1).to(device)
        src, dst = model.lstm, small.lstm
        dst.weight_ih_l0.copy_(src.weight_ih_l0[rows])
        dst.weight_hh_l0.copy_(src.weight_hh_l0[rows][:, cols])
        dst.bias_ih_l0.copy_(src.bias_ih_l0[rows])
        dst.bias_hh_l0.copy_(src.bias_hh_l0[rows])
        small.head.weight.copy_(model.head.weight[:, cols])
        small.head.bias.copy_(model.head.bias)
        small.initial_hidden.copy_(model.initial_hidden[:, cols])
        small.initial_cell.copy_(model.initial_cell[:, cols])
        return small.eval()
    n = len(model.arrays)
    idx = [torch.from_numpy(np.flatnonzero(keep[f"array{i}"])).to(device) for i in range(n)]
    layers = []
    for i, cfg in enumerate(model.layer_configs):
        cfg = copy.deepcopy(cfg)
        cfg["channels"] = len(idx[i])
        if i > 0:
            cfg["input_size"] = len(idx[i - 1])
        if i + 1 < n:
            cfg["head_size"] = len(idx[i + 1])
        layers.append(cfg)
    small = WaveNet(layers, head_scale=float(model.head_scale), input_size=model.input_size)
    small.to(device)
    for i, (src, dst) in enumerate(zip(model.arrays, small.arrays, strict=True)):
        own = idx[i]
        rows = torch.cat([own, own + src.channels]) if src.gated else own
        inputs = idx[i - 1] if i > 0 else torch.arange(model.input_size, device=device)
        heads = idx[i + 1] if i + 1 < n else torch.arange(1, device=device)
        dst.rechannel.weight.copy_(src.rechannel.weight[own][:, inputs])
        for a, b in zip(src.convs, dst.convs, strict=True):
            b.weight.copy_(a.weight[rows][:, own])
            b.bias.copy_(a.bias[rows])
        for a, b in zip(src.mixers, dst.mixers, strict=True):
            b.weight.copy_(a.weight[rows])
        for a, b in zip(src.one_by_ones, dst.one_by_ones, strict=True):
            b.weight.copy_(a.weight[own][:, own])
            b.bias.copy_(a.bias[own])
        dst.head_rechannel.weight.copy_(src.head_rechannel.weight[heads][:, own])
        if src.head_rechannel.bias is not None:
            dst.head_rechannel.bias.copy_(src.head_rechannel.bias[heads])
    return small.eval()


# ---- unit outputs on audio ------------------------------------------------------------------
def _probe_batch(clips: list[Clip], seconds: float, segments: int, warmup: int) -> torch.Tensor:
    """(segments, warmup + length, channels) excerpts spread evenly over the clips' audio."""
    audio = np.concatenate([c.input for c in clips]).astype(np.float32)
    rate = clips[0].sample_rate
    length = max(16, int(round(seconds * rate / segments))) + warmup
    if len(audio) < length:
        raise LeanampError(
            f"{len(audio)} validation samples are too few to score units on {segments} segments "
            f"of {length}: give more validation audio or lower probe_seconds"
        )
    starts = np.linspace(0, len(audio) - length, segments).astype(int)
    return torch.from_numpy(np.stack([audio[s : s + length] for s in starts]))


def _lstm_unroll(model: LSTMModel, x: torch.Tensor, perturb: bool):
    """Run the LSTM step by step; returns (y, h (B, T, H), perturbations added to each h_t).

    A zero perturbation e_t added to h_t reaches the head and the recurrence, so dL/de_t is the
    total derivative of the loss with respect to the unit outputs at time t.
    """
    lstm = model.lstm
    b, t, _ = x.shape
    h, c = (s[0] for s in model.start_state(b))
    x_part = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0
    hs, extra = [], []
    for step in range(t):
        gates = x_part[:, step] + h @ lstm.weight_hh_l0.T
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if perturb:
            e = torch.zeros_like(h, requires_grad=True)
            extra.append(e)
            h = h + e
        hs.append(h)
    hs = torch.stack(hs, dim=1)
    y = model.head(hs).squeeze(-1)
    if model.residual:
        y = y + x[..., 0]
    return y, hs, extra


def _wavenet_run(model: WaveNet, x: torch.Tensor, perturb: bool):
    """Full-width WaveNet forward that also returns every layer's output a (B, c, L) per array,
    with zero perturbations added to them when `perturb` (see `_lstm_unroll`)."""
    t = x.shape[1]
    xt = F.pad(x.transpose(1, 2), (model.receptive_field - 1, 0))
    z, head = xt, None
    outputs: list[list[torch.Tensor]] = []
    for arr in model.arrays:
        c = arr.channels
        z = F.conv1d(z, arr.rechannel.weight)
        layer_outputs = []
        for conv, mixer, one, d in zip(
            arr.convs, arr.mixers, arr.one_by_ones, arr.dilations, strict=True
        ):
            u = F.conv1d(z, conv.weight, conv.bias, dilation=d)
            length = u.shape[-1]
            u = u + F.conv1d(xt[..., -length:], mixer.weight)
            if arr.gated:
                a = arr.activation(u[:, :c]) * torch.sigmoid(u[:, c:])
            else:
                a = arr.activation(u)
            if perturb:
                e = torch.zeros_like(a, requires_grad=True)
                a = a + e
                layer_outputs.append(e)
            else:
                layer_outputs.append(a)
            tail = a[..., -t:]
            head = tail if head is None else head + tail
            z = z[..., -length:] + F.conv1d(a, one.weight, one.bias)
        head = arr.head_rechannel(head)
        outputs.append(layer_outputs)
    return model.head_scale * head[:, 0, :], outputs


def _unit_outputs(model: nn.Module, x: torch.Tensor, skip: int):
    """({group: (units, layers, samples) unit outputs}, model output (samples,)), both after
    the first `skip` samples of every segment."""
    with torch.no_grad():
        if isinstance(model, LSTMModel):
            h, _ = model.lstm(x, model.start_state(x.shape[0]))
            y = model(x)[0]
            units = h[:, skip:].permute(2, 0, 1).reshape(model.hidden_size, 1, -1)
            return {"lstm": units.cpu().numpy()}, y[:, skip:].reshape(-1).cpu().numpy()
        y, outputs = _wavenet_run(model, x, perturb=False)
        t = x.shape[1] - skip
        result = {}
        for i, layer_outputs in enumerate(outputs):
            stacked = torch.stack([a[..., -t:] for a in layer_outputs], dim=0)  # (L, B, c, t)
            c = stacked.shape[2]
            result[f"array{i}"] = stacked.permute(2, 0, 1, 3).reshape(c, len(layer_outputs), -1)
            result[f"array{i}"] = result[f"array{i}"].cpu().numpy()
        return result, y[:, skip:].reshape(-1).cpu().numpy()


def _unit_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, skip: int, loss_fn):
    model.zero_grad(set_to_none=True)
    if isinstance(model, LSTMModel):
        y, _, extra = _lstm_unroll(model, x, perturb=True)
        loss_fn(y[:, skip:], target[:, skip:]).backward()
        grads = torch.stack([e.grad for e in extra[skip:]], dim=1)  # (B, T, H)
        model.zero_grad(set_to_none=True)
        return {"lstm": grads.abs().mean(dim=(0, 1)).cpu().numpy()}
    y, outputs = _wavenet_run(model, x, perturb=True)
    t = x.shape[1] - skip
    loss_fn(y[:, skip:], target[:, skip:]).backward()
    result = {}
    for i, perturbations in enumerate(outputs):
        per_layer = [e.grad[..., -t:].abs().mean(dim=(0, 2)) for e in perturbations]
        result[f"array{i}"] = torch.stack(per_layer).mean(dim=0).cpu().numpy()
    model.zero_grad(set_to_none=True)
    return result


def _probe_target(clips: list[Clip], x_len: int, segments: int) -> torch.Tensor:
    target = np.concatenate([c.target for c in clips]).astype(np.float32)
    starts = np.linspace(0, len(target) - x_len, segments).astype(int)
    return torch.from_numpy(np.stack([target[s : s + x_len] for s in starts]))


def score_units(
    model: nn.Module,
    criterion: str,
    clips: list[Clip] | None = None,
    probe_seconds: float = 1.0,
    segments: int = 8,
    mi_target: str = "output",
    mi_samples: int = 20000,
    loss: str = "paper",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Per-unit scores of one criterion (see the module notes); low scores are trimmed first.

    Data-driven criteria run on `segments` excerpts of `clips` (validation audio) adding up to
    `probe_seconds`, each after a warm-up (1000 samples for an LSTM, the receptive field for a
    WaveNet) that is not scored.
    """
    _check_model(model)
    if criterion not in CRITERIA:
        raise LeanampError(f"unknown criterion {criterion!r}; choose one of {list(CRITERIA)}")
    if criterion == "magnitude":
        with torch.no_grad():
            if isinstance(model, LSTMModel):
                tensors = [_lstm_unit_tensors(model, j) for j in range(model.hidden_size)]
                return {"lstm": np.array([_norm(ts) for ts in tensors])}
            return {
                f"array{i}": np.array(
                    [_norm(_wavenet_unit_tensors(model, i, j)) for j in range(c)]
                )
                for i, c in enumerate(model.channels)
            }
    if not clips:
        raise LeanampError(f"the {criterion} criterion needs validation audio")
    if mi_target not in ("output", "input"):
        raise LeanampError(f"mi_target must be 'output' or 'input', got {mi_target!r}")
    skip = 1000 if isinstance(model, LSTMModel) else model.receptive_field - 1
    device = next(model.parameters()).device
    x = _probe_batch(clips, probe_seconds, segments, skip)
    was_training = model.training
    model.eval()
    try:
        if criterion == "gradient":
            target = _probe_target(clips, x.shape[1], segments).to(device)
            return _unit_gradients(model, x.to(device), target, skip, build_loss(loss))
        outputs, y = _unit_outputs(model, x.to(device), skip)
    finally:
        model.train(was_training)
    if criterion == "activation":
        return {g: np.abs(o).mean(axis=(1, 2)) for g, o in outputs.items()}
    reference = y if mi_target == "output" else x[:, skip:, 0].reshape(-1).numpy()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(reference), size=min(mi_samples, len(reference)), replace=False)
    scores = {}
    for g, o in outputs.items():
        # Each layer's output of the unit is scored; the unit's score is their mean.
        scores[g] = np.array(
            [
                np.mean([gaussian_copula_mi(o[j, k, picks], reference[picks])
                         for k in range(o.shape[1])])
                for j in range(o.shape[0])
            ]
        )  # fmt: skip
    return scores


def _norm(tensors: list[torch.Tensor]) -> float:
    return float(math.sqrt(sum(float((t.double() ** 2).sum()) for t in tensors)))


# ---- selection ----------------------------------------------------------------------------------
def normalize_scores(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each group's scores divided by the group's maximum (an all-zero group stays zero)."""
    out = {}
    for g, s in scores.items():
        s = np.asarray(s, dtype=np.float64)
        if np.any(~np.isfinite(s)) or np.any(s < 0):
            raise LeanampError(f"scores of {g!r} must be finite and non-negative")
        top = s.max() if s.size else 0.0
        out[g] = s / top if top > 0 else np.zeros_like(s)
    return out


def select_units(
    scores: dict[str, np.ndarray], fraction: float, selection: str = "global", min_units: int = 1
) -> Keep:
    """Which units stay after trimming `fraction` of them (rounded) by their scores.

    "global": scores normalised per group by the group's maximum, pooled, lowest trimmed overall.
    "local": the lowest `fraction` of every group. Ties trim the earlier unit first. Every group
    keeps at least `min_units`.
    """
    if selection not in SELECTIONS:
        raise LeanampError(f"unknown selection {selection!r}; choose one of {list(SELECTIONS)}")
    if not 0.0 <= fraction < 1.0:
        raise LeanampError(f"the trimming fraction must be within [0, 1), got {fraction}")
    normed = normalize_scores(scores)
    keep = {g: np.ones(len(s), dtype=bool) for g, s in normed.items()}
    if selection == "local":
        for g, s in normed.items():
            n = min(int(round(fraction * len(s))), max(0, len(s) - min_units))
            keep[g][np.argsort(s, kind="stable")[:n]] = False
        return keep
    pooled = [(float(v), gi, j) for gi, s in enumerate(normed.values()) for j, v in enumerate(s)]
    names = list(normed)
    budget = int(round(fraction * len(pooled)))
    for _, gi, j in sorted(pooled):
        if budget == 0:
            break
        g = names[gi]
        if keep[g].sum() <= min_units:
            continue
        keep[g][j] = False
        budget -= 1
    return keep


# ---- resources ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    name: str
    macs_per_sample: int
    memory_bytes: int


# The microcontroller-class figures, and a single Raspberry-Pi-class core's. Both are
# planning figures, not measurements; pass your own to `resources`.
MICROCONTROLLER = Budget("microcontroller", 160_000, 256 * 1024)
RASPBERRY_PI = Budget("raspberry-pi", 1_000_000, 256 * 1024 * 1024)


def macs_per_sample(model: nn.Module) -> int:
    """Multiply-adds per output sample of the streaming computation (matrix products only)."""
    _check_model(model)
    if isinstance(model, LSTMModel):
        h, i = model.hidden_size, model.input_size
        return 4 * h * (i + h) + h
    total = 0
    n = len(model.arrays)
    for k, arr in enumerate(model.arrays):
        c = arr.channels
        c_in = model.input_size if k == 0 else model.arrays[k - 1].channels
        c_mid = 2 * c if arr.gated else c
        head = model.arrays[k + 1].channels if k + 1 < n else 1
        total += c_in * c + c * head
        per_layer = arr.kernel_size * c * c_mid + model.input_size * c_mid + c * c
        total += len(arr.dilations) * per_layer
    return total


def memory_bytes(model: nn.Module) -> int:
    """float32 weights plus the streaming state (LSTM h and c; WaveNet per-layer histories)."""
    _check_model(model)
    weights = 4 * sum(p.numel() for p in model.parameters())
    if isinstance(model, LSTMModel):
        return weights + 4 * 2 * model.hidden_size
    state = model.receptive_field * model.input_size
    for arr in model.arrays:
        state += sum((arr.kernel_size - 1) * d * arr.channels for d in arr.dilations)
    return weights + 4 * state


def resources(
    model: nn.Module,
    rate: float = 48000.0,
    measure_rtf: bool = True,
    seconds: float = 1.0,
    repeats: int = 3,
    budgets: tuple[Budget, ...] = (MICROCONTROLLER, RASPBERRY_PI),
) -> dict:
    """Parameters, multiply-adds per sample, memory, real-time factors (the streaming kernel's
    fast mode on this machine: wall clock and thread CPU time, medians of `repeats`; None without
    `measure_rtf`) and which budgets the model fits by its multiply-adds and memory."""
    out = {
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "macs_per_sample": macs_per_sample(model),
        "memory_bytes": memory_bytes(model),
        "rtf": None,
        "rtf_cpu": None,
    }
    if measure_rtf:

        result = bench_models(
            {"m": copy.deepcopy(model).cpu().eval()}, rate=rate, seconds=seconds,
            repeats=repeats, modes=("fast",), with_torch=False,
        )[0]  # fmt: skip
        out["rtf"] = float(result.timings["fast"].rtf)
        # Thread CPU time over audio time: what another busy process on the machine disturbs least.
        out["rtf_cpu"] = float(result.timings["fast"].rtf_cpu)
    macs, memory = out["macs_per_sample"], out["memory_bytes"]
    out["fits"] = {
        b.name: macs <= b.macs_per_sample and memory <= b.memory_bytes for b in budgets
    }
    return out


# ---- the iterative procedure ------------------------------------------------------------------
@dataclass
class StructuredConfig:
    criterion: str = "magnitude"
    selection: str = "global"
    fraction: float = 0.25  # the paper's 25% of the remaining units per iteration
    iterations: int = 4
    rewind: str = "early"  # early | finetune | reinit
    rewind_epoch: int = 1  # "early": the weights after this many epochs of the first training
    pretrain_epochs: int = 20
    epochs_per_iteration: int = 10
    probe_seconds: float = 1.0
    mi_target: str = "output"
    measure_rtf: bool = True

    def __post_init__(self):
        if self.criterion not in CRITERIA:
            raise LeanampError(f"unknown criterion {self.criterion!r}; choose one of {CRITERIA}")
        if self.selection not in SELECTIONS:
            raise LeanampError(f"unknown selection {self.selection!r}; choose one of {SELECTIONS}")
        if self.rewind not in REWINDS:
            raise LeanampError(f"unknown rewind {self.rewind!r}; choose one of {REWINDS}")
        if not 0.0 < self.fraction < 1.0:
            raise LeanampError(f"--fraction must be within (0, 1), got {self.fraction}")
        if self.iterations < 1 or self.pretrain_epochs < 0 or self.epochs_per_iteration < 0:
            raise LeanampError(
                "need iterations >= 1, pretraining epochs >= 0 and epochs per iteration >= 0 "
                "(0: trim without retraining)"
            )
        if self.rewind == "early" and not 0 <= self.rewind_epoch <= self.pretrain_epochs:
            raise LeanampError(
                f"--rewind-epoch {self.rewind_epoch} must be within 0..{self.pretrain_epochs} "
                "(the pretraining epochs)"
            )


@dataclass
class StructuredResult:
    records: list[dict] = field(default_factory=list)
    models: list[nn.Module] = field(default_factory=list)  # one per record, best by validation
    run_dir: Path | None = None


def _train(model, train_clips, validation_clips, train_config, epochs, snapshot_epoch=None,
           stage: str = "train", show: bool = False, run_dir: Path | None = None):  # fmt: skip
    """Train for at most `epochs` with the trainer's recipe (`Trainer.fit`: validation every
    `validate_every` epochs, learning-rate drops, early stopping, time budget), so a trimmed run
    and a dense run of the same config train alike; returns (best validation ESR, the weights
    after `snapshot_epoch` epochs or None). The model ends with its best weights by validation
    loss, its untrained start included (`Trainer.fit_keeping_start`). `show`: a progress
    display. With `run_dir` the training checkpoints there (the snapshot too)
    and a killed one goes on from its last validation."""

    trainer = Trainer(model, train_clips, validation_clips, train_config, run_dir=run_dir,
                      progress=show)
    trainer.stage = stage
    snapshot_path = None if run_dir is None else run_dir / EARLY_SNAPSHOT_FILE
    snapshot = {}

    def keep_snapshot(epoch: int) -> None:
        if epoch == snapshot_epoch:
            snapshot[epoch] = copy.deepcopy(model.state_dict())
            if snapshot_path is not None:
                save_model(model, snapshot_path, {"sample_rate": trainer.sample_rate})

    if snapshot_path is not None and snapshot_path.exists():  # taken by a killed attempt
        snapshot[snapshot_epoch] = load_model(snapshot_path)[0].state_dict()
    else:
        keep_snapshot(0)
    trainer.after_epoch_hooks.append(keep_snapshot)
    _, best = trainer.fit_keeping_start(epochs, resume=run_dir is not None)
    return float(best["validation_esr"]), snapshot.get(snapshot_epoch)


def _compose(indices: dict[str, np.ndarray], keep: Keep) -> dict[str, np.ndarray]:
    return {g: idx[keep[g]] for g, idx in indices.items()}


def _keep_from_indices(model: nn.Module, indices: dict[str, np.ndarray]) -> Keep:
    keep = {g: np.zeros(n, dtype=bool) for g, n in unit_groups(model).items()}
    for g, idx in indices.items():
        keep[g][idx] = True
    return keep


def _fresh_like(model: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if isinstance(model, LSTMModel):
        return LSTMModel(model.hidden_size, model.input_size, model.residual, 1)
    cfg = model.config
    return WaveNet(cfg["layers"], head_scale=cfg["head_scale"], input_size=cfg["input_size"])


def _finished_iterations(run_dir: Path | None, config: StructuredConfig) -> list[dict]:
    """The records of the iterations a killed search in `run_dir` finished (empty: none)."""
    summary_path = None if run_dir is None else run_dir / "structured.json"
    if summary_path is None or not summary_path.exists():
        return []
    summary = json.loads(summary_path.read_text())
    if not all("kept" in r for r in summary["records"]):  # an older version's: start over
        return []
    if summary.get("config") != asdict(config):
        raise LeanampError(f"{run_dir} holds a structured search with other settings "
                           "(structured.json): use another folder, or the same settings to resume")
    return summary["records"]


def structured_prune(
    model: nn.Module,
    train_clips: list[Clip],
    validation_clips: list[Clip],
    config: StructuredConfig | None = None,
    train_config=None,
    run_dir: str | os.PathLike | None = None,
    progress=None,
) -> StructuredResult:
    """Structured lottery: train, then `iterations` times score units, trim the lowest
    `fraction`, rewind the kept units (early snapshot, current weights or a fresh init) and
    retrain. Record 0 is the trained full model (`model` itself, trained in place; pass
    pretrain_epochs=0 to start from an already trained model); record k the model after k trims.
    Every training keeps its best weights by validation loss, the untrained start included.

    With `run_dir`, each model goes to iteration_XX/model.leanamp (its training checkpoints in
    iteration_XX/train) and the records, with the units each kept, to structured.json: a search
    killed midway and started again with the same settings goes on from where it stopped.
    """

    config = config or StructuredConfig()
    train_config = train_config or TrainConfig()
    _check_model(model)
    run_dir = Path(run_dir) if run_dir is not None else None
    say = progress or (lambda message: None)
    rate = train_clips[0].sample_rate
    finished = _finished_iterations(run_dir, config)
    original = copy.deepcopy(model)
    snapshot_epoch = config.rewind_epoch if config.rewind == "early" else None

    def train_dir(level: int) -> Path | None:
        return None if run_dir is None else run_dir / f"iteration_{level:02d}" / "train"

    def saved_model(level: int) -> nn.Module:
        return load_model(run_dir / f"iteration_{level:02d}" / "model.leanamp")[0]

    if finished:
        say(f"resuming the structured search after iteration {finished[-1]['iteration']}")
        model.load_state_dict(saved_model(0).state_dict())
        val_esr = finished[0]["validation_esr"]
        early_path = train_dir(0) / EARLY_SNAPSHOT_FILE
        snapshot = load_model(early_path)[0].state_dict() if early_path.exists() else None
    else:
        if config.pretrain_epochs:
            say(f"training the untrimmed model for {config.pretrain_epochs} epochs "
                "(--pretrain-epochs; 0 keeps a given --model as it is)")  # fmt: skip
        val_esr, snapshot = _train(
            model, train_clips, validation_clips, train_config, config.pretrain_epochs,
            snapshot_epoch, "pretrain", progress is not None, train_dir(0),
        )  # fmt: skip
    early = None
    if snapshot is not None:
        early = copy.deepcopy(original)
        early.load_state_dict(snapshot)
    indices = {g: np.arange(n) for g, n in unit_groups(model).items()}
    result = StructuredResult(run_dir=run_dir)

    def record(level: int, current: nn.Module, esr_value: float) -> None:
        entry = {
            "iteration": level,
            "units": {g: int(len(i)) for g, i in indices.items()},
            # which of the full model's units (by index) the level kept: what resuming needs
            "kept": {g: [int(u) for u in i] for g, i in indices.items()},
            "validation_esr": esr_value,
            **resources(current, rate, measure_rtf=config.measure_rtf),
        }
        result.records.append(entry)
        result.models.append(current)
        say(f"iteration {level}: units {entry['units']}, validation ESR {esr_value:.4f}")
        if run_dir is not None:
            meta = {"sample_rate": rate, "structured": entry}
            save_model(current, run_dir / f"iteration_{level:02d}" / "model.leanamp", meta)
            summary = {"config": asdict(config), "records": result.records}
            write_text_atomic(run_dir / "structured.json", json.dumps(summary, indent=1))

    current = model
    for entry in finished:  # the levels a killed attempt finished, as they were
        indices = {g: np.asarray(i, dtype=np.int64) for g, i in entry["kept"].items()}
        current = model if entry["iteration"] == 0 else saved_model(entry["iteration"])
        result.records.append(entry)
        result.models.append(current)
    if not finished:
        record(0, model, val_esr)
    for level in range(len(result.records), config.iterations + 1):
        say(f"trim {level}/{config.iterations}: scoring units by {config.criterion}")
        scores = score_units(
            current, config.criterion, validation_clips, config.probe_seconds,
            mi_target=config.mi_target, loss=train_config.loss, seed=train_config.seed,
        )  # fmt: skip
        keep = select_units(scores, config.fraction, config.selection)
        indices = _compose(indices, keep)
        if config.rewind == "early":
            trimmed = trim(early, _keep_from_indices(early, indices))
        elif config.rewind == "finetune":
            trimmed = trim(current, keep)
        else:
            trimmed = _fresh_like(trim(current, keep), train_config.seed + level)
        trimmed.train()
        val_esr, _ = _train(
            trimmed, train_clips, validation_clips, train_config, config.epochs_per_iteration,
            stage=f"retrain after trim {level}/{config.iterations}", show=progress is not None,
            run_dir=train_dir(level),
        )  # fmt: skip
        current = trimmed
        record(level, current, val_esr)
    return result


def evaluate_esr(model: nn.Module, clips: list[Clip]) -> float:
    """ESR of `model` over `clips` pooled as one signal."""
    prediction = np.concatenate([run_model(model, c.input) for c in clips])
    target = np.concatenate([c.target for c in clips])
    return float(esr(prediction, target))
