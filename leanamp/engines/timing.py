"""The plugin engine's own real-time factor for a leanamp model: what a player's CPU pays.

The model is written as its plugin loads it (`player_export`): a WaveNet, or an LSTM AIDA-X
cannot hold (several layers, more than 80 units), as a .nam for NAM Core; any other LSTM as an
AIDA-X JSON for RTNeural (padded to AIDA-X's next compiled size, as the player runs it). The
engine's driver then processes `seconds` of audio in blocks, one thread, `repeats` times in its
own process; RTF = thread CPU time / audio time (median), as leanamp.runtime.bench reports.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from leanamp.engines import DEFAULT_BLOCK, engine_for, time_engine
from leanamp.errors import LeanampError
from leanamp.formats import export_model
from leanamp.formats.aidax import SUPPORTED_HIDDEN, SUPPORTED_INPUTS
from leanamp.models.lstm import LSTMModel
from leanamp.runtime.bench import BenchResult, Timing

SHORT_NAMES = {"nam": "NAM Core", "rtneural": "RTNeural"}


@dataclass(frozen=True)
class EngineTiming:
    engine: str  # "nam" or "rtneural"
    native: bool  # built with -O3 -march=native (else -O3)
    timing: Timing

    @property
    def label(self) -> str:
        return SHORT_NAMES[self.engine]


def player_engine(model: nn.Module) -> str:
    """'rtneural' for an LSTM AIDA-X plays, else 'nam'."""
    if isinstance(model, LSTMModel) and (
        model.num_layers == 1
        and model.hidden_size <= max(SUPPORTED_HIDDEN)
        and model.input_size in SUPPORTED_INPUTS
    ):
        return "rtneural"
    return "nam"


def player_export(model: nn.Module, folder: Path, engine: str, sample_rate: float) -> Path:
    """`model` written into `folder` as the plugin of `engine` loads it."""
    metadata = {"sample_rate": sample_rate}
    if engine == "rtneural":
        return export_model(model, folder / "model.json", fmt="aidax", metadata=metadata)
    return export_model(model, folder / "model.nam", fmt="nam", metadata=metadata)


def engine_timing(
    model: nn.Module,
    sample_rate: float,
    seconds: float = 1.0,
    block: int = DEFAULT_BLOCK,
    repeats: int = 3,
    native: bool = True,
    engine: str | None = None,
    path: str | Path | None = None,
) -> EngineTiming:
    """The real-time factor of `model` (or of the model file `path`, timed as it is) in the
    engine of the plugin that plays it (`engine` forces one)."""
    if repeats < 1:
        raise LeanampError(f"repeats must be at least 1, got {repeats}")
    with tempfile.TemporaryDirectory(prefix="leanamp-engine-rtf-") as folder:
        if path is None:
            engine = engine or player_engine(model)
            path = player_export(model, Path(folder), engine, sample_rate)
        engine = engine or engine_for(path)
        runs = [
            time_engine(path, seconds, block, native=native, engine=engine, rate=sample_rate)
            for _ in range(repeats)
        ]
    audio_seconds = seconds
    n = int(round(seconds * sample_rate))
    timing = Timing.from_runs(
        [r["rtf_wall"] * audio_seconds for r in runs],
        [r["rtf_cpu"] * audio_seconds for r in runs],
        audio_seconds,
        n,
    )
    return EngineTiming(engine, native, timing)


def engine_rtf_metrics(model: nn.Module, sample_rate: float, seconds: float) -> dict:
    """The model's real-time factor in its plugin's C++ engine (wall median like "rtf", and
    thread CPU time), or why it has none (no engine plays it, none can be built)."""
    try:
        timed = engine_timing(model, sample_rate, seconds)
    except LeanampError as e:
        return {"engine_rtf": None, "engine_error": str(e)}
    return {"engine": timed.label, "engine_rtf": timed.timing.rtf,
            "engine_rtf_cpu": timed.timing.rtf_cpu}  # fmt: skip


def add_engine_timings(
    results: list[BenchResult],
    models: dict[str, nn.Module],
    repeats: int = 3,
    native: bool = True,
    model_paths: dict[str, Path] | None = None,
) -> None:
    """Time each benchmarked model in its plugin's engine, after leanamp's kernels, into
    result.timings["engine"] (same audio length, block and rate). `model_paths` maps model names
    to plugin files (.nam, .json) to time as they are."""
    for result in results:
        model = models[result.name]
        if result.width is not None:
            model = model.sliced(result.width)
        path = (model_paths or {}).get(result.name) if result.width is None else None
        played = engine_timing(model, result.rate, result.seconds, result.block, repeats,
                               native=native, path=path)  # fmt: skip
        result.timings["engine"] = played.timing
        result.engine = played.label
        result.engine_build = "native" if played.native else "O3"
