"""Models as devices: any model file leanamp reads renders target audio like a pedal would.

So the GuitarML TS9, Blues Jr and HT40 models, the HT-1 model of the pruning paper, or any .nam
capture become devices to record datasets from, prune against, and transfer between.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leanamp.audio.io import read_audio, resample, write_audio
from leanamp.errors import DataWarning, LeanampError
from leanamp.files import check_output_file
from leanamp.formats import load_any
from leanamp.inference import model_input, run_model

DEFAULT_SAMPLE_RATE = 48000


def best_device() -> torch.device:
    """CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class ModelDevice:
    """A model (or model file) that renders audio: the Device protocol of leanamp.devices.

    knobs: values in 0..1 for the model's knob inputs (channels 1..), used when `render` gets
    mono audio; a (time, channels) input carries its own knob channels instead.
    Every `render` call starts afresh from the model's own initial state (`run_model`), so
    rendering is deterministic.
    """

    def __init__(
        self,
        path_or_model: str | os.PathLike | nn.Module,
        metadata: dict | None = None,
        knobs: tuple[float, ...] | list[float] | None = None,
        device: str | torch.device | None = None,
    ):
        if isinstance(path_or_model, nn.Module):
            self.model, self.metadata = path_or_model, dict(metadata or {})
            self.name = self.metadata.get("name", type(path_or_model).__name__)
        else:
            self.model, loaded = load_any(path_or_model)
            self.metadata = {**loaded, **(metadata or {})}
            self.name = self.metadata.get("name", Path(path_or_model).stem)
        self.torch_device = torch.device(device) if device is not None else best_device()
        self.model = self.model.to(self.torch_device).eval()
        self.input_size = int(getattr(self.model, "input_size", 1))
        rate = self.metadata.get("sample_rate") or DEFAULT_SAMPLE_RATE
        self.sample_rate = int(rate) if float(rate).is_integer() else float(rate)
        knobs = tuple(float(k) for k in (knobs or ()))
        if knobs and len(knobs) != self.input_size - 1:
            raise LeanampError(
                f"{self.name}: this model has {self.input_size - 1} knob input(s); got "
                f"{len(knobs)} knob value(s)"
            )
        if any(not 0.0 <= k <= 1.0 for k in knobs):
            raise LeanampError(f"{self.name}: knob values must be within 0..1, got {knobs}")
        self.knobs = knobs

    def render(self, x: np.ndarray) -> np.ndarray:
        """x (time,) or (time, channels) -> (time,) float32 output of the model."""
        x = np.asarray(x, dtype=np.float32)
        mono = x.ndim == 1 or x.shape[1] == 1
        x = model_input(
            self.model, x, self.sample_rate, knobs=self.knobs if mono else None, name=self.name
        )
        return run_model(self.model, x)


def render_file(
    model_path: str | os.PathLike,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    knobs: tuple[float, ...] | list[float] | None = None,
) -> Path:
    """Render `input_path` through the model in `model_path` and write `output_path`.

    The output has the input's sample rate and length, so it pairs with the input as a dataset.
    If the model runs at another rate the input is resampled to it and the output back (warned).
    """
    device = ModelDevice(model_path)
    audio = read_audio(input_path)
    x = model_input(
        device.model, audio.samples, audio.sample_rate, device.sample_rate, knobs, str(model_path)
    )
    y = run_model(device.model, x)
    if device.sample_rate != audio.sample_rate:
        warnings.warn(
            f"{input_path}: {audio.sample_rate} Hz input resampled to the model's "
            f"{device.sample_rate} Hz and the output back",
            DataWarning,
            stacklevel=2,
        )
        y = resample(y, int(device.sample_rate), audio.sample_rate)
        y = np.pad(y, (0, max(0, len(audio.samples) - len(y))))[: len(audio.samples)]
    return write_audio(output_path, y, audio.sample_rate)


def process_file(
    model_path: str | os.PathLike,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    knobs: list[float] | None = None,
    width: int | None = None,
) -> tuple[Path, float, int]:
    """Run the model in `model_path` over `input_path` and write `output_path` at the model's
    sample rate; returns (output path, seconds, rate).

    An input with as many channels as the model has inputs carries its own knob channels;
    otherwise channel 0 is the audio and `knobs` give the knob values. Dropped channels and a
    changed sample rate are warned about.
    """
    check_output_file(output_path)
    model, metadata = load_any(model_path)
    if width is not None:
        if not hasattr(model, "set_width"):
            raise LeanampError(
                f"{model_path}: --width needs a slimmable WaveNet, not an "
                f"{model.config['architecture']} model"
            )
        try:
            model.set_width(width)
        except ValueError as e:
            raise LeanampError(f"{model_path}: --width {width}: {e}") from None
    audio = read_audio(input_path)
    rate = int(metadata.get("sample_rate") or audio.sample_rate)
    input_size = int(model.config.get("input_size", 1))
    samples = audio.samples
    if samples.shape[1] > 1 and (knobs or samples.shape[1] != input_size):
        warnings.warn(
            f"{input_path}: {samples.shape[1]} channels; the model takes one audio channel, so "
            "only channel 1 (left) is processed (mix to mono first to use both)",
            DataWarning,
            stacklevel=2,
        )
        samples = samples[:, :1]
    if audio.sample_rate != rate:
        warnings.warn(
            f"{input_path}: {audio.sample_rate} Hz input resampled to the model's {rate} Hz; "
            f"{output_path} is written at {rate} Hz",
            DataWarning,
            stacklevel=2,
        )
    x = model_input(model, samples, audio.sample_rate, rate, knobs, str(model_path))
    path = write_audio(output_path, run_model(model, x), rate)
    return path, len(x) / rate, rate
