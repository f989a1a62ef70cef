"""`leanamp capture`: from a reamp (input file, recorded output) to a plugin's model file.

Check the recordings (NAM's standard files and leanamp's capture signal are recognised: latency
from their blips, NAM's checks, their own split), train the model the chosen player expects,
evaluate it, export it with its metadata, and write a summary.

The model per player, all an LSTM of `hidden_size` units (16 by default) trained with the quick
recipe on a CPU-time budget:
- nam: without the residual path (NAM's LSTM has none), written as a .nam 0.5.4 that every NAM
  plugin release loads. An LSTM rather than a WaveNet because on this project's 2-core CPU an
  LSTM-16 reached a test ESR of 0.002 on a real pedal in 5 minutes, where NAM's smallest
  WaveNets needed 15 CPU minutes for 0.006-0.018 (README, Results); and its state carries a
  cabinet's ringing without a receptive-field limit.
- aidax: with the residual path (AIDA-X's in_skip), an .aidax file.
- proteus: with the residual path, a Proteus JSON zero-padded exactly to the player's 40 units.

With a budget (`ShrinkBudget`: a real-time factor, multiply-adds per sample or a named target),
`leanamp shrink` chooses the model instead (leanamp.workflows.shrink, in OUT/shrink): the most
accurate of its candidates that fits. Its candidates keep the residual path, so a budget goes
with --for aidax or proteus; NAM's LSTM has no residual path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from leanamp.data import DeviceData, load_device_data
from leanamp.errors import LeanampError
from leanamp.files import write_text_atomic
from leanamp.formats import export_model
from leanamp.formats.nam import GEAR_TYPES, TONE_TYPES
from leanamp.formats.native import load_model
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig, evaluate
from leanamp.workflows.shrink import ShrinkBudget, ShrinkConfig, run_shrink
from leanamp.workflows.training import train_on_data


@dataclass(frozen=True)
class Player:
    format: str  # leanamp.formats export format
    suffix: str
    residual: bool
    label: str


PLAYERS = {
    "nam": Player("nam", ".nam", False, "Neural Amp Modeler"),
    "aidax": Player("aidax", ".aidax", True, "AIDA-X"),
    "proteus": Player("proteus", ".json", True, "GuitarML Proteus"),
}


@dataclass
class GearInfo:
    """What the model is of, written into the plugin file (NAM's user metadata fields)."""

    name: str | None = None
    modeled_by: str | None = None
    gear_type: str | None = None  # one of formats.nam.GEAR_TYPES
    gear_make: str | None = None
    gear_model: str | None = None
    tone_type: str | None = None  # one of formats.nam.TONE_TYPES
    input_level_dbu: float | None = None  # analog level of 0 dBFS at the input
    output_level_dbu: float | None = None  # analog level of 0 dBFS at the output

    def check(self) -> None:
        for key, value, allowed in (("gear type", self.gear_type, GEAR_TYPES),
                                    ("tone type", self.tone_type, TONE_TYPES)):
            if value is not None and value not in allowed:
                raise LeanampError(f"{key} {value!r}: choose one of {', '.join(allowed)}")


def capture(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    player: str = "nam",
    minutes: float = 5.0,
    gear: GearInfo | None = None,
    hidden_size: int = 16,
    latency: int | None = None,
    polarity: int | None = None,
    seed: int = 0,
    max_epochs: int = 1000,
    progress: bool = True,
    budget: ShrinkBudget | None = None,
) -> dict:
    """Check, train, evaluate and export a capture; returns the summary (also capture.json).

    minutes: the training budget in CPU minutes of this process. latency / polarity: given by
    hand, they override the estimate. budget: the model must fit it (`leanamp shrink` chooses
    it; not for NAM). The summary names the plugin file ("plugin_file"), the native model and,
    without a budget, the rendered audio and the curves.
    """
    if player not in PLAYERS:
        raise LeanampError(f"--for {player!r}: choose one of {', '.join(PLAYERS)}")
    if not minutes > 0:
        raise LeanampError(f"--minutes must be positive, got {minutes}")
    gear = gear or GearInfo()
    gear.check()
    chosen = PLAYERS[player]
    if budget is not None and not chosen.residual:
        raise LeanampError(
            f"a budget runs leanamp shrink, whose candidates are LSTMs with the residual path, "
            f"which {chosen.label}'s LSTM lacks: capture for --for aidax or --for proteus with "
            "a budget, or drop the budget"
        )
    name = gear.name or Path(output_path).stem
    data = load_device_data(input_path, output_path, latency=latency, polarity=polarity)
    if budget is None:
        model, summary = _train(data, Path(out_dir), chosen, hidden_size, minutes, seed,
                                max_epochs, name, progress)
    else:
        config = ShrinkConfig(minutes=minutes, max_epochs=max_epochs, seed=seed,
                              progress=progress)
        shrunk = run_shrink(data, Path(out_dir) / "shrink", budget, config,
                            say=print if progress else None)
        model, _ = load_model(shrunk["model"])
        summary = {k: shrunk[k] for k in ("model", "test_esr", "rtf", "macs_per_sample")}
        summary["shrink"] = shrunk["chosen"]
    validation_esr = evaluate(model, data.validation).overall
    metadata = {
        **{k: v for k, v in vars(gear).items() if v is not None},
        "name": name,
        "sample_rate": data.sample_rate,
        "training_esr": validation_esr,  # NAM's metadata.training.validation_esr
    }
    plugin_file = export_model(model, Path(out_dir) / f"{_file_stem(name)}{chosen.suffix}",
                               chosen.format, metadata)
    summary.update(
        player=chosen.label,
        plugin_file=str(plugin_file),
        validation_esr=validation_esr,
        gear={k: v for k, v in vars(gear).items() if v is not None},
        alignment=data.alignment.describe() if data.alignment else None,
        captures=[c.describe() for c in data.captures],
    )
    write_text_atomic(Path(out_dir) / "capture.json", json.dumps(summary, indent=1))
    return summary


def _train(data: DeviceData, out_dir: Path, player: Player, hidden_size: int, minutes: float,
           seed: int, max_epochs: int, name: str, progress: bool):
    """The model the player expects (an LSTM of `hidden_size`), trained for `minutes` of CPU."""
    torch.manual_seed(seed)
    model = LSTMModel(hidden_size=hidden_size, input_size=data.input_size,
                      residual=player.residual)
    config = TrainConfig.recipe("quick", max_minutes=minutes, budget_clock="cpu", seed=seed,
                                max_epochs=max_epochs)
    summary = train_on_data(data, out_dir, model, config, progress=progress, name="model",
                            extra_summary={"capture_name": name})
    return model, summary


def _file_stem(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return stem or "capture"
