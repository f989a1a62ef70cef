"""Does a model file play the same in the plugin's engine as in leanamp?

The file runs through the engine that plays it (leanamp.engines: NAM Core for .nam, RTNeural for
JSON) in 256-sample blocks after the plugin's reset, and through `leanamp process`'s path
(leanamp.inference.run_model) with the same start: the zeros the engine's prewarm ran are put in
front of leanamp's input and their output dropped. Difference d = engine - leanamp, reported as
max |d| and RMS(d), against a bound. A .nam is checked twice: with NAM Core's exact tanh
against EXACT_BOUND (is the file right?), and with the fast tanh the plugin runs against
FAST_TANH_BOUND (what a player hears). The fast tanh's rational approximation is off by up to
4.4e-4 per call and the error compounds through the layers: measured on 10 s of real guitar, max
|d| 2e-4 for LSTMs, 2.0e-2 for NAM's trained standard WaveNet (4% of its peak, RMS 8e-4) and
4.5e-2 for a random-weight one (tests/engines). RTNeural uses exact activations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leanamp.devices.signals import guitar_signal
from leanamp.engines import DEFAULT_BLOCK, ENGINE_NAMES, engine_for, run_engine
from leanamp.errors import LeanampError
from leanamp.formats import load_any
from leanamp.formats.nam import load_nam_slimmable
from leanamp.inference import run_model

EXACT_BOUND = 1e-4
FAST_TANH_BOUND = 6e-2
DEFAULT_KNOB = 0.5
TEST_SIGNAL_SECONDS = 10.0


@dataclass(frozen=True)
class Verification:
    """One model (or one submodel of a container) compared in one engine."""

    label: str
    engine: str
    max_difference: float
    rms_difference: float
    output_peak: float
    bound: float

    @property
    def passed(self) -> bool:
        return self.max_difference <= self.bound and self.output_peak > 0.0

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{self.label}: {ENGINE_NAMES[self.engine]} vs leanamp: max |diff| "
            f"{self.max_difference:.3g}, RMS diff {self.rms_difference:.3g} (output peak "
            f"{self.output_peak:.3g}, bound {self.bound:.0e}): {verdict}"
        )


def with_knobs(x: np.ndarray, input_size: int, knobs: list[float] | None) -> np.ndarray:
    """(time, input_size): `x`'s audio channel plus knob channels (given values, else
    DEFAULT_KNOB) when `x` does not carry them."""
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    if x.shape[1] == input_size and not knobs:
        return x
    values = list(knobs) if knobs else [DEFAULT_KNOB] * (input_size - 1)
    if len(values) != input_size - 1:
        raise LeanampError(
            f"the model takes {input_size - 1} knob value(s), {len(values)} were given"
        )
    return np.concatenate([x[:, :1], np.tile(np.float32(values), (len(x), 1))], axis=1)


def leanamp_output(model, x: np.ndarray, prewarm_samples: int) -> np.ndarray:
    """`leanamp process`'s output for `x`, after the engine's prewarm zeros."""
    warm = np.zeros((prewarm_samples, x.shape[1]), dtype=np.float32)
    return run_model(model, np.concatenate([warm, x]))[prewarm_samples:]


def compare(
    path: Path, model, x: np.ndarray, label: str, block: int, exact_tanh: bool,
    slim: float | None = None,
) -> Verification:  # fmt: skip
    """One run of the engine on `x` against `model`'s own output."""
    engine = engine_for(path)
    played = run_engine(path, x, block=block, exact_tanh=exact_tanh, slim=slim)
    ours = leanamp_output(model, x, played.prewarm_samples).astype(np.float64)
    if played.output.shape != ours.shape:
        raise LeanampError(
            f"{path}: {ENGINE_NAMES[engine]} returned {len(played.output)} samples for "
            f"{len(ours)}"
        )
    difference = played.output.astype(np.float64) - ours
    fast = engine == "nam" and not exact_tanh
    if engine == "nam":
        label += " (fast tanh, as the plugin)" if fast else " (exact tanh)"
    return Verification(
        label=label,
        engine=engine,
        max_difference=float(np.max(np.abs(difference))),
        rms_difference=float(np.sqrt(np.mean(difference**2))),
        output_peak=float(np.max(np.abs(ours))),
        bound=FAST_TANH_BOUND if fast else EXACT_BOUND,
    )


def verify_model_file(
    path: str | os.PathLike,
    audio: np.ndarray | None = None,
    knobs: list[float] | None = None,
    block: int = DEFAULT_BLOCK,
) -> list[Verification]:
    """Compare `path` in its plugin engine with leanamp's output, on `audio` ((time,) or (time,
    channels) at the model's rate; default 10 s of built-in guitar-like playing). A .nam runs
    with exact and with fast tanh; a NAM SlimmableContainer is checked submodel by submodel (the
    Slim knob set inside each range)."""
    path = Path(path)
    engine_for(path)  # refuses a file no engine plays before loading anything
    if path.suffix.lower() == ".nam":
        submodels = load_nam_slimmable(path)
        rate = int(submodels[-1][2].get("sample_rate") or 48000)
    else:
        model, metadata = load_any(path)
        submodels = [(1.0, model, metadata)]
        rate = int(metadata.get("sample_rate") or 48000)
    x = guitar_signal(TEST_SIGNAL_SECONDS, rate) if audio is None else audio
    tanh_modes = (True, False) if engine_for(path) == "nam" else (True,)
    results = []
    lower = 0.0
    for k, (max_value, model, _) in enumerate(submodels):
        container = len(submodels) > 1
        label = f"{path.name} submodel {k}" if container else path.name
        given = with_knobs(x, int(model.config.get("input_size", 1)), knobs)
        slim = (lower + max_value) / 2 if container else None
        for exact_tanh in tanh_modes:
            results.append(compare(path, model, given, label, block, exact_tanh, slim))
        lower = max_value
    return results
