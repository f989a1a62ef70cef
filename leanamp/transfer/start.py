# long: start models (adapt, grow, shrink, freeze) and their ranking share the candidate loading
"""Transfer learning: start training from a model of a similar device, chosen by hand or ranked.

With little data, a model of a similar device is what makes training converge at all
(seeds/transfer-learning-guitar-effects.txt: the HT40 trained on 40 s from scratch never went
below a loss of 0.74; started from the Blues Jr model it trained normally). This module turns any
importable LSTM file (leanamp, NAM, AIDA-X, Automated-GuitarAmpModelling) into the starting point
of a run on other data, and ranks a folder of candidates by how well they already explain a
target.

Mapping a start model onto the model to train (`adapt_model`), each step documented and tested:

- Same architecture: the weights are loaded as they are.
- Knob inputs: a start model with more knob inputs than the data has them fixed at chosen values,
  folded exactly into the gate biases (b += W_ih[:, k] * value); one with fewer gets zero-weight
  columns for the extra knobs, so its output starts identical and training learns their effect.
- Larger hidden size: the old units are copied; the extra units get fresh random input and
  recurrent weights but zero weights into the old units' gates and into the head, so the output
  starts identical (the old units never see them) while gradients still reach them (their h is
  non-zero, so the head and recurrent weights leading out of them receive gradient).
- Smaller hidden size: the compression rules of leanamp.prune.compress. Units that cannot reach
  the output are dropped exactly first; if more must go, each remaining unit is ablated in turn
  on a probe signal (its head weight and its recurrent weights into the others set to zero) and
  the units whose removal costs least ESR are cut, after which `compress` removes them exactly.
  The output then differs by what those units contributed; training recovers it.
- The residual path (y = ... + x) cannot be added or removed without changing the output, so the
  start model's choice is kept unless asked otherwise, and asking otherwise is refused.

Freezing (`freeze`): whole parameter groups stop training ("input": W_ih, "recurrent": W_hh,
"lstm": all LSTM weights and biases, "head": the output layer). Adam skips parameters without
gradient, so frozen weights stay exactly as loaded.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leanamp.data import Clip, DeviceData, find_pairs, load_clips
from leanamp.devices.signals import guitar_signal
from leanamp.errors import LeanampError, ModelFileError
from leanamp.formats import load_any
from leanamp.inference import run_model
from leanamp.losses import esr
from leanamp.models.lstm import LSTMModel
from leanamp.plots import plot_loss_curves
from leanamp.prune.compress import compress

FREEZABLE = ("input", "recurrent", "lstm", "head")
MODEL_SUFFIXES = (".leanamp", ".safetensors", ".nam", ".json", ".aidax")
# Knob values tried per knob input when ranking a conditioned candidate.
DEFAULT_KNOB_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
# Samples at the start of each probe slice left out of the score: the zero-state transient.
SCORE_WARMUP_SAMPLES = 1000
# Samples (rows x time) scored per model call when ranking.
BATCH_SAMPLES = 1 << 21


# --- loading a start model ----------------------------------------------------------------------
def load_start_model(path: str | os.PathLike) -> tuple[LSTMModel, dict]:
    """A model file of any importable format as an LSTMModel to train on (train mode, CPU)."""

    model, metadata = load_any(path)
    if not isinstance(model, LSTMModel):
        raise ModelFileError(
            f"{path}: a {getattr(model, 'architecture', type(model).__name__)} model; training "
            "can start only from an LSTM model file (leanamp, NAM LSTM, AIDA-X, "
            "Automated-GuitarAmpModelling)"
        )
    return model.cpu().train(), metadata


def _lstm_tensors(model: LSTMModel) -> dict[str, torch.Tensor]:
    lstm = model.lstm
    return {
        "w_ih": lstm.weight_ih_l0.detach().clone(),
        "w_hh": lstm.weight_hh_l0.detach().clone(),
        "b_ih": lstm.bias_ih_l0.detach().clone(),
        "b_hh": lstm.bias_hh_l0.detach().clone(),
        "head_w": model.head.weight.detach().clone(),
        "head_b": model.head.bias.detach().clone(),
        "h0": model.initial_hidden.detach().clone(),
        "c0": model.initial_cell.detach().clone(),
    }


def _build(tensors: dict[str, torch.Tensor], residual: bool) -> LSTMModel:
    hidden = tensors["w_hh"].shape[1]
    model = LSTMModel(hidden, input_size=tensors["w_ih"].shape[1], residual=residual)
    with torch.no_grad():
        model.lstm.weight_ih_l0.copy_(tensors["w_ih"])
        model.lstm.weight_hh_l0.copy_(tensors["w_hh"])
        model.lstm.bias_ih_l0.copy_(tensors["b_ih"])
        model.lstm.bias_hh_l0.copy_(tensors["b_hh"])
        model.head.weight.copy_(tensors["head_w"])
        model.head.bias.copy_(tensors["head_b"])
        model.initial_hidden.copy_(tensors["h0"])
        model.initial_cell.copy_(tensors["c0"])
    return model


def _require_single_layer(model: LSTMModel, what: str) -> None:
    if model.num_layers != 1:
        raise LeanampError(
            f"{what} needs a single-layer LSTM; this start model has {model.num_layers} layers "
            "(train with its own hidden size and knob inputs to load it unchanged)"
        )


# --- input size (knobs) --------------------------------------------------------------------------
def adapt_input_size(
    model: LSTMModel, input_size: int, knob_values: Sequence[float] | None = None
) -> LSTMModel:
    """A model taking `input_size` channels (audio + knobs) that starts as `model` does.

    Knob inputs the data lacks are fixed at `knob_values` (one per dropped knob, default 0.5) and
    folded into the biases exactly; knob inputs the data adds get zero weights.
    """
    if input_size < 1:
        raise LeanampError(f"input_size must be at least 1, got {input_size}")
    if input_size == model.input_size:
        return model
    _require_single_layer(model, "changing the number of knob inputs")
    t = _lstm_tensors(model)
    if input_size > model.input_size:
        extra = torch.zeros(t["w_ih"].shape[0], input_size - model.input_size)
        t["w_ih"] = torch.cat([t["w_ih"], extra], dim=1)
        return _build(t, model.residual)
    dropped = model.input_size - input_size
    values = [0.5] * dropped if knob_values is None else [float(v) for v in knob_values]
    if len(values) != dropped:
        raise LeanampError(
            f"the start model has {model.input_size - 1} knob input(s) and the data "
            f"{input_size - 1}: give {dropped} value(s) for the knobs to fix, got {len(values)}"
        )
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise LeanampError(f"knob values must be within 0..1, got {values}")
    fixed = t["w_ih"][:, input_size:] @ torch.tensor(values, dtype=t["w_ih"].dtype)
    t["b_ih"] = t["b_ih"] + fixed
    t["w_ih"] = t["w_ih"][:, :input_size].clone()
    return _build(t, model.residual)


# --- hidden size ---------------------------------------------------------------------------------
def grow_hidden(model: LSTMModel, hidden_size: int, seed: int = 0) -> LSTMModel:
    """`model` with `hidden_size` >= its own units and an identical output (see module notes)."""
    _require_single_layer(model, "changing the hidden size")
    old = model.hidden_size
    if hidden_size < old:
        raise LeanampError(f"grow_hidden: {hidden_size} is smaller than {old}; use shrink_hidden")
    if hidden_size == old:
        return model
    t = _lstm_tensors(model)
    generator = torch.Generator().manual_seed(seed)
    # PyTorch's own LSTM initialisation range for the new units.
    bound = 1.0 / math.sqrt(hidden_size)

    def fresh(*shape):
        return (torch.rand(*shape, generator=generator) * 2 - 1) * bound

    new = hidden_size - old
    w_ih, w_hh, b_ih, b_hh = [], [], [], []
    for gate in range(4):
        rows = slice(gate * old, (gate + 1) * old)
        w_ih += [t["w_ih"][rows], fresh(new, model.input_size)]
        # Old units' rows: zero weight from the new units. New units' rows: fresh everywhere.
        w_hh += [
            torch.cat([t["w_hh"][rows], torch.zeros(old, new)], dim=1),
            fresh(new, hidden_size),
        ]
        b_ih += [t["b_ih"][rows], fresh(new)]
        b_hh += [t["b_hh"][rows], fresh(new)]
    grown = {
        "w_ih": torch.cat(w_ih),
        "w_hh": torch.cat(w_hh),
        "b_ih": torch.cat(b_ih),
        "b_hh": torch.cat(b_hh),
        "head_w": torch.cat([t["head_w"], torch.zeros(1, new)], dim=1),
        "head_b": t["head_b"],
        # The new units start from zero; the old ones keep their initial state.
        "h0": torch.cat([t["h0"], torch.zeros(1, new)], dim=1),
        "c0": torch.cat([t["c0"], torch.zeros(1, new)], dim=1),
    }
    return _build(grown, model.residual)


def _without_units(model: LSTMModel, units: Iterable[int]) -> LSTMModel:
    """A copy whose `units` no longer reach the output: head and outgoing recurrent weights zero."""
    t = _lstm_tensors(model)
    for unit in units:
        t["head_w"][0, unit] = 0.0
        t["w_hh"][:, unit] = 0.0  # its h enters no gate (its own included)
    return _build(t, model.residual)


def unit_importance(model: LSTMModel, probe: np.ndarray) -> np.ndarray:
    """ESR (relative to the model's own output) caused by removing each hidden unit alone."""

    probe = np.asarray(probe, dtype=np.float32)
    reference = run_model(model.cpu(), probe)
    return np.array(
        [
            esr(run_model(_without_units(model, [unit]), probe), reference)
            for unit in range(model.hidden_size)
        ]
    )


def shrink_hidden(model: LSTMModel, hidden_size: int, probe: np.ndarray) -> LSTMModel:
    """`model` with at most `hidden_size` units: dead units dropped exactly, then the least
    important ones (ablation ESR on `probe`) cut and the rest compressed (see module notes)."""

    _require_single_layer(model, "changing the hidden size")
    if hidden_size < 1:
        raise LeanampError(f"hidden size must be at least 1, got {hidden_size}")
    model = compress(model.cpu()).train()
    excess = model.hidden_size - hidden_size
    if excess > 0:
        importance = unit_importance(model, probe)
        cut = np.argsort(importance, kind="stable")[:excess]
        model = compress(_without_units(model, cut.tolist())).train()
    if model.hidden_size < hidden_size:
        # The start model had fewer live units than asked for: grow back to the requested size.
        model = grow_hidden(model, hidden_size)
    return model.train()


def adapt_model(
    model: LSTMModel,
    input_size: int,
    hidden_size: int | None = None,
    residual: bool | None = None,
    knob_values: Sequence[float] | None = None,
    probe: np.ndarray | None = None,
    seed: int = 0,
) -> LSTMModel:
    """The start `model` mapped onto the model to train (module notes give the rules).

    hidden_size / residual None keep the start model's. `probe` (time, input_size) is the signal
    ranking units when the model must shrink (default: a guitar-like signal).
    """
    if residual is not None and residual != model.residual:
        have = "adds" if model.residual else "does not add"
        raise LeanampError(
            f"the start model {have} its input to its output (residual path) and the requested "
            f"model {'does' if residual else 'does not'}; that cannot be changed without changing "
            "its sound: keep the start model's residual setting"
        )
    model = adapt_input_size(model, input_size, knob_values)
    target = model.hidden_size if hidden_size is None else int(hidden_size)
    if target > model.hidden_size:
        model = grow_hidden(model, target, seed)
    elif target < model.hidden_size:
        if probe is None:

            audio = guitar_signal(2.0, 48000, seed)
            probe = np.concatenate(
                [audio[:, None], np.full((len(audio), input_size - 1), 0.5, np.float32)], axis=1
            )
        model = shrink_hidden(model, target, probe)
    return model.train()


def freeze(model: nn.Module, parts: Iterable[str]) -> list[str]:
    """Stop training the named parts (FREEZABLE); returns the frozen parameter names."""
    parts = list(parts)
    unknown = sorted(set(parts) - set(FREEZABLE))
    if unknown:
        raise LeanampError(f"cannot freeze {unknown}: choose among {list(FREEZABLE)}")
    frozen = []
    for name, param in model.named_parameters():
        hit = (
            ("lstm" in parts and name.startswith("lstm."))
            or ("input" in parts and name.startswith("lstm.weight_ih"))
            or ("recurrent" in parts and name.startswith("lstm.weight_hh"))
            or ("head" in parts and name.startswith("head."))
        )
        if hit:
            param.requires_grad_(False)
            frozen.append(name)
    if parts and len(frozen) == len(list(model.parameters())):
        raise LeanampError(f"freezing {parts} leaves nothing to train")
    return frozen


# --- choosing the start automatically ------------------------------------------------------------
# Beyond 12 dB the model's output level is far from the device's: its fitted ESR describes the
# rescaled model, not one that starts near the device, so it ranks after models within the range.
MAX_START_GAIN = 4.0

RANKING_LEGEND = (
    "fitted ESR: error-to-signal ratio of the model's output after the best gain is applied "
    "(lower is better; the ranking key)\n"
    "ESR: the same without the gain\n"
    f"gain: the factor fitted to the model's output (negative: inverted polarity); models that "
    f"need more than {MAX_START_GAIN:g}x ({20 * math.log10(MAX_START_GAIN):.0f} dB) rank after "
    "the rest\n"
    "knobs: the knob values at which a knob-conditioned model fits best"
)
@dataclass
class StartCandidate:
    """How well one model file already explains the target.

    fitted_esr: ESR after the best gain (sign included, so polarity too) is applied to the model's
    output, gain = <y, p> / <p, p>; the ranking key. esr: without that gain.
    """

    path: str
    name: str
    fitted_esr: float
    esr: float
    gain: float
    knob_values: tuple[float, ...] = ()
    sample_rate: float | None = None
    hidden_size: int | None = None
    usable: bool = True  # an LSTM training can start from
    note: str = ""

    @property
    def needs_big_gain(self) -> bool:
        return abs(self.gain) > MAX_START_GAIN

    def describe(self) -> str:
        knobs = f" knobs={list(self.knob_values)}" if self.knob_values else ""
        note = f"  ({self.note})" if self.note else ""
        return (
            f"{self.name:<40} fitted ESR {self.fitted_esr:8.4f}  ESR {self.esr:8.4f}  "
            f"gain {self.gain:+.2f}{knobs}{note}"
        )


def model_files(library: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The model files in a folder (searched recursively), or in several folders and files."""
    places = [library] if isinstance(library, (str, os.PathLike)) else list(library)
    files: list[Path] = []
    for place in map(Path, places):
        if place.is_file():
            files.append(place)
        elif place.is_dir():
            files += sorted(
                p for p in place.rglob("*") if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES
            )
        else:
            raise LeanampError(f"{place}: no such folder or file (give a folder of model files)")
    if not files:
        raise LeanampError(
            f"{', '.join(map(str, places))}: no model files ({', '.join(MODEL_SUFFIXES)}) there"
        )
    return files


def probe_slices(clips: Sequence[Clip], seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal slices from the start of every clip: inputs (n, T, C) and targets (n, T).

    A slice from each clip covers the data's variety; every slice is scored from a zero state.
    """
    if not clips:
        raise LeanampError("no clips to rank start models on")
    rate = clips[0].sample_rate
    per_clip = int(round(seconds * rate / len(clips)))
    length = min(max(per_clip, SCORE_WARMUP_SAMPLES * 2), min(len(c.target) for c in clips))
    if length <= SCORE_WARMUP_SAMPLES:
        raise LeanampError(
            f"the clips are too short to rank start models on (shortest {length} samples)"
        )
    inputs = np.stack([c.input[:length, :1] for c in clips]).astype(np.float32)
    targets = np.stack([c.target[:length] for c in clips]).astype(np.float32)
    return inputs, targets


def _score(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, float, float]:
    p = outputs[:, SCORE_WARMUP_SAMPLES:].astype(np.float64).ravel()
    y = targets[:, SCORE_WARMUP_SAMPLES:].astype(np.float64).ravel()
    energy = float(np.dot(y, y))
    if energy == 0.0:
        raise LeanampError("the target is silent in the ranking slices: give louder clips")
    if not np.isfinite(p).all():
        return math.inf, math.inf, 0.0
    plain = float(np.sum((p - y) ** 2) / energy)
    power = float(np.dot(p, p))
    gain = float(np.dot(y, p) / power) if power > 0 else 0.0
    fitted = float(np.sum((gain * p - y) ** 2) / energy)
    return fitted, plain, gain


@torch.inference_mode()
def score_model(
    model: nn.Module, inputs: np.ndarray, targets: np.ndarray, knob_grid=DEFAULT_KNOB_GRID
) -> tuple[float, float, float, tuple[float, ...]]:
    """(fitted ESR, ESR, gain, knob values) of `model` on probe slices; knob inputs are set to
    every combination of `knob_grid` values (one batch) and the best combination is kept."""
    model = model.cpu().eval()
    knobs = int(getattr(model, "input_size", 1)) - 1
    combos = list(itertools.product(knob_grid, repeat=knobs)) if knobs else [()]
    n, length, _ = inputs.shape
    batch = np.empty((len(combos) * n, length, 1 + knobs), np.float32)
    for k, combo in enumerate(combos):
        batch[k * n : (k + 1) * n, :, :1] = inputs
        if knobs:
            batch[k * n : (k + 1) * n, :, 1:] = np.float32(combo)
    # Bounded memory: the LSTM keeps (rows, time, hidden) outputs, so run a few rows at a time.
    rows_per_call = max(1, BATCH_SAMPLES // length)
    outputs = np.concatenate(
        [
            model(torch.from_numpy(batch[start : start + rows_per_call]))[0].float().numpy()
            for start in range(0, len(batch), rows_per_call)
        ]
    )
    best = None
    for k, combo in enumerate(combos):
        fitted, plain, gain = _score(outputs[k * n : (k + 1) * n], targets)
        if best is None or fitted < best[0]:
            best = (fitted, plain, gain, tuple(float(v) for v in combo))
    return best


def rank_start_models(
    clips: Sequence[Clip],
    library: str | os.PathLike | Sequence[str | os.PathLike],
    seconds: float = 8.0,
    knob_grid: Sequence[float] = DEFAULT_KNOB_GRID,
) -> list[StartCandidate]:
    """Every model file in `library` (a folder, or folders and files) scored on `seconds` of the
    clips, best first.

    Only the audio channel of the clips is used; candidates with knob inputs are tried at every
    combination of `knob_grid`. Files that are not readable models are listed last, unscored.
    """

    inputs, targets = probe_slices(clips, seconds)
    rate = clips[0].sample_rate
    candidates = []
    for path in model_files(library):
        try:
            model, metadata = load_any(path)
        except ModelFileError as e:
            candidates.append(
                StartCandidate(str(path), path.name, math.inf, math.inf, 0.0, usable=False,
                               note=f"not loadable: {e}")
            )
            continue
        fitted, plain, gain, knobs = score_model(model, inputs, targets, tuple(knob_grid))
        notes = []
        usable = isinstance(model, LSTMModel)
        if not usable:
            notes.append(f"{getattr(model, 'architecture', 'not an LSTM')}: cannot start from it")
        model_rate = metadata.get("sample_rate")
        if model_rate and float(model_rate) != float(rate):
            notes.append(f"made for {float(model_rate):g} Hz, data is {rate} Hz")
        if abs(gain) > MAX_START_GAIN:
            notes.append(f"fits only after a gain of {abs(gain):.3g} "
                         f"({20 * math.log10(abs(gain)):.0f} dB): ranked after the rest")
        candidates.append(
            StartCandidate(
                str(path), metadata.get("name") or path.stem, fitted, plain, gain, knobs,
                float(model_rate) if model_rate else None,
                getattr(model, "hidden_size", None), usable, "; ".join(notes),
            )
        )
    candidates.sort(key=lambda c: (not c.usable, c.needs_big_gain, c.fitted_esr))
    return candidates


def best_start(candidates: Sequence[StartCandidate], library: object) -> StartCandidate:
    """The best-ranked candidate training can start from (`library` names the search in errors)."""
    # Candidates are sorted with the ones needing a huge gain after the rest.
    usable = [c for c in candidates if c.usable and math.isfinite(c.fitted_esr)]
    if not usable:
        raise LeanampError(f"{library}: no LSTM model file in this folder to start training from")
    return usable[0]


def suggest_start(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    library: str | os.PathLike | Sequence[str | os.PathLike],
    target_prefix: str = "",
    seconds: float = 8.0,
    align: bool = True,
    **load_options,
) -> list[StartCandidate]:
    """`leanamp suggest-start`: rank the models in `library` on `seconds` of the recordings,
    best first."""
    if not seconds > 0:
        raise LeanampError(f"--seconds must be positive, got {seconds}")
    model_files(library)  # a wrong library is reported before any audio is read
    clips, _, _ = load_clips(find_pairs(input_path, target_path, target_prefix), align=align,
                             **load_options)
    return rank_start_models(clips, library, seconds)


# --- the option of `leanamp train` ---------------------------------------------------------------
@dataclass
class StartInfo:
    """Where a run started from, for the run's summary."""

    path: str
    format: str
    start_hidden_size: int
    hidden_size: int
    input_size: int
    knob_values: tuple[float, ...] = ()
    frozen: list[str] = field(default_factory=list)
    ranking: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def initial_model(
    spec: str | os.PathLike,
    data: DeviceData,
    hidden_size: int | None = None,
    residual: bool | None = None,
    library: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    freeze_parts: Sequence[str] = (),
    knob_values: Sequence[float] | None = None,
    seed: int = 0,
) -> tuple[LSTMModel, StartInfo]:
    """The model `leanamp train --init-from SPEC` starts from, and where it came from.

    SPEC is a model file, or "auto" to take the best of `library` (rank_start_models on the
    training clips). hidden_size / residual None keep the start model's. Knob inputs of the start
    model the data lacks are fixed at `knob_values` (for "auto": the values the ranking found).
    """
    ranking: list[StartCandidate] = []
    if str(spec) == "auto":
        if not library:
            raise LeanampError("--init-from auto needs --start-library DIR: a folder of models")
        ranking = rank_start_models(data.train, library)
        chosen = best_start(ranking, library)
        path = Path(chosen.path)
        if knob_values is None:
            start, _ = load_start_model(path)
            fixed = max(0, start.input_size - data.input_size)
            knob_values = chosen.knob_values[len(chosen.knob_values) - fixed :] if fixed else None
    else:
        path = Path(spec)
    start, metadata = load_start_model(path)
    probe = data.train[0].input[: int(2 * data.sample_rate)]
    model = adapt_model(
        start, data.input_size, hidden_size, residual, knob_values, probe=probe, seed=seed
    )
    frozen = freeze(model, freeze_parts)
    info = StartInfo(
        path=str(path),
        format=str(metadata.get("format", "native")),
        start_hidden_size=start.hidden_size,
        hidden_size=model.hidden_size,
        input_size=model.input_size,
        knob_values=tuple(knob_values or ()),
        frozen=frozen,
        ranking=[asdict(c) for c in ranking],
    )
    return model, info


# --- curves --------------------------------------------------------------------------------------
def load_history(run: str | os.PathLike) -> list[dict]:
    """A run's per-epoch records from its folder (run/history.json) or a history.json path."""
    path = Path(run)
    for candidate in (path, path / "history.json", path / "run" / "history.json"):
        if candidate.is_file():
            try:
                records = json.loads(candidate.read_text())
            except (OSError, ValueError) as e:
                raise LeanampError(f"{candidate}: unreadable history ({e})") from None
            if not isinstance(records, list):
                raise LeanampError(f"{candidate}: not a training history (a list of epochs)")
            return records
    raise LeanampError(f"{path}: no history.json here; give a training output folder")


def compare_runs(
    runs: dict[str, list[dict] | str | os.PathLike], path: str | os.PathLike, title: str = ""
) -> Path:
    """Validation (and training) loss curves of several runs in one plot, e.g. from scratch
    versus transfer. Values are histories or run folders."""

    histories = {
        label: run if isinstance(run, list) else load_history(run) for label, run in runs.items()
    }
    return plot_loss_curves(histories, path, title)
