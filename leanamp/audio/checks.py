"""Checks on an input/target recording pair before it is used for training.

`load_pair` reads both files and returns them ready to use (same sample rate, same length, mono
target) or raises DataError with a message that names the file and says what to do. Usable but
suspicious recordings (a little clipping, a small length difference) pass with a DataWarning.
Alignment (latency, polarity) is separate: see leanamp.audio.align.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leanamp.audio.io import Audio, read_audio, resample
from leanamp.errors import DataError, DataWarning


@dataclass
class PairCheck:
    """What the checks found and did to an input/target pair."""

    input_name: str
    target_name: str
    sample_rate: int  # the rate both arrays have now
    input_rate: int  # as read
    target_rate: int  # as read
    resampled: list[str]  # "input" and/or "target" when they were resampled
    input_length: int  # samples at `sample_rate`, before trimming
    target_length: int
    length: int  # samples of both after trimming
    trimmed: int  # samples removed from the longer file's end
    input_channels: int  # audio + knob channels
    target_channels_read: int  # channels in the target file (identical channels are merged)
    input_clipped_fraction: float  # share of samples inside clipped runs (audio channel)
    target_clipped_fraction: float
    input_rms_db: float  # dBFS of the audio channel
    target_rms_db: float
    warnings: list[str] = field(default_factory=list)  # each one was also issued as DataWarning
    notes: list[str] = field(default_factory=list)  # benign things done (merged channels...)

    def describe(self) -> str:
        lines = [
            f"input  {self.input_name}: {self.input_rate} Hz, {self.input_channels} channel(s), "
            f"RMS {self.input_rms_db:.1f} dBFS, clipped {100 * self.input_clipped_fraction:.3f}%",
            f"target {self.target_name}: {self.target_rate} Hz, "
            f"{self.target_channels_read} channel(s), RMS {self.target_rms_db:.1f} dBFS, "
            f"clipped {100 * self.target_clipped_fraction:.3f}%",
            f"using {self.length} samples ({self.length / self.sample_rate:.2f} s) at "
            f"{self.sample_rate} Hz"
            + (f", resampled: {', '.join(self.resampled)}" if self.resampled else "")
            + (f", trimmed {self.trimmed} samples" if self.trimmed else ""),
        ]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def find_clipping(
    x: np.ndarray, threshold: float = 0.999, min_run: int = 4
) -> list[tuple[int, int]]:
    """Runs of at least `min_run` consecutive samples with |x| >= `threshold` (full scale 1.0).

    `x` is one channel, shape (time,). Returns (start, end) pairs, end exclusive. Isolated
    full-scale peaks are normal; a run of them is a converter or a file that clipped.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"find_clipping takes one channel of shape (time,), got {x.shape}")
    if min_run < 1:
        raise ValueError(f"min_run must be >= 1, got {min_run}")
    hot = np.abs(x) >= threshold
    if not hot.any():
        return []
    edges = np.diff(np.concatenate(([0], hot.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    keep = (ends - starts) >= min_run
    return [(int(s), int(e)) for s, e in zip(starts[keep], ends[keep], strict=True)]


def _rms_db(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else -np.inf


def _warn(check_warnings: list[str], message: str) -> None:
    check_warnings.append(message)
    warnings.warn(message, DataWarning, stacklevel=3)


def _check_clipping(
    audio: np.ndarray,
    name: str,
    sample_rate: int,
    role: str,
    threshold: float,
    min_run: int,
    error_fraction: float,
    check_warnings: list[str],
) -> float:
    runs = find_clipping(audio, threshold, min_run)
    if not runs:
        return 0.0
    clipped = sum(e - s for s, e in runs)
    fraction = clipped / len(audio)
    first = runs[0][0]
    what = (
        f"{name}: the {role} clips: {len(runs)} run(s) of >= {min_run} samples at or above "
        f"{threshold:g} of full scale, {clipped} samples ({100 * fraction:.2f}%) in all, the first "
        f"at {first / sample_rate:.3f} s"
    )
    advice = (
        "lower the level sent to the device"
        if role == "input"
        else "lower the device's output or the interface's input gain"
    )
    if fraction >= error_fraction:
        raise DataError(f"{what}. A model would learn the clipping; record again and {advice}.")
    _warn(check_warnings, f"{what}; usable, but {advice} next time.")
    return fraction


def check_pair(
    input_samples: np.ndarray,
    input_rate: int,
    target_samples: np.ndarray,
    target_rate: int,
    *,
    input_name: str = "input",
    target_name: str = "target",
    resample_target: bool = True,
    sample_rate: int | None = None,
    length_tolerance: float = 0.01,
    clip_threshold: float = 0.999,
    clip_min_run: int = 4,
    clip_error_fraction: float = 0.01,
    silence_db: float = -70.0,
) -> tuple[np.ndarray, np.ndarray, PairCheck]:
    """Check an input/target pair given as arrays; return (input, target, PairCheck).

    input: (time,) or (time, channels), channel 0 audio, channels 1.. knob values in 0..1.
    target: (time,) or (time, channels) of identical channels. Returns input float32
    (time, channels) and target float32 (time,), same rate and length. The names are used in
    messages (pass the file paths). See `load_pair` for what is checked.
    """
    x = _as_2d(input_samples, input_name)
    y = _as_2d(target_samples, target_name)
    check_warnings: list[str] = []
    notes: list[str] = []
    for arr, rate, name in ((x, input_rate, input_name), (y, target_rate, target_name)):
        if arr.shape[0] == 0:
            raise DataError(f"{name}: holds no samples (empty recording)")
        if not np.isfinite(arr).all():
            raise DataError(f"{name}: holds NaN or infinite samples; export the file again")
        if int(rate) != rate or rate <= 0:
            raise DataError(f"{name}: invalid sample rate {rate}")

    # Target: one channel. Identical channels (a mono signal saved as stereo) are fine.
    target_channels_read = y.shape[1]
    if y.shape[1] > 1:
        if not all(np.array_equal(y[:, 0], y[:, c]) for c in range(1, y.shape[1])):
            raise DataError(
                f"{target_name}: has {y.shape[1]} different channels; the target must be the "
                "device's mono output. Export only the channel that recorded the device."
            )
        notes.append(f"{target_name}: {y.shape[1]} identical channels, using one")
    y = y[:, 0]

    # Input: channel 0 audio, the others knob values (a stereo recording fails here).
    for c in range(1, x.shape[1]):
        lo, hi = float(x[:, c].min()), float(x[:, c].max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(
                f"{input_name}: channel {c} spans {lo:.3f}..{hi:.3f}, but channels after the "
                "first must hold knob values in 0..1. If this is a stereo recording, export the "
                "input as mono."
            )

    # Silence, then clipping, at the rates as read (resampling can overshoot at clipped edges).
    input_rms_db = _rms_db(x[:, 0])
    target_rms_db = _rms_db(y)
    for role, name, level in (
        ("input", input_name, input_rms_db),
        ("target", target_name, target_rms_db),
    ):
        if level < silence_db:
            raise DataError(
                f"{name}: the {role} is silent (RMS {level:.1f} dBFS, below {silence_db:g}). "
                + (
                    "Check that the file holds the signal sent to the device."
                    if role == "input"
                    else "Check the cables, the device's power and the recording input."
                )
            )
    input_clipped = _check_clipping(
        x[:, 0],
        input_name,
        input_rate,
        "input",
        clip_threshold,
        clip_min_run,
        clip_error_fraction,
        check_warnings,
    )
    target_clipped = _check_clipping(
        y,
        target_name,
        target_rate,
        "target",
        clip_threshold,
        clip_min_run,
        clip_error_fraction,
        check_warnings,
    )

    # Sample rate.
    rate = int(sample_rate) if sample_rate is not None else int(input_rate)
    resampled: list[str] = []
    if not resample_target and (target_rate != rate or input_rate != rate):
        raise DataError(
            f"{target_name}: sample rate {target_rate} Hz, but the input {input_name} is "
            f"{input_rate} Hz"
            + (f" and {rate} Hz was asked for" if sample_rate else "")
            + ". Allow resampling (drop --no-resample) "
            "or export both files at the same rate."
        )
    if input_rate != rate:
        x = _resample_input(x, input_rate, rate)
        resampled.append("input")
    if target_rate != rate:
        y = resample(y, target_rate, rate)
        resampled.append("target")
        notes.append(f"{target_name}: resampled from {target_rate} Hz to {rate} Hz")

    # Length: trim a small difference, refuse a large one (wrong file or a truncated export).
    input_length, target_length = x.shape[0], y.shape[0]
    difference = abs(input_length - target_length)
    longest = max(input_length, target_length)
    if difference > length_tolerance * longest:
        raise DataError(
            f"{target_name}: {target_length} samples ({target_length / rate:.3f} s) but the input "
            f"{input_name} has {input_length} ({input_length / rate:.3f} s) at {rate} Hz; they "
            f"differ by {100 * difference / longest:.2f}%, more than the "
            f"{100 * length_tolerance:g}% tolerance. Are these the matching files? Record the "
            "whole input through the device and export both from the same start to the same end."
        )
    length = min(input_length, target_length)
    # A resampler rounds lengths; a one-sample difference from it is not worth a warning.
    if difference > (1 if resampled else 0):
        shorter = "target" if target_length < input_length else "input"
        _warn(
            check_warnings,
            f"{target_name}: lengths differ by {difference} samples ({1000 * difference / rate:.1f}"
            f" ms; input {input_length}, target {target_length}); trimmed both to the {shorter}'s "
            f"{length} samples.",
        )
    x = np.ascontiguousarray(x[:length], dtype=np.float32)
    y = np.ascontiguousarray(y[:length], dtype=np.float32)

    check = PairCheck(
        input_name=input_name,
        target_name=target_name,
        sample_rate=rate,
        input_rate=int(input_rate),
        target_rate=int(target_rate),
        resampled=resampled,
        input_length=input_length,
        target_length=target_length,
        length=length,
        trimmed=difference,
        input_channels=x.shape[1],
        target_channels_read=target_channels_read,
        input_clipped_fraction=input_clipped,
        target_clipped_fraction=target_clipped,
        input_rms_db=input_rms_db,
        target_rms_db=target_rms_db,
        warnings=check_warnings,
        notes=notes,
    )
    return x, y, check


def load_pair(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    *,
    resample_target: bool = True,
    length_tolerance: float = 0.01,
    sample_rate: int | None = None,
    clip_threshold: float = 0.999,
    clip_min_run: int = 4,
    clip_error_fraction: float = 0.01,
    silence_db: float = -70.0,
) -> tuple[Audio, Audio, PairCheck]:
    """Read an input/target recording pair, check it, and return it ready to use.

    Returns (input, target, check): input (time, channels) with knob channels kept, target
    (time, 1), both float32 at one sample rate (the input's, or `sample_rate`) and one length.

    DataError (naming the file) when: a file is missing, unreadable, empty or holds NaN/inf;
    the rates differ and `resample_target` is False; the lengths differ by more than
    `length_tolerance` (a fraction of the longer length; within it both are trimmed to the
    shorter, with a DataWarning); the target has several different channels; an input knob
    channel leaves 0..1; input or target is silent (RMS below `silence_db` dBFS); input or target
    clips (runs of >= `clip_min_run` samples at |x| >= `clip_threshold`) on at least
    `clip_error_fraction` of its samples. Rarer clipping is a DataWarning.
    """
    x_audio = read_audio(input_path)
    y_audio = read_audio(target_path)
    x, y, check = check_pair(
        x_audio.samples,
        x_audio.sample_rate,
        y_audio.samples,
        y_audio.sample_rate,
        input_name=str(input_path),
        target_name=str(target_path),
        resample_target=resample_target,
        sample_rate=sample_rate,
        length_tolerance=length_tolerance,
        clip_threshold=clip_threshold,
        clip_min_run=clip_min_run,
        clip_error_fraction=clip_error_fraction,
        silence_db=silence_db,
    )
    return (
        Audio(x, check.sample_rate, Path(input_path)),
        Audio(y[:, None], check.sample_rate, Path(target_path)),
        check,
    )


def _as_2d(samples: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(samples, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name}: expected (time,) or (time, channels) audio, got {arr.shape}")
    return arr


def _resample_input(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Audio channel through soxr; knob channels by sample-and-hold (they are steps, and a
    band-limited resampler would ring around every knob change and leave 0..1)."""
    audio = resample(x[:, 0], from_rate, to_rate)
    out = np.empty((len(audio), x.shape[1]), dtype=np.float32)
    out[:, 0] = audio
    if x.shape[1] > 1:
        source = np.minimum((np.arange(len(audio)) * from_rate) // to_rate, x.shape[0] - 1)
        out[:, 1:] = x[source, 1:]
    return out
