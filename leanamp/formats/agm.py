"""Automated-GuitarAmpModelling JSON: the files GuitarML Proteus and NeuralPi load.

{"model_data": {"model": "SimpleRNN", "input_size": N, "skip": 1, "output_size": 1,
"unit_type": "LSTM", "num_layers": 1, "hidden_size": H, "bias_fl": true}, "state_dict":
{"rec.weight_ih_l0": [4H][N], "rec.weight_hh_l0": [4H][H], "rec.bias_ih_l0": [4H],
"rec.bias_hh_l0": [4H], "lin.weight": [1][H], "lin.bias": [1]}}; y = lin(lstm(x)) + x[..., 0]
when skip is 1. Channels 1.. of the input are knob values in 0..1.

The players are compiled for one hidden size (Proteus 40, NeuralPi 20) and always add the input
to the output, so exports for them are padded up exactly with zero units and refuse models that
are larger or have no residual path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    padded_lstm,
    probe_signal,
    read_json_file,
    require,
    require_lstm,
    verify_export,
)
from leanamp.inference import run_model
from leanamp.models.lstm import LSTMModel

WHAT = "Automated-GuitarAmpModelling JSON model (Proteus / NeuralPi)"
PLAYER_NAMES = {"proteus": "Proteus", "neuralpi": "NeuralPi"}
# Player name -> (hidden size it is compiled for, allowed input sizes).
PLAYERS: dict[str, tuple[int, range]] = {
    "proteus": (40, range(1, 4)),
    "neuralpi": (20, range(1, 4)),
}
# AGM files do not record a sample rate; GuitarML's players and datasets run at 44.1 kHz.
DEFAULT_SAMPLE_RATE = 44100


def is_agm(data: dict) -> bool:
    return "model_data" in data


def load_agm(path: str | os.PathLike) -> tuple[LSTMModel, dict]:
    """Read an AGM / Proteus / NeuralPi JSON model; returns (LSTMModel in eval mode, metadata)."""
    path = Path(path)
    data = read_json_file(path, WHAT)
    return agm_from_dict(data, path)


def agm_from_dict(data: dict, path: Path) -> tuple[LSTMModel, dict]:
    model_data = require(data, "model_data", path, "the file")
    state = require(data, "state_dict", path, "the file")
    unit = require(model_data, "unit_type", path, "model_data")
    if unit != "LSTM":
        raise ModelFileError(
            f"{path}: unit_type {unit!r} is not supported; leanamp imports LSTM models only"
        )
    check_int(model_data.get("output_size", 1), "output_size", path, 1, 1)
    input_size = check_int(
        require(model_data, "input_size", path, "model_data"), "input_size", path, 1,
        MAX_INPUT_SIZE,
    )
    hidden = check_int(
        require(model_data, "hidden_size", path, "model_data"), "hidden_size", path, 1,
        MAX_HIDDEN_SIZE,
    )
    num_layers = check_int(model_data.get("num_layers", 1), "num_layers", path, 1, MAX_LSTM_LAYERS)
    skip = check_int(model_data.get("skip", 1), "skip", path, 0, 1)
    bias_fl = model_data.get("bias_fl", True)
    if not isinstance(bias_fl, bool):
        raise ModelFileError(f"{path}: bias_fl must be true or false, got {bias_fl!r}")
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: state_dict must be a JSON object")
    layers = []
    for k in range(num_layers):
        in_k = input_size if k == 0 else hidden

        def tensor(name, shape, k=k):
            key = f"rec.{name}_l{k}"
            return float_array(require(state, key, path, "state_dict"), shape, key, path)

        layers.append(
            (
                tensor("weight_ih", (4 * hidden, in_k)),
                tensor("weight_hh", (4 * hidden, hidden)),
                tensor("bias_ih", (4 * hidden,)),
                tensor("bias_hh", (4 * hidden,)),
            )
        )
    head_weight = float_array(
        require(state, "lin.weight", path, "state_dict"), (1, hidden), "lin.weight", path
    )
    head_bias = (
        float_array(require(state, "lin.bias", path, "state_dict"), (1,), "lin.bias", path)[0]
        if bias_fl
        else 0.0
    )
    model = build_lstm(layers, head_weight[0], head_bias, residual=bool(skip))
    metadata = {
        "format": "agm",
        "source_file": path.name,
        "sample_rate": DEFAULT_SAMPLE_RATE,
        "sample_rate_assumed": True,
    }
    check_finite_output(model, path, DEFAULT_SAMPLE_RATE)
    return model, metadata


def agm_dict(model: LSTMModel) -> dict:
    """The AGM JSON object for `model` (no padding, no checks beyond the architecture)."""
    state = {}
    for k in range(model.num_layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            state[f"rec.{name}_l{k}"] = as_float_list(getattr(model.lstm, f"{name}_l{k}"))
    state["lin.weight"] = as_float_list(model.head.weight)
    state["lin.bias"] = as_float_list(model.head.bias)
    return {
        "model_data": {
            "model": "SimpleRNN",
            "input_size": model.input_size,
            "skip": int(model.residual),
            "output_size": 1,
            "unit_type": "LSTM",
            "num_layers": model.num_layers,
            "hidden_size": model.hidden_size,
            "bias_fl": True,
        },
        "state_dict": state,
    }


def export_agm(
    model: nn.Module,
    path: str | os.PathLike,
    player: str | None = None,
    metadata: dict | None = None,
) -> Path:
    """Write `model` as AGM JSON, for `player` ("proteus", "neuralpi") or generic (None).

    For a player the hidden size is padded up exactly to the player's size; a larger model, a
    model without residual path, or more than one layer is refused. The written file is loaded
    back and must reproduce the model within 1e-5 on a test signal, else nothing is written.
    """
    path = Path(path)
    model = require_lstm(model, "Automated-GuitarAmpModelling")
    sample_rate = float((metadata or {}).get("sample_rate") or DEFAULT_SAMPLE_RATE)
    model = drop_start_state(model, path, PLAYER_NAMES.get(player, "AGM JSON"), sample_rate)
    export = model
    if player is not None:
        if player not in PLAYERS:
            raise ModelFileError(
                f"{path}: unknown player {player!r}; choose one of {sorted(PLAYERS)}"
            )
        size, inputs = PLAYERS[player]
        label = PLAYER_NAMES[player]
        if model.hidden_size > size:
            raise ModelFileError(
                f"{path}: {label} runs LSTMs of hidden size {size} only and this model has "
                f"{model.hidden_size}; prune it to at most {size} units, train one with "
                f"--hidden-size {size}, or export to AIDA-X (.json/.aidax), which runs up to 80"
            )
        if model.input_size not in inputs:
            raise ModelFileError(
                f"{path}: {label} takes 1 audio channel plus at most {inputs[-1] - 1} knobs; "
                f"this model has input_size {model.input_size}"
            )
        if model.num_layers != 1:
            raise ModelFileError(
                f"{path}: {label} runs a single LSTM layer; this model has {model.num_layers}"
            )
        if not model.residual:
            raise ModelFileError(
                f"{path}: {label} always adds the input to the model's output (skip = 1), "
                "and this model has no residual path, so it would sound wrong there; train "
                "with the residual path (leanamp train's default, without --no-residual) for "
                "Proteus/NeuralPi, or export this model to NAM (.nam)"
            )
        export = padded_lstm(model, size)
    data = agm_dict(export)
    x = probe_signal(sample_rate, model.input_size)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data))
        reloaded, _ = load_agm(tmp)
        verify_export(path, lambda s: run_model(model, s), lambda s: run_model(reloaded, s), x)
    return path

