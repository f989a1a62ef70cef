"""Model files in and out, what `leanamp export` and `leanamp import` run: a model written for a
plugin (or as a leanamp file), optionally cut to one width or written as a NAM SlimmableContainer
of several widths, with the plugin's metadata (name, gear, levels) over the file's own
(`export_file`); a plugin's file, or one submodel of a container, as a leanamp file
(`import_file`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from leanamp.errors import LeanampError
from leanamp.formats import (
    export_format,
    export_model,
    export_nam_slimmable,
    load_any,
    load_nam_slimmable,
    save_model,
)
from leanamp.models.slim import container_submodels, parse_widths


def describe_model(model: nn.Module) -> str:
    """One line for people: the architecture and its settings ("lstm (hidden_size=8, ...)")."""
    config = dict(getattr(model, "config", {}))
    name = config.pop("architecture", type(model).__name__)
    details = ", ".join(f"{k}={v}" for k, v in config.items() if k != "layers")
    if "layers" in config:
        details = f"{len(config['layers'])} layer arrays, {details}"
    return f"{name} ({details})"


@dataclass
class Exported:
    path: Path
    fmt: str  # the written format ("nam", "aidax", ...)
    model: nn.Module  # the model written (cut to `width`; the full model of a container)
    slim_widths: list[int] | None = None  # a SlimmableContainer's widths


def export_file(
    model_path: str | os.PathLike,
    out: str | os.PathLike,
    fmt: str | None = None,
    *,
    width: int | None = None,
    slim_widths: str | Sequence[int] | None = None,
    metadata: dict | None = None,
    **options,
) -> Exported:
    """Write the model of `model_path` (any format leanamp reads) to `out` in `fmt` (default: the
    format `out`'s suffix names); the writer loads the file back and checks its audio.

    width: a leanamp WaveNet cut to this many channels. slim_widths ("2,4,8" or a list, the last
    the full width): a NAM .nam SlimmableContainer of the model at those widths instead.
    metadata: values for the plugin (name, modeled_by, gear_type, ...) over the file's own; None
    values are left out. `options` go to the format's writer (`export_model`).
    """
    fmt = export_format(out, fmt)
    widths = parse_widths(slim_widths, "--slim-widths")
    if widths is not None and fmt != "nam":
        raise LeanampError(f"{out}: --slim-widths writes a NAM .nam SlimmableContainer")
    model, stored = load_any(model_path)
    if (width is not None or widths is not None) and not hasattr(model, "sliced"):
        raise LeanampError(
            f"{model_path}: --width and --slim-widths apply to leanamp WaveNets; this model is "
            f"{describe_model(model)}"
        )
    if width is not None:
        model = model.sliced(width)
    stored.update({k: v for k, v in (metadata or {}).items() if v is not None})
    if widths is None:
        return Exported(export_model(model, out, fmt, metadata=stored, **options), fmt, model)
    try:
        submodels = container_submodels(model, widths)
    except ValueError as e:
        raise LeanampError(f"--slim-widths {slim_widths!r}: {e}") from None
    return Exported(export_nam_slimmable(submodels, out, stored), fmt, model, widths)


def import_file(
    model_path: str | os.PathLike, out: str | os.PathLike, submodel: int | None = None
) -> tuple[nn.Module, dict]:
    """Save the model of a plugin file (any format leanamp reads) as the leanamp file `out`; of a
    NAM SlimmableContainer, submodel number `submodel` (default: the largest). Returns the model
    and its metadata."""
    if submodel is None:
        model, metadata = load_any(model_path)
    else:
        submodels = load_nam_slimmable(model_path)
        if not 0 <= submodel < len(submodels):
            raise LeanampError(
                f"{model_path}: has {len(submodels)} submodel(s); --submodel must be 0.."
                f"{len(submodels) - 1}"
            )
        _, model, metadata = submodels[submodel]
    save_model(model, out, metadata)
    return model, metadata
