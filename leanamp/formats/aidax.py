"""AIDA-X (.json / .aidax) and RTNeural's keras-style JSON model files.

{"in_shape": [null, null, N], "in_skip": 0|1, "layers": [
  {"type": "lstm", "activation": "", "shape": [null, null, H],
   "weights": [W_ih^T (N x 4H), W_hh^T (H x 4H), b_ih + b_hh (4H)]},
  {"type": "dense", "activation": "", "shape": [null, null, 1], "weights": [W^T (H x 1), b (1)]}],
 "metadata": {...}}
RTNeural's gate order (i, f, c, o) is PyTorch's (i, f, g, o): weights are transposed, never
permuted. A missing "in_skip" means no residual path (the AIDA-X example's own test vector,
input_batch -> output_batch, only matches without it). AIDA-X runs a single LSTM of hidden size
in SUPPORTED_HIDDEN with 1 to 3 inputs, so exports are padded up exactly with zero units.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from torch import nn

from leanamp.errors import ModelFileError
from leanamp.files import atomic_path
from leanamp.formats.common import (
    MAX_HIDDEN_SIZE,
    MAX_INPUT_SIZE,
    MAX_LSTM_LAYERS,
    as_float_list,
    build_lstm,
    check_finite_output,
    check_int,
    drop_start_state,
    float_array,
    lstm_arrays,
    padded_lstm,
    probe_signal,
    read_json_file,
    require,
    require_lstm,
    verify_export,
)
from leanamp.inference import run_model
from leanamp.models.lstm import LSTMModel

WHAT = "AIDA-X / RTNeural JSON model"
SUPPORTED_HIDDEN = (8, 12, 16, 20, 24, 32, 40, 64, 80)
SUPPORTED_INPUTS = range(1, 4)
DEFAULT_SAMPLE_RATE = 48000
# Metadata keys AIDA-X shows; leanamp metadata keys map onto them.
_METADATA_KEYS = {
    "name": "name",
    "author": "author",
    "modeled_by": "author",
    "style": "style",
    "tone_type": "style",
    "based": "based",
    "gear_model": "based",
    "license": "license",
    "source": "source",
    "dataset": "dataset",
}


def is_aidax(data: dict) -> bool:
    return "layers" in data and "in_shape" in data


def load_aidax(path: str | os.PathLike) -> tuple[LSTMModel, dict]:
    """Read an AIDA-X / RTNeural JSON LSTM model; returns (LSTMModel in eval mode, metadata).

    When the file carries its own test vector (input_batch / output_batch) it is stored in the
    metadata as "test_vector_max_error": the model's max abs error on it.
    """
    path = Path(path)
    data = read_json_file(path, WHAT)
    return aidax_from_dict(data, path)


def _sample_rate(meta: dict, path: Path) -> float:
    value = meta.get("samplerate", meta.get("sample_rate", DEFAULT_SAMPLE_RATE))
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ModelFileError(f"{path}: metadata samplerate {value!r} is not a number") from None
    if not 8000 <= rate <= 384000:
        raise ModelFileError(f"{path}: metadata samplerate {rate:g} Hz is not a usable rate")
    return int(rate) if rate.is_integer() else rate


def aidax_from_dict(data: dict, path: Path) -> tuple[LSTMModel, dict]:
    in_shape = require(data, "in_shape", path, "the file")
    if not isinstance(in_shape, list) or not in_shape:
        raise ModelFileError(f"{path}: in_shape must be a list like [null, null, 1]")
    input_size = check_int(in_shape[-1], "in_shape[-1]", path, 1, MAX_INPUT_SIZE)
    skip = check_int(data.get("in_skip", 0), "in_skip", path, 0, 1)
    layers = require(data, "layers", path, "the file")
    if not isinstance(layers, list) or len(layers) < 2:
        raise ModelFileError(f"{path}: layers must list the LSTM layer(s) then one dense layer")
    if len(layers) > MAX_LSTM_LAYERS + 1:
        raise ModelFileError(f"{path}: {len(layers)} layers is more than leanamp supports")
    lstm_layers = []
    size_in = input_size
    for k, layer in enumerate(layers[:-1]):
        where = f"layers[{k}]"
        kind = require(layer, "type", path, where)
        if kind != "lstm":
            raise ModelFileError(
                f"{path}: {where} has type {kind!r}; leanamp imports LSTM models (one or more "
                "'lstm' layers followed by one 'dense' layer)"
            )
        shape = require(layer, "shape", path, where)
        if not isinstance(shape, list) or not shape:
            raise ModelFileError(f"{path}: {where}.shape must be a list like [null, null, H]")
        hidden = check_int(shape[-1], f"{where}.shape[-1]", path, 1, MAX_HIDDEN_SIZE)
        if lstm_layers and hidden != lstm_layers[0][1].shape[1]:
            raise ModelFileError(
                f"{path}: stacked LSTM layers of different sizes are not supported"
            )
        weights = require(layer, "weights", path, where)
        if not isinstance(weights, list) or len(weights) != 3:
            raise ModelFileError(
                f"{path}: {where}.weights must hold [W_ih^T, W_hh^T, bias] (3 arrays)"
            )
        w_ih = float_array(weights[0], (size_in, 4 * hidden), f"{where}.weights[0]", path)
        w_hh = float_array(weights[1], (hidden, 4 * hidden), f"{where}.weights[1]", path)
        bias = float_array(weights[2], (4 * hidden,), f"{where}.weights[2]", path)
        lstm_layers.append((w_ih.T.copy(), w_hh.T.copy(), bias, np.zeros_like(bias)))
        size_in = hidden
    dense = layers[-1]
    where = f"layers[{len(layers) - 1}]"
    if require(dense, "type", path, where) != "dense":
        raise ModelFileError(f"{path}: the last layer must be 'dense' (the output layer)")
    activation = dense.get("activation", "")
    if activation not in ("", "linear", None):
        raise ModelFileError(
            f"{path}: output layer activation {activation!r} is not supported (only linear)"
        )
    weights = require(dense, "weights", path, where)
    if not isinstance(weights, list) or len(weights) != 2:
        raise ModelFileError(f"{path}: {where}.weights must hold [W^T, bias] (2 arrays)")
    head_w = float_array(weights[0], (size_in, 1), f"{where}.weights[0]", path)
    head_b = float_array(weights[1], (1,), f"{where}.weights[1]", path)
    model = build_lstm(lstm_layers, head_w[:, 0].copy(), head_b[0], residual=bool(skip))
    file_meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    metadata = {
        "format": "aidax",
        "source_file": path.name,
        "sample_rate": _sample_rate(file_meta, path),
        "aidax_metadata": file_meta,
    }
    if isinstance(file_meta.get("name"), str):
        metadata["name"] = file_meta["name"]
    if isinstance(file_meta.get("esr"), (int, float)):
        metadata["training_esr"] = float(file_meta["esr"])
    if "input_batch" in data and "output_batch" in data:
        metadata["test_vector_max_error"] = _test_vector_error(model, data, path)
    check_finite_output(model, path, metadata["sample_rate"])
    return model, metadata


def _test_vector_error(model: LSTMModel, data: dict, path: Path) -> float:
    x = data["input_batch"]
    n = len(x) if isinstance(x, list) else -1
    if n < 1 or n > 10_000_000:
        raise ModelFileError(f"{path}: input_batch must be a non-empty list of samples")
    flat = model.input_size == 1 and not isinstance(x[0], list)
    shape = (n,) if flat else (n, model.input_size)
    x = float_array(x, shape, "input_batch", path).reshape(n, -1).astype(np.float32)
    y = float_array(data["output_batch"], (n,), "output_batch", path)
    return float(np.max(np.abs(run_model(model, x) - y)))


def aidax_dict(model: LSTMModel, metadata: dict | None = None) -> dict:
    """The AIDA-X JSON object for `model` as it is (no padding)."""
    layers = []
    for k in range(model.num_layers):
        w_ih, w_hh, bias = lstm_arrays(model, k)
        layers.append(
            {
                "type": "lstm",
                "activation": "",
                "shape": [None, None, model.hidden_size],
                "weights": [as_float_list(w_ih.T), as_float_list(w_hh.T), as_float_list(bias)],
            }
        )
    head_w = model.head.weight.detach().cpu().double().numpy().T
    layers.append(
        {
            "type": "dense",
            "activation": "",
            "shape": [None, None, 1],
            "weights": [as_float_list(head_w), as_float_list(model.head.bias)],
        }
    )
    metadata = metadata or {}
    meta = {"samplerate": str(int(metadata.get("sample_rate") or DEFAULT_SAMPLE_RATE))}
    for key, target in _METADATA_KEYS.items():
        if isinstance(metadata.get(key), str) and target not in meta:
            meta[target] = metadata[key]
    esr_value = metadata.get("validation_esr", metadata.get("training_esr"))
    if isinstance(esr_value, (int, float)):
        meta["esr"] = float(esr_value)
    meta["source"] = meta.get("source", "leanamp")
    return {
        "in_shape": [None, None, model.input_size],
        "in_skip": int(model.residual),
        "layers": layers,
        "metadata": meta,
    }


def export_aidax(
    model: nn.Module, path: str | os.PathLike, metadata: dict | None = None
) -> Path:
    """Write `model` for AIDA-X (.json or .aidax: same content), padding its hidden size up
    exactly to the next size AIDA-X supports. Refuses sizes above 80, more than one layer and
    more than two knobs. The file is loaded back and must match within 1e-5."""
    path = Path(path)
    model = require_lstm(model, "AIDA-X")
    if model.num_layers != 1:
        raise ModelFileError(
            f"{path}: AIDA-X runs a single LSTM layer; this model has {model.num_layers}"
        )
    if model.input_size not in SUPPORTED_INPUTS:
        raise ModelFileError(
            f"{path}: AIDA-X takes the audio plus at most 2 knobs (input size 1..3); this model "
            f"has input size {model.input_size}"
        )
    target = next((h for h in SUPPORTED_HIDDEN if h >= model.hidden_size), None)
    if target is None:
        raise ModelFileError(
            f"{path}: AIDA-X runs LSTMs of hidden size at most {SUPPORTED_HIDDEN[-1]}; this "
            f"model has {model.hidden_size}. Prune it (leanamp prune) to {SUPPORTED_HIDDEN[-1]} "
            "units or fewer"
        )
    sample_rate = float((metadata or {}).get("sample_rate") or DEFAULT_SAMPLE_RATE)
    model = drop_start_state(model, path, "AIDA-X", sample_rate)
    export = padded_lstm(model, target) if target != model.hidden_size else model
    data = aidax_dict(export, metadata)
    x = probe_signal(float(data["metadata"]["samplerate"]), model.input_size)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data))
        reloaded, _ = load_aidax(tmp)
        verify_export(path, lambda s: run_model(model, s), lambda s: run_model(reloaded, s), x)
    return path
