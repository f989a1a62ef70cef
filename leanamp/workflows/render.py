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
from leanamp.formats import load_any, start_state

DEFAULT_SAMPLE_RATE = 48000
CHUNK_SAMPLES = 1 << 16


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
    The model starts from its file's initial state (NAM LSTMs store one) or from silence, and
    every `render` call starts afresh, so rendering is deterministic.
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

    def _input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim == 1:
            if self.input_size == 1:
                return x[:, None]
            if not self.knobs:
                raise LeanampError(
                    f"{self.name}: this model has {self.input_size - 1} knob input(s); give "
                    "their values (knobs=..., `--knob` on the command line) or pass "
                    f"(time, {self.input_size}) input with the knob values in columns 1.."
                )
            columns = [x] + [np.full_like(x, k) for k in self.knobs]
            return np.stack(columns, axis=1)
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise LeanampError(
                f"{self.name}: input of shape {x.shape} does not fit a model with "
                f"{self.input_size} input channel(s)"
            )
        return np.ascontiguousarray(x)

    @torch.inference_mode()
    def render(self, x: np.ndarray) -> np.ndarray:
        """x (time,) or (time, channels) -> (time,) float32 output of the model."""
        x = self._input(x)
        if not np.isfinite(x).all():
            raise LeanampError(f"{self.name}: input contains NaN or infinite samples")
        context = int(getattr(self.model, "receptive_field", 1)) - 1
        state = start_state(self.model, self.metadata)
        out = np.empty(len(x), dtype=np.float32)
        for start in range(0, len(x), CHUNK_SAMPLES):
            stop = min(start + CHUNK_SAMPLES, len(x))
            # Convolutional models see the preceding receptive field; recurrent ones carry state.
            begin = max(0, start - context)
            block = torch.from_numpy(x[begin:stop])[None].to(self.torch_device)
            y, state = self.model(block, state)
            out[start:stop] = y[0, start - begin :].float().cpu().numpy()
        return out


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

    device = ModelDevice(model_path, knobs=knobs)
    audio = read_audio(input_path)
    x = audio.samples
    if device.sample_rate != audio.sample_rate:
        warnings.warn(
            f"{input_path}: {audio.sample_rate} Hz input resampled to the model's "
            f"{device.sample_rate} Hz and the output back",
            DataWarning,
            stacklevel=2,
        )
        y = device.render(resample(x, audio.sample_rate, int(device.sample_rate)))
        y = resample(y, int(device.sample_rate), audio.sample_rate)
        y = np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]
    else:
        y = device.render(x)
    return write_audio(output_path, y, audio.sample_rate)
