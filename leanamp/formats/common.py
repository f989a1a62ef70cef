"""What every plugin-format reader and writer shares: safe JSON reading, checked arrays, LSTM
padding to a player's fixed size, a standard test signal and the exporters' self-check.

Model files are data from strangers: they are parsed with `json` only (never unpickled), sizes
are checked before anything is allocated, and every failure is a ModelFileError naming the file.
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leanamp.errors import DataWarning, ModelFileError
from leanamp.inference import run_model
from leanamp.models.lstm import (  # noqa: F401  (the limits are re-exported to the formats)
    MAX_HIDDEN_SIZE,
    MAX_INPUT_SIZE,
    MAX_LSTM_LAYERS,
    LSTMModel,
    start_state_arrays,
)

# A real .nam is at most a few MB (NAM's A2 is 0.7 MB); 64 MB leaves room and bounds memory.
MAX_FILE_BYTES = 64 * 1024 * 1024
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Exported files must reproduce the model within this (max abs difference on the test signal).
EXPORT_TOLERANCE = 1e-5

_PICKLE_PROTOCOL_BYTE = 0x80


def read_json_file(path: str | os.PathLike, what: str) -> dict:
    """Parse `path` as a JSON object, refusing anything that is not one with a clear error.

    `what` names the expected format in messages (e.g. "NAM .nam file").
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if not path.is_file():
        raise ModelFileError(f"{path}: is not a file (give the path of a {what})")
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"{path}: the file is empty, not a {what}")
    if size > MAX_FILE_BYTES:
        raise ModelFileError(
            f"{path}: {size / 1e6:.0f} MB is far larger than any {what} "
            f"(limit {MAX_FILE_BYTES // 2**20} MiB); check that this is the right file"
        )
    raw = path.read_bytes()
    if raw[0] == _PICKLE_PROTOCOL_BYTE or raw[:2] == b"PK":
        raise ModelFileError(
            f"{path}: this is a pickled / zipped PyTorch checkpoint, not a {what}. leanamp never "
            "unpickles files (that can run arbitrary code); export the model to JSON in the tool "
            "that trained it"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not a text file, so not a {what}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ModelFileError(f"{path}: JSON nested too deeply to be a {what}") from None
    except ValueError as e:
        raise ModelFileError(f"{path}: not valid JSON ({e}); expected a {what}") from None
    if not isinstance(data, dict):
        raise ModelFileError(
            f"{path}: the JSON holds a {type(data).__name__}, but a {what} is a JSON object"
        )
    return data


def require(mapping: object, key: str, path: Path, where: str) -> object:
    """`mapping[key]`, or a ModelFileError saying which key is missing where."""
    if not isinstance(mapping, dict):
        raise ModelFileError(f"{path}: {where} must be a JSON object, got {type(mapping).__name__}")
    if key not in mapping:
        raise ModelFileError(f"{path}: missing key {key!r} in {where}")
    return mapping[key]


def check_int(value: object, name: str, path: Path, low: int, high: int) -> int:
    """An integer within [low, high] (JSON floats like 20.0 accepted), else ModelFileError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFileError(f"{path}: {name} must be an integer, got {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ModelFileError(f"{path}: {name} must be an integer, got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ModelFileError(
            f"{path}: {name} = {value} is outside the supported range {low}..{high}"
        )
    return value


def float_array(value: object, shape: tuple[int, ...], name: str, path: Path) -> np.ndarray:
    """Nested JSON lists as a finite float64 array of exactly `shape`, else ModelFileError."""
    # Check the outer length first so a wrong (possibly huge) list is refused before converting.
    if not isinstance(value, list) or len(value) != shape[0]:
        count = len(value) if isinstance(value, list) else type(value).__name__
        raise ModelFileError(f"{path}: {name} has {count} entries, expected shape {shape}")
    try:
        # No dtype here: numpy would turn strings like "0.5" into numbers; only accept numbers.
        array = np.asarray(value)
    except (ValueError, TypeError):
        array = None
    if array is None or array.dtype.kind not in "iuf":
        raise ModelFileError(
            f"{path}: {name} must be an array of numbers of shape {shape}"
        )
    array = array.astype(np.float64)
    if array.shape != tuple(shape):
        raise ModelFileError(
            f"{path}: {name} has shape {array.shape}, expected {tuple(shape)}"
        )
    if not np.isfinite(array).all():
        raise ModelFileError(f"{path}: {name} contains NaN or infinite values")
    # Models run in float32: a finite 1e308 would become inf there.
    if np.abs(array).max(initial=0.0) > FLOAT32_MAX:
        raise ModelFileError(
            f"{path}: {name} holds values beyond float32's range (|w| > {FLOAT32_MAX:.3g}): "
            "the file is damaged; export the model again"
        )
    return array


def as_float_list(array: np.ndarray | torch.Tensor) -> list:
    """Nested lists of Python floats (float32 values printed exactly by json)."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float32).astype(np.float64).tolist()


def padded_lstm(model: LSTMModel, hidden_size: int) -> LSTMModel:
    """A copy of `model` with `hidden_size` units: the extra units have all weights zero.

    Exact: a unit with zero input, recurrent and bias weights has i = f = o = 0.5 and g = 0, so
    its cell and hidden values stay 0 forever (its initial state is 0); zero head (and next-layer)
    weights ignore it.
    """
    if hidden_size < model.hidden_size:
        raise ValueError(f"cannot pad hidden size {model.hidden_size} down to {hidden_size}")
    padded = LSTMModel(
        hidden_size=hidden_size,
        input_size=model.input_size,
        residual=model.residual,
        num_layers=model.num_layers,
    )
    old_h, new_h = model.hidden_size, hidden_size
    with torch.no_grad():
        for param in padded.parameters():
            param.zero_()
        for layer in range(model.num_layers):
            for gate in range(4):
                rows_old = slice(gate * old_h, (gate + 1) * old_h)
                rows_new = slice(gate * new_h, gate * new_h + old_h)
                src_ih = getattr(model.lstm, f"weight_ih_l{layer}")
                dst_ih = getattr(padded.lstm, f"weight_ih_l{layer}")
                in_cols = src_ih.shape[1]
                dst_ih[rows_new, :in_cols] = src_ih[rows_old]
                getattr(padded.lstm, f"weight_hh_l{layer}")[rows_new, :old_h] = getattr(
                    model.lstm, f"weight_hh_l{layer}"
                )[rows_old]
                for bias in ("bias_ih", "bias_hh"):
                    getattr(padded.lstm, f"{bias}_l{layer}")[rows_new] = getattr(
                        model.lstm, f"{bias}_l{layer}"
                    )[rows_old]
        padded.head.weight[:, :old_h] = model.head.weight
        padded.head.bias.copy_(model.head.bias)
        padded.initial_hidden[:, :old_h] = model.initial_hidden
        padded.initial_cell[:, :old_h] = model.initial_cell
    return padded.to(next(model.parameters()).device).train(model.training)


def probe_signal(sample_rate: float, input_size: int = 1, seconds: float = 0.1) -> np.ndarray:
    """A deterministic guitar-like signal (time, input_size) for checking exported files.

    Decaying harmonic notes from E2 upward with a loud attack and a quiet tail, so both the
    nonlinear and the near-linear regime are exercised; knob channels hold fixed values spread
    over 0..1 so conditioning weights matter too.
    """
    n = max(int(round(seconds * float(sample_rate))), 64)
    t = np.arange(n) / float(sample_rate)
    audio = np.zeros(n)
    for k, (freq, start, amp) in enumerate(
        [(82.4, 0.0, 0.7), (196.0, 0.02, 0.4), (329.6, 0.04, 0.25), (659.3, 0.06, 0.5)]
    ):
        active = t >= start
        tt = t[active] - start
        note = sum(
            np.sin(2 * np.pi * freq * h * tt + k) / h**1.5 for h in range(1, 6)
        )
        audio[active] += amp * np.exp(-tt * (6.0 + 2.0 * k)) * note
    audio *= 0.8 / np.max(np.abs(audio))
    columns = [audio] + [
        np.full(n, (j + 1) / (input_size + 1)) for j in range(1, input_size)
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def verify_export(
    path: Path,
    reference: Callable[[np.ndarray], np.ndarray],
    reloaded: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
) -> float:
    """Compare the model with its reloaded file on `x`; raise if they differ by > tolerance.

    Called inside `atomic_path`, so a failing file is never put in place. Returns the measured
    max abs difference.
    """
    diff = float(np.max(np.abs(reference(x) - reloaded(x))))
    if not diff <= EXPORT_TOLERANCE:
        raise ModelFileError(
            f"{path}: the written file does not reproduce the model (max abs difference "
            f"{diff:.3g} > {EXPORT_TOLERANCE:g} on the test signal); nothing was written. "
            "This is a leanamp bug: please report it with the model file"
        )
    return diff


def check_finite_output(model: nn.Module, path: Path, sample_rate: float | None) -> None:
    """Refuse a model whose output on the probe signal is NaN or infinite (weights that overflow
    in float32), so the model file is blamed, not the audio written from it later."""
    input_size = int(getattr(model, "config", {}).get("input_size", 1))
    y = run_model(model, probe_signal(sample_rate or 48000, input_size))
    if not np.isfinite(y).all():
        raise ModelFileError(
            f"{path}: the model's output on a test signal is NaN or infinite: its weights are "
            "unusable (damaged, or far out of range); export the model again"
        )
def drop_start_state(model: LSTMModel, path: Path, fmt: str, sample_rate: float) -> LSTMModel:
    """`model` as a file without an initial LSTM state (AIDA-X, Proteus) holds it: from zeros.

    A model with its own state (an imported NAM LSTM) differs from that only while the zero
    state is forgotten; the export goes on, with a DataWarning giving the difference measured on
    the test signal (largest, and from which sample on it stays within the export tolerance).
    """
    hidden, cell = start_state_arrays(model)
    if not (hidden.any() or cell.any()):
        return model
    stateless = copy.deepcopy(model)
    with torch.no_grad():
        stateless.initial_hidden.zero_()
        stateless.initial_cell.zero_()
    x = probe_signal(sample_rate, model.input_size)
    diff = np.abs(run_model(model, x) - run_model(stateless, x))
    over = np.flatnonzero(diff > EXPORT_TOLERANCE)
    if over.size == 0 or over[-1] + 1 < len(diff):
        settled = over[-1] + 1 if over.size else 0
        after = (
            f"within {EXPORT_TOLERANCE:g} from sample {settled} "
            f"({1000 * settled / sample_rate:.1f} ms) on"
        )
    else:
        after = f"still {diff[-1]:.3g} at the end of the {len(diff)}-sample test signal"
    warnings.warn(
        f"{path}: {fmt} files cannot store the LSTM's initial state, so the player starts from "
        f"zeros where this model starts from its own state: the output differs by up to "
        f"{diff.max():.3g}, {after}. Export to NAM (.nam) to keep the state",
        DataWarning,
        stacklevel=3,
    )
    return stateless


def esr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Error-to-signal ratio sum((y - y_hat)^2) / sum(y^2)."""
    return float(np.sum((reference - estimate) ** 2) / max(np.sum(reference**2), 1e-30))


def build_lstm(
    layers: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    head_weight: np.ndarray,
    head_bias: float,
    residual: bool,
) -> LSTMModel:
    """An LSTMModel from per-layer (W_ih (4H, in), W_hh (4H, H), b_ih (4H), b_hh (4H)) arrays
    in PyTorch's gate order i, f, g, o, and the head's weight (H,) and bias."""
    w_ih0 = layers[0][0]
    hidden_size = layers[0][1].shape[1]
    model = LSTMModel(
        hidden_size=hidden_size,
        input_size=w_ih0.shape[1],
        residual=residual,
        num_layers=len(layers),
    )
    with torch.no_grad():
        for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(layers):
            for name, value in (
                ("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)
            ):
                getattr(model.lstm, f"{name}_l{k}").copy_(torch.from_numpy(value))
        model.head.weight.copy_(torch.from_numpy(head_weight).reshape(1, hidden_size))
        model.head.bias.fill_(float(head_bias))
    return model.eval()


def lstm_arrays(model: LSTMModel, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W_ih, W_hh, b_ih + b_hh) of one layer as float64 numpy arrays (PyTorch layout)."""
    get = lambda name: getattr(model.lstm, f"{name}_l{layer}").detach().cpu().double().numpy()  # noqa: E731
    return get("weight_ih"), get("weight_hh"), get("bias_ih") + get("bias_hh")


def require_lstm(model: nn.Module, fmt: str) -> LSTMModel:
    if not isinstance(model, LSTMModel):
        raise ModelFileError(
            f"{fmt} files hold LSTM models; this model is a {type(model).__name__} "
            f"({getattr(model, 'architecture', '?')}). Export it to a format that supports it "
            "(WaveNet: NAM .nam)"
        )
    return model
