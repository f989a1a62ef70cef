"""leanamp's own model file: safetensors weights with the JSON config in the header.

One file, nothing pickled: reading it never runs code. The header's metadata holds
"leanamp_config" (the architecture config) and "leanamp_metadata" (free JSON: sample rate,
training ESR, provenance...).

An LSTM's initial state is stored with its weights (buffers initial_hidden, initial_cell). Files
written before that carry no state buffers and load with zeros, unless their metadata holds the
state of an imported NAM file ("nam_initial_state"), which then moves into the buffers.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from leanamp.errors import DataWarning, LeanampError, ModelFileError
from leanamp.files import atomic_path
from leanamp.formats.common import check_finite_output
from leanamp.models import build_model
from leanamp.models.lstm import LSTMModel

FORMAT_VERSION = "1"
# A leanamp header holds a config and a few hundred tensor entries: kilobytes. Larger is hostile.
MAX_HEADER_BYTES = 8 * 2**20
MIN_FILE_BYTES = 8 + 2  # the length field and the smallest JSON object, "{}"
# WaveNet layers across all arrays (NAM's standard has 20); bounds the work of building on meta.
MAX_CONFIG_LAYERS = 4096
STATE_BUFFERS = ("initial_hidden", "initial_cell")
# Where files written before the state was part of the model kept an imported NAM LSTM's state.
LEGACY_STATE_KEY = "nam_initial_state"


def save_model(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write `model` (config + weights + metadata) atomically to `path`."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {
        "leanamp_format": FORMAT_VERSION,
        "leanamp_config": json.dumps(model.config),
        "leanamp_metadata": json.dumps(metadata or {}),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def _parse_json(raw: bytes | str, path: Path, what: str):
    try:
        return json.loads(raw)
    except RecursionError:
        raise ModelFileError(f"{path}: {what} nested too deeply to be a leanamp model") from None
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{path}: {what} is not valid JSON ({e})") from None


def _read_raw_header(path: Path) -> tuple[dict, int]:
    """The safetensors JSON header and the bytes left for the weights, checked before parsing."""
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if not path.is_file():
        raise ModelFileError(f"{path}: is not a file (give the path of a model file)")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        header_size = int.from_bytes(head, "little")
        if size < MIN_FILE_BYTES or not 2 <= header_size <= min(size - 8, MAX_HEADER_BYTES):
            raise ModelFileError(
                f"{path}: not a leanamp model file: {size} bytes that do not start with a "
                "safetensors header (8-byte length, then JSON). Import models from other tools "
                "with `leanamp import`"
            )
        raw = f.read(header_size)
    if raw[:1] != b"{":
        raise ModelFileError(f"{path}: not a leanamp model file (no safetensors JSON header)")
    header = _parse_json(raw, path, "the header")
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: malformed safetensors header (not a JSON object)")
    return header, size - 8 - header_size


def _config_and_metadata(header: dict, path: Path) -> tuple[dict, dict]:
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not isinstance(meta.get("leanamp_config"), str):
        raise ModelFileError(
            f"{path}: a safetensors file without a leanamp config, so not a leanamp model file. "
            "Import models from other tools with `leanamp import`"
        )
    config = _parse_json(meta["leanamp_config"], path, "the model config")
    metadata = _parse_json(meta.get("leanamp_metadata") or "{}", path, "the metadata")
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: malformed leanamp header (config must be a JSON object)")
    return config, metadata


def _check_size(config: dict, weight_bytes: int, path: Path) -> None:
    """Refuse a config whose weights cannot be in the file, before allocating them: the model
    is first built on the meta device (shapes only, no memory)."""
    layers = config.get("layers")
    if isinstance(layers, list) and sum(
        len(c.get("dilations") or []) if isinstance(c, dict) else 1 for c in layers
    ) > MAX_CONFIG_LAYERS:
        raise ModelFileError(f"{path}: the config lists more than {MAX_CONFIG_LAYERS} layers")
    try:
        with torch.device("meta"):
            shapes = build_model(config).state_dict()
    except (ValueError, TypeError, OverflowError, RuntimeError, KeyError, AttributeError) as e:
        raise ModelFileError(f"{path}: unusable model config: {e}") from None
    # The LSTM state buffers are optional (older files lack them and start from zeros).
    needed = sum(t.numel() * t.element_size() for k, t in shapes.items() if k not in STATE_BUFFERS)
    if needed > weight_bytes:
        raise ModelFileError(
            f"{path}: the config describes a model of {needed:,} bytes of weights but the file "
            f"holds {weight_bytes:,}: a damaged or forged header; export the model again"
        )


def load_model(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Load a leanamp model file; returns (model in eval mode, metadata)."""
    path = Path(path)
    header, weight_bytes = _read_raw_header(path)
    config, metadata = _config_and_metadata(header, path)
    _check_size(config, weight_bytes, path)
    try:
        model = build_model(config)
    except (ValueError, TypeError, OverflowError, RuntimeError) as e:
        raise ModelFileError(f"{path}: unusable model config: {e}") from None
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: unreadable weights ({e})") from None
    expected = model.state_dict()
    if isinstance(model, LSTMModel):
        # Older files: no state buffers, the model's zeros apply (or the metadata's NAM state).
        tensors = {**{k: expected[k] for k in STATE_BUFFERS}, **tensors}
    if set(tensors) != set(expected):
        missing, extra = set(expected) - set(tensors), set(tensors) - set(expected)
        raise ModelFileError(
            f"{path}: weights do not match the config (missing {sorted(missing)}, "
            f"unexpected {sorted(extra)})"
        )
    for name, value in tensors.items():
        if value.shape != expected[name].shape:
            raise ModelFileError(
                f"{path}: weight {name} has shape {tuple(value.shape)}, "
                f"expected {tuple(expected[name].shape)}"
            )
        # Finite in the model's own precision (1e308 in a float64 tensor is inf in float32).
        if value.is_floating_point() and not torch.isfinite(value.to(expected[name].dtype)).all():
            raise ModelFileError(f"{path}: weight {name} contains NaN, inf or out-of-range values")
    model.load_state_dict(tensors)
    model.eval()
    legacy_state = metadata.pop(LEGACY_STATE_KEY, None)
    if legacy_state is not None and isinstance(model, LSTMModel):
        _load_legacy_state(model, legacy_state, path)
    sr = metadata.get("sample_rate")
    if sr is not None and not (isinstance(sr, (int, float)) and math.isfinite(sr) and sr > 0):
        raise ModelFileError(f"{path}: invalid sample_rate {sr!r} in metadata")
    check_finite_output(model, path, sr)
    return model, metadata


def _load_legacy_state(model: LSTMModel, stored, path: Path) -> None:
    """Move an old file's metadata state into the model; one that no longer fits (the units
    changed after the import, and old versions kept the state's size) is dropped with a warning,
    as those versions ignored it everywhere but NAM export."""
    try:
        model.set_start_state(stored["hidden"], stored["cell"])
    except (LeanampError, KeyError, TypeError, ValueError) as e:
        warnings.warn(
            f"{path}: the NAM initial state in the metadata does not fit the model ({e}); "
            "starting from zeros. Save the model again to drop it",
            DataWarning,
            stacklevel=3,
        )
