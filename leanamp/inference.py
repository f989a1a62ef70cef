"""Running a model over a whole signal with torch, exactly, in bounded memory."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leanamp.errors import DataWarning, LeanampError
from leanamp.files import check_output_file


@torch.inference_mode()
def run_model(model: nn.Module, x: np.ndarray, chunk_samples: int = 1 << 16) -> np.ndarray:
    """Process `x` (time,) or (time, channels) from zero state; returns (time,) float32.

    Recurrent models carry their state across chunks; convolutional ones get the preceding
    receptive field as context, so the result equals one call on the whole signal.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    device = next(model.parameters()).device
    model.eval()
    context = int(getattr(model, "receptive_field", 1)) - 1
    out = np.empty(len(x), dtype=np.float32)
    state = None
    for start in range(0, len(x), chunk_samples):
        stop = min(start + chunk_samples, len(x))
        begin = max(0, start - context)
        block = torch.from_numpy(x[begin:stop]).unsqueeze(0).to(device)
        y, state = model(block, state)
        out[start:stop] = y[0, start - begin :].float().cpu().numpy()
    return out


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
    from leanamp.audio.io import read_audio, resample, write_audio
    from leanamp.formats import load_any

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
    knobs = list(knobs or [])
    channels = audio.samples.shape[1]
    if channels == input_size and not knobs:
        x = audio.samples
    elif len(knobs) == input_size - 1:
        if channels > 1:
            warnings.warn(
                f"{input_path}: {channels} channels; the model takes one audio channel, so only "
                "channel 1 (left) is processed (mix to mono first to use both)",
                DataWarning,
                stacklevel=2,
            )
        x = np.concatenate(
            [audio.samples[:, :1], np.tile(np.float32(knobs), (audio.num_samples, 1))], axis=1
        )
    else:
        raise LeanampError(
            f"{model_path} takes {input_size - 1} knob value(s): pass --knob that many times "
            f"(got {len(knobs)})"
        )
    if audio.sample_rate != rate:
        warnings.warn(
            f"{input_path}: {audio.sample_rate} Hz input resampled to the model's {rate} Hz; "
            f"{output_path} is written at {rate} Hz",
            DataWarning,
            stacklevel=2,
        )
        x = resample(x, audio.sample_rate, rate)
    path = write_audio(output_path, run_model(model, x), rate)
    return path, len(x) / rate, rate
