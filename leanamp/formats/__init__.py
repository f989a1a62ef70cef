"""Model files: leanamp's own (native) and those real-time plugins load (nam, aidax, agm).

`load_any(path)` recognises the format from the content; `export_model(model, path, fmt)` picks
the writer from `fmt` or the file suffix. Every reader refuses malformed or hostile files with a
ModelFileError naming the file; every plugin-format writer reloads its file and checks the audio.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from leanamp.errors import ModelFileError
from leanamp.formats.agm import agm_from_dict, export_agm, is_agm, load_agm
from leanamp.formats.aidax import aidax_from_dict, export_aidax, is_aidax, load_aidax
from leanamp.formats.common import read_json_file
from leanamp.formats.nam import (
    export_nam,
    export_nam_slimmable,
    is_nam,
    load_nam,
    load_nam_slimmable,
    nam_from_dict,
)
from leanamp.formats.native import load_model, save_model

# Format names accepted by export_model (and `leanamp export --format`).
EXPORT_FORMATS = ("native", "nam", "aidax", "agm", "proteus", "neuralpi")
_BY_SUFFIX = {".leanamp": "native", ".safetensors": "native", ".nam": "nam", ".aidax": "aidax"}
NATIVE_SUFFIXES = (".leanamp", ".safetensors")
_IMPORT_FORMATS = "leanamp (.leanamp), NAM (.nam), AIDA-X (.json/.aidax), Proteus/NeuralPi (.json)"


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors: 8-byte little-endian header length, then the JSON header.
    size = int.from_bytes(head[:8], "little")
    return len(head) == 9 and head[8:9] == b"{" and 2 <= size <= path.stat().st_size - 8


def load_any(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Load a model file of any supported format; returns (model in eval mode, metadata).

    metadata["format"] names the format read ("native" files keep their own metadata).
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if not path.is_file():
        raise ModelFileError(f"{path}: is not a file (give the path of a model file)")
    # A .leanamp file too short or damaged to look like safetensors still gets load_model's
    # message ("not a safetensors file"), not a JSON parser's.
    if path.suffix.lower() in NATIVE_SUFFIXES or (
        path.stat().st_size >= 9 and _is_safetensors(path)
    ):
        return load_model(path)
    what = f"model file ({_IMPORT_FORMATS})"
    data = read_json_file(path, what)
    if is_nam(data):
        return nam_from_dict(data, path)
    if is_agm(data):
        return agm_from_dict(data, path)
    if is_aidax(data):
        return aidax_from_dict(data, path)
    raise ModelFileError(
        f"{path}: JSON of no known model format (keys {sorted(data)[:8]}); leanamp reads "
        f"{_IMPORT_FORMATS}"
    )


def export_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The export format for `path`: `fmt` if given, else from the suffix."""
    path = Path(path)
    if fmt is not None:
        if fmt not in EXPORT_FORMATS:
            raise ModelFileError(
                f"{path}: unknown --format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}"
            )
        suffix = path.suffix.lower()
        if (fmt == "native") != (suffix in NATIVE_SUFFIXES) and suffix in (*_BY_SUFFIX, ".json"):
            raise ModelFileError(
                f"{path}: --format {fmt} writes "
                f"{'a binary leanamp file' if fmt == 'native' else 'a plugin file'}, but the "
                f"name ends in {suffix}; name the file "
                f"{'.leanamp' if fmt == 'native' else 'for the plugin (.nam, .json, .aidax)'}"
            )
        return fmt
    suffix = path.suffix.lower()
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    if suffix == ".json":
        raise ModelFileError(
            f"{path}: a .json model can be for AIDA-X or for Proteus/NeuralPi; say which with "
            "--format: aidax, proteus, neuralpi, or agm (generic "
            "Automated-GuitarAmpModelling)"
        )
    raise ModelFileError(
        f"{path}: cannot tell the format from the suffix {suffix!r}; use .leanamp, .nam, "
        ".aidax or .json with a format"
    )


def export_model(
    model: nn.Module,
    path: str | os.PathLike,
    fmt: str | None = None,
    metadata: dict | None = None,
    **options,
) -> Path:
    """Write `model` to `path` in `fmt` (or the format its suffix names); returns the path.

    fmt: "native", "nam", "aidax", "agm" (generic), "proteus" or "neuralpi" (padded to the
    player's size). `options` go to the writer. An LSTM's initial state is part of the model: .nam
and .leanamp files keep it; AIDA-X and Proteus files cannot (the export warns with the measured
difference when the state is not zero).
    """
    path = Path(path)
    fmt = export_format(path, fmt)
    if fmt == "native":
        return save_model(model, path, metadata, **options)
    if fmt == "nam":
        return export_nam(model, path, metadata, **options)
    if fmt == "aidax":
        return export_aidax(model, path, metadata, **options)
    player = None if fmt == "agm" else fmt
    return export_agm(model, path, player=player, metadata=metadata, **options)


__all__ = [
    "EXPORT_FORMATS",
    "export_agm",
    "export_aidax",
    "export_format",
    "export_model",
    "export_nam",
    "export_nam_slimmable",
    "load_agm",
    "load_aidax",
    "load_any",
    "load_model",
    "load_nam",
    "load_nam_slimmable",
    "save_model",
]
