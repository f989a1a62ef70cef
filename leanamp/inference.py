"""Running a model over a whole signal with torch, exactly, in bounded memory: the one offline
inference path (process, render, eval, evaluation in training, compress checks, exports...).

`model_input` turns audio as read from a file into what the model takes (its sample rate, its
knob columns); `run_model` runs it from the model's own initial state.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from leanamp.audio.io import resample
from leanamp.errors import LeanampError


@torch.inference_mode()
def run_model(model: nn.Module, x: np.ndarray, chunk_samples: int = 1 << 16) -> np.ndarray:
    """Process `x` (time,) or (time, channels) from the model's initial state (an LSTM's own
    start state, silence before time 0 for a WaveNet); returns (time,) float32.

    Recurrent models carry their state across chunks; convolutional ones get the preceding
    receptive field as context, so the result equals one call on the whole signal.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    context = int(getattr(model, "receptive_field", 1)) - 1
    out = np.empty(len(x), dtype=np.float32)
    state = None
    try:
        for start in range(0, len(x), chunk_samples):
            stop = min(start + chunk_samples, len(x))
            begin = max(0, start - context)
            block = torch.from_numpy(x[begin:stop]).unsqueeze(0).to(device)
            y, state = model(block, state)
            out[start:stop] = y[0, start - begin :].float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def model_input(
    model: nn.Module,
    samples: np.ndarray,
    sample_rate: float,
    model_rate: float | None = None,
    knobs: list[float] | tuple[float, ...] | None = None,
    name: str = "the model",
) -> np.ndarray:
    """Audio (time,) or (time, channels) at `sample_rate` as the model's input (time,
    input_size) at `model_rate` (None: unchanged): resampled if the rates differ; channel 0 is
    the audio, then the knob columns: `knobs` (values 0..1, one per knob input) when given,
    else the file's own channels 1.., which must then be exactly the model's knob inputs."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    input_size = int(getattr(model, "input_size", 1))
    knobs = [float(k) for k in (knobs or ())]
    if x.ndim != 2 or not len(x):
        raise LeanampError(f"{name}: expected audio of shape (time, channels), got {x.shape}")
    if knobs:
        if len(knobs) != input_size - 1:
            raise LeanampError(
                f"{name} takes {input_size - 1} knob value(s): pass --knob that many times "
                f"(got {len(knobs)})"
            )
        if any(not 0.0 <= k <= 1.0 for k in knobs):
            raise LeanampError(f"{name}: knob values must be within 0..1, got {knobs}")
        x = x[:, :1]
    elif x.shape[1] == 1 and input_size > 1:
        raise LeanampError(
            f"{name} has {input_size - 1} knob input(s): give their values (--knob, knobs=...) "
            f"or audio with the knob values in channels 2..{input_size}"
        )
    elif x.shape[1] != input_size:
        raise LeanampError(
            f"{name} takes {input_size} input channel(s) (audio + {input_size - 1} knob(s)); "
            f"the audio has {x.shape[1]}. Give mono audio and the knob values (--knob)"
        )
    if not np.isfinite(x).all():
        raise LeanampError(f"{name}: the input contains NaN or infinite samples")
    if model_rate is not None and float(model_rate) != float(sample_rate):
        x = resample(x, sample_rate, model_rate)
    if knobs:
        x = np.concatenate([x, np.tile(np.float32(knobs), (len(x), 1))], axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)
