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
from leanamp.models import build_model
from leanamp.models.lstm import LSTMModel

SUFFIX = ".leanamp"
FORMAT_VERSION = "1"
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


def read_header(path: str | os.PathLike) -> tuple[dict, dict]:
    """Return (config, metadata) from a leanamp file without loading the weights."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 2 <= size <= 100_000_000:
                raise ValueError("header size out of range")
            header = json.loads(f.read(size))
        meta = header.get("__metadata__") or {}
        config = json.loads(meta["leanamp_config"])
        metadata = json.loads(meta.get("leanamp_metadata", "{}"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(
            f"{path}: not a leanamp model file ({e.__class__.__name__}: {e}). "
            "Import models from other tools with `leanamp import`."
        ) from None
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: malformed leanamp header (config must be a JSON object)")
    return config, metadata


def load_model(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Load a leanamp model file; returns (model in eval mode, metadata)."""
    path = Path(path)
    config, metadata = read_header(path)
    try:
        model = build_model(config)
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{path}: unusable model config {config}: {e}") from None
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
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ModelFileError(f"{path}: weight {name} contains NaN or inf")
    model.load_state_dict(tensors)
    model.eval()
    legacy_state = metadata.pop(LEGACY_STATE_KEY, None)
    if legacy_state is not None and isinstance(model, LSTMModel):
        _load_legacy_state(model, legacy_state, path)
    sr = metadata.get("sample_rate")
    if sr is not None and not (isinstance(sr, (int, float)) and math.isfinite(sr) and sr > 0):
        raise ModelFileError(f"{path}: invalid sample_rate {sr!r} in metadata")
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
