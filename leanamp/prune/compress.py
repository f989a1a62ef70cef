"""Compression: turn a pruned (sparse) LSTM into a smaller dense one (section III-C).

Which hidden units can go, for the single-layer LSTMModel y = W_fc h + b_fc (+ x):

- Exactly removable (`removable_units`): units that cannot reach the output. A unit is live when
  its head weight is non-zero, or when it feeds (a non-zero column entry in any of the four gates
  of W_hh) a live unit; the rest are dead. Also dead: "silent" units, whose candidate-gate weights
  and biases are all zero and whose initial state is zero, so c stays 0 and h = o * tanh(0) = 0.
  Removing dead units changes no output sample: the compressed model equals the masked one to
  float rounding. The kept units keep their initial state (h0, c0), which belongs to the model.
- Foldable (`constant_units`): units whose incoming weights are all zero (their rows of W_ih and
  W_hh in all four gates). Their gates are constants sigmoid/tanh(b), so c[n] = f c[n-1] + i g
  converges geometrically (rate f) from c0 to c* = i g / (1 - f) and h to h* = o tanh(c*). Folding
  h* into the biases of the units they feed and into the head bias is exact only once settled:
  after a reset the folded model differs by a transient that lasts while the unit settles and
  then while the units it fed forget the difference (the network's own settling time; measured
  in tests/prune/test_compress.py: units settling in 14 and 19 samples give an output error of
  0.3 at first, below 1e-5 from sample 50 on).
  `compress(fold_constant_units=True)` therefore folds only units that settle to float32 precision
  within `max_settle_samples`, and `settle_samples` says how long each takes.

The weights used are the model's actual (masked) values; nothing is restored from an unpruned copy
(the trap in the paper's code, where compression brought pruned weights back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from leanamp.errors import LeanampError
from leanamp.models.lstm import (
    LSTMModel,
    effective_hidden_sizes,
    live_units,
    start_state_arrays,
)

# A settled unit's remaining distance to its fixed point, relative to float32 resolution.
SETTLE_TOLERANCE = 1e-8


def _check(model) -> None:
    if not isinstance(model, LSTMModel):
        raise LeanampError(f"compression needs an LSTMModel, got {type(model).__name__}")
    if model.num_layers != 1:
        raise LeanampError(
            f"compression supports single-layer LSTMs; this model has {model.num_layers} layers "
            "(leave it uncompressed, or prune and compress a single-layer model)"
        )


def _weights(model: LSTMModel) -> dict[str, np.ndarray]:
    lstm = model.lstm
    return {
        "w_ih": lstm.weight_ih_l0.detach().cpu().double().numpy(),
        "w_hh": lstm.weight_hh_l0.detach().cpu().double().numpy(),
        "b_ih": lstm.bias_ih_l0.detach().cpu().double().numpy(),
        "b_hh": lstm.bias_hh_l0.detach().cpu().double().numpy(),
        "head_w": model.head.weight.detach().cpu().double().numpy().reshape(-1),
        "head_b": model.head.bias.detach().cpu().double().numpy().reshape(-1),
    }


def _gates(a: np.ndarray, hidden: int) -> np.ndarray:
    """(4H, ...) PyTorch gate-stacked array -> (4, H, ...): gate order i, f, g, o."""
    return a.reshape(4, hidden, *a.shape[1:])


def removable_units(model: LSTMModel) -> np.ndarray:
    """Boolean (H,): True for units that cannot affect the output (exactly removable)."""
    _check(model)
    return ~live_units(model)[0]


def effective_hidden_size(model: LSTMModel) -> int:
    """Hidden units that can still affect the output (the size `compress` gives without folding)."""
    _check(model)
    return effective_hidden_sizes(model)[0]


def constant_units(model: LSTMModel) -> np.ndarray:
    """Boolean (H,): units with all-zero incoming weights (their h follows a fixed trajectory)."""
    _check(model)
    w = _weights(model)
    hidden = model.hidden_size
    rows_in = _gates(w["w_ih"], hidden)
    rows_rec = _gates(w["w_hh"], hidden)
    return ~np.any(rows_in != 0, axis=(0, 2)) & ~np.any(rows_rec != 0, axis=(0, 2))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class ConstantUnit:
    unit: int
    settled_h: float  # h* the unit converges to
    settle_samples: float  # samples until |c - c*| < SETTLE_TOLERANCE; inf if it never settles


def constant_unit_trajectories(model: LSTMModel) -> list[ConstantUnit]:
    """The fixed point and settling time (from the model's initial state) of every unit with
    all-zero incoming weights."""
    w = _weights(model)
    hidden = model.hidden_size
    bias = _gates(w["b_ih"] + w["b_hh"], hidden)
    c0 = start_state_arrays(model)[1][0]
    result = []
    for unit in np.flatnonzero(constant_units(model)):
        i, f, o = (_sigmoid(bias[k, unit]) for k in (0, 1, 3))
        g = math.tanh(bias[2, unit])
        if i * g != 0 and f >= 1.0 - 1e-12:
            result.append(ConstantUnit(int(unit), math.nan, math.inf))  # c grows without bound
            continue
        c_star = 0.0 if i * g == 0 else i * g / (1.0 - f)
        # c[n] - c* = (c0 - c*) f^n
        distance = abs(c0[unit] - c_star)
        if distance == 0:
            samples = 0.0
        elif f >= 1.0 - 1e-12:
            samples = math.inf
        elif f == 0:
            samples = 1.0
        else:
            samples = math.ceil(max(1.0, math.log(SETTLE_TOLERANCE / distance) / math.log(f)))
        result.append(ConstantUnit(int(unit), o * math.tanh(c_star), samples))
    return result


def count_parameters(model: LSTMModel) -> dict[str, int]:
    """All parameters (LSTM weights and both bias vectors, head) and the non-zero ones."""
    tensors = [p.detach() for p in model.parameters()]
    return {
        "parameters": int(sum(t.numel() for t in tensors)),
        "nonzero_parameters": int(sum(int((t != 0).sum()) for t in tensors)),
    }


@torch.no_grad()
def compress(
    model: LSTMModel, fold_constant_units: bool = False, max_settle_samples: int = 480
) -> LSTMModel:
    """A smaller dense LSTMModel computing the same output as `model` (a pruned model).

    Drops the units that cannot affect the output (exact), cutting the initial state with them.
    With `fold_constant_units`, also folds
    units with all-zero incoming weights into biases when they settle within `max_settle_samples`
    samples (exact after that many samples from a reset; see the module notes).
    """
    _check(model)
    w = _weights(model)
    hidden = model.hidden_size
    keep = ~removable_units(model)
    b_ih, head_b = w["b_ih"].copy(), w["head_b"].copy()
    if fold_constant_units:
        w_hh_gates = _gates(w["w_hh"], hidden)
        for unit in constant_unit_trajectories(model):
            if not keep[unit.unit] or unit.settle_samples > max_settle_samples:
                continue
            # Its settled h enters every gate k through W_hh[:, unit] and the head through W_fc.
            b_ih += (w_hh_gates[:, :, unit.unit] * unit.settled_h).reshape(-1)
            head_b += w["head_w"][unit.unit] * unit.settled_h
            keep[unit.unit] = False
    units = np.flatnonzero(keep)
    rows = (np.arange(4)[:, None] * hidden + units[None, :]).reshape(-1)
    small = LSTMModel(
        hidden_size=max(1, len(units)),
        input_size=model.input_size,
        residual=model.residual,
        num_layers=1,
    )
    new = {
        "weight_ih_l0": w["w_ih"][rows],
        "weight_hh_l0": w["w_hh"][np.ix_(rows, units)],
        "bias_ih_l0": b_ih[rows],
        "bias_hh_l0": w["b_hh"][rows],
    }
    head_w = w["head_w"][units]
    hidden0, cell0 = (s[0, units] for s in start_state_arrays(model))
    if len(units) == 0:
        # Nothing reaches the output: the model is the constant head bias (plus the residual).
        # One all-zero unit is silent (c = h = 0 forever), which keeps the architecture valid.
        new = {k: np.zeros_like(getattr(small.lstm, k).detach().numpy()) for k in new}
        head_w = np.zeros(1)
        hidden0, cell0 = np.zeros(1), np.zeros(1)
    small.set_start_state(hidden0[None], cell0[None])
    dtype = model.lstm.weight_ih_l0.dtype
    for name, value in new.items():
        getattr(small.lstm, name).copy_(torch.from_numpy(np.ascontiguousarray(value)).to(dtype))
    small.head.weight.copy_(torch.from_numpy(head_w.reshape(1, -1)).to(dtype))
    small.head.bias.copy_(torch.from_numpy(head_b).to(dtype))
    return small.to(next(model.parameters()).device).eval()


@dataclass
class CompressionSummary:
    hidden_size: int
    effective_hidden_size: int
    compressed_hidden_size: int
    parameters: int  # dense parameter count of the uncompressed model
    nonzero_parameters: int  # of the uncompressed (masked) model
    compressed_parameters: int  # dense parameter count after compression
    compressed_nonzero_parameters: int
    constant_units: int  # units with all-zero incoming weights among the live ones
    folded_units: int

    def describe(self) -> str:
        return (
            f"hidden size {self.hidden_size} -> {self.compressed_hidden_size} "
            f"(effective {self.effective_hidden_size}; {self.constant_units} live units with no "
            f"input, {self.folded_units} folded); parameters {self.parameters} "
            f"({self.nonzero_parameters} non-zero) -> {self.compressed_parameters} "
            f"({self.compressed_nonzero_parameters} non-zero)"
        )


def summarize(model: LSTMModel, compressed: LSTMModel) -> CompressionSummary:
    before, after = count_parameters(model), count_parameters(compressed)
    live = ~removable_units(model)
    effective = int(live.sum())
    return CompressionSummary(
        hidden_size=model.hidden_size,
        effective_hidden_size=effective,
        compressed_hidden_size=compressed.hidden_size if effective else 0,
        parameters=before["parameters"],
        nonzero_parameters=before["nonzero_parameters"],
        compressed_parameters=after["parameters"],
        compressed_nonzero_parameters=after["nonzero_parameters"],
        constant_units=int((constant_units(model) & live).sum()),
        folded_units=max(0, effective - (compressed.hidden_size if effective else 0)),
    )
