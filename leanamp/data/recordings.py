"""Datasets: clips of (input, target) audio, splits, and training segments.

A device's data is a set of clips: pairs of an input recording (channel 0 audio, channels 1..
knob values) and the device's output. All clips of a device share one latency and one polarity,
estimated jointly (`leanamp.audio.align`). Validation and test use whole clips; training uses
fixed-length segments in shuffled mini-batches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from leanamp.audio.align import Alignment, BlipClip, align_device, apply_alignment, find_blips
from leanamp.audio.checks import PairCheck, load_pair
from leanamp.data.capture_files import CaptureFile, check_capture, recognise_capture
from leanamp.errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff")


@dataclass
class Clip:
    name: str
    input: np.ndarray  # (time, channels) float32; channel 0 audio, 1.. knobs
    target: np.ndarray  # (time,) float32
    sample_rate: int
    capture: CaptureFile | None = None  # a standard capture input's layout (whole clips only)

    def __post_init__(self):
        if self.input.ndim == 1:
            self.input = self.input[:, None]
        if len(self.input) != len(self.target):
            raise ValueError(f"clip {self.name}: input and target lengths differ")

    @property
    def seconds(self) -> float:
        return len(self.target) / self.sample_rate

    @property
    def input_size(self) -> int:
        return self.input.shape[1]

    def slice(self, start: int, stop: int, name: str | None = None) -> Clip:
        return Clip(
            name or self.name, self.input[start:stop], self.target[start:stop], self.sample_rate
        )


@dataclass
class DeviceData:
    """A device's clips split into train / validation / test, with how they were prepared."""

    train: list[Clip]
    validation: list[Clip]
    test: list[Clip]
    sample_rate: int
    alignment: Alignment | None = None
    checks: list[PairCheck] = field(default_factory=list)
    captures: list[CaptureFile] = field(default_factory=list)  # recognised capture inputs

    @property
    def input_size(self) -> int:
        return self.train[0].input_size

    def summary(self) -> str:
        def part(clips):
            return f"{len(clips)} clips, {sum(c.seconds for c in clips):.1f} s"

        lines = [
            f"sample rate {self.sample_rate} Hz, input channels {self.input_size}",
            f"train: {part(self.train)}",
            f"validation: {part(self.validation)}",
            f"test: {part(self.test)}",
        ]
        lines += [f"split by the layout of {c.describe()}" for c in self.captures]
        if self.alignment is not None:
            lines.append(self.alignment.describe())
        return "\n".join(lines)


def find_pairs(
    input_path: str | os.PathLike, target_path: str | os.PathLike, target_prefix: str = ""
) -> list[tuple[Path, Path]]:
    """Pair input and target files.

    Two files: one pair. Two folders: each input file `X.ext` pairs with the target whose stem is
    `target_prefix + X` (any audio extension): dry/bass.mp3 pairs with
    pedal/a_zendrive_g5_t3_bass.mp3 given the prefix a_zendrive_g5_t3_.
    """
    input_path, target_path = Path(input_path), Path(target_path)
    if input_path.is_file() and target_path.is_file():
        return [(input_path, target_path)]
    if not input_path.is_dir() or not target_path.is_dir():
        for p in (input_path, target_path):
            if not p.exists():
                raise DataError(f"{p}: no such file or folder")
        raise DataError(
            f"{input_path} and {target_path}: give two files or two folders, not one of each"
        )
    targets = {p.stem: p for p in target_path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES}
    pairs = []
    for p in sorted(input_path.iterdir()):
        if p.suffix.lower() in AUDIO_SUFFIXES and target_prefix + p.stem in targets:
            pairs.append((p, targets[target_prefix + p.stem]))
    if not pairs:
        raise DataError(
            f"no pairs found: no file in {target_path} is named '{target_prefix}<input name>' "
            f"for an input file in {input_path} (use --target-prefix for prefixed names)"
        )
    return pairs


# Blips found in an input that is no known layout: the output's background is measured in
# [blip - START, blip - STOP), where the input was silent long enough for the device to be quiet.
BLIP_BACKGROUND_START = 6000
BLIP_BACKGROUND_STOP = 2000


def load_clips(
    pairs: list[tuple[Path, Path]],
    align: bool = True,
    resample_target: bool = True,
    sample_rate: int | None = None,
    latency: int | None = None,
    polarity: int | None = None,
    **check_options,
) -> tuple[list[Clip], Alignment | None, list[PairCheck]]:
    """Read, check and (jointly) align pairs of files; returns clips named by input file stem.

    A standard capture input (NAM's reamp files, Proteus's, leanamp's capture signal; see
    leanamp.data.capture_files) is recognised: its clip carries the layout (`Clip.capture`),
    its blips measure the latency, and NAM's checks run on its aligned output. Inputs holding
    blips of their own are measured on them too. latency / polarity: given by hand, they
    override the estimate (`leanamp.audio.align.align_device`).
    """
    if not align and (latency is not None or polarity is not None):
        raise DataError("latency and polarity given by hand apply to aligned data: drop "
                        "--no-align (align=False)")
    loaded = [
        load_pair(i, t, resample_target=resample_target, sample_rate=sample_rate, **check_options)
        for i, t in pairs
    ]
    rates = {x.sample_rate for x, _, _ in loaded}
    if len(rates) > 1:
        raise DataError(
            f"input files have different sample rates {sorted(rates)}: pass one --sample-rate "
            "to resample every pair to it"
        )
    rate = rates.pop()
    arrays = [(x.samples, y.samples[:, 0]) for x, y, _ in loaded]
    names = [Path(t).name for _, t in pairs]
    # Layouts are positions in the input as recorded: a resampled input has none.
    captures = [
        recognise_capture(x, rate, i) if "input" not in check.resampled else None
        for (i, _), (x, _), (_, _, check) in zip(pairs, arrays, loaded, strict=True)
    ]
    alignment = None
    if align:
        blip_clips = []
        for (x, y), capture, name in zip(arrays, captures, names, strict=True):
            if capture is not None:
                blip_clips.append(capture.blip_clip(x[:, 0], y, name))
            elif blips := find_blips(x, before=BLIP_BACKGROUND_START):
                background = (blips[0] - BLIP_BACKGROUND_START, blips[0] - BLIP_BACKGROUND_STOP)
                blip_clips.append(BlipClip(x[:, 0], y, blips, background, name))
        alignment = align_device(
            [(x[:, 0], y) for x, y in arrays], rate, names=names, blip_clips=blip_clips,
            latency=latency, polarity=polarity,
        )  # fmt: skip
        arrays = [apply_alignment(x, y, alignment) for x, y in arrays]
    for (_, y), capture, name in zip(arrays, captures, names, strict=True):
        if capture is not None:
            check_capture(capture, y, name)
    clips = [
        Clip(
            Path(i).stem,
            np.ascontiguousarray(x, np.float32),
            np.ascontiguousarray(y, np.float32),
            rate,
            capture,
        )
        for (i, _), (x, y), capture in zip(pairs, arrays, captures, strict=True)
    ]
    return clips, alignment, [c for _, _, c in loaded]


def split_by_layout(clips: list[Clip]) -> tuple[list[Clip], list[Clip], list[Clip]]:
    """Each clip cut by its capture layout: its "train", "validation" and "test" ranges."""
    train, val, tst = [], [], []
    for c in clips:
        for part, into in (("train", train), ("validation", val), ("test", tst)):
            start, stop = c.capture.layout.sections[part]
            stop = min(stop, len(c.target))
            if stop - start > 0:
                into.append(c.slice(start, stop, f"{c.name}[{part}]"))
    return train, val, tst


def split_by_names(
    clips: list[Clip], validation: list[str], test: list[str]
) -> tuple[list[Clip], list[Clip], list[Clip]]:
    """Whole clips to validation and test by name; the rest train."""
    names = {c.name for c in clips}
    both = sorted(set(validation) & set(test))
    if both:
        raise DataError(
            f"clip(s) {both} named for both --validation and --test: the test figure must come "
            "from audio not used to choose the model; name different clips"
        )
    for wanted in [*validation, *test]:
        if wanted not in names:
            raise DataError(f"split names clip {wanted!r}, but the clips are {sorted(names)}")
    val = [c for c in clips if c.name in validation]
    tst = [c for c in clips if c.name in test]
    train = [c for c in clips if c.name not in validation and c.name not in test]
    if not train:
        raise DataError("the split leaves no clip for training")
    return train, val, tst


def split_by_time(
    clips: list[Clip], validation_fraction: float = 0.15, test_fraction: float = 0.15
) -> tuple[list[Clip], list[Clip], list[Clip]]:
    """Cut every clip in time: the first part trains, then validation, then test."""
    train, val, tst = [], [], []
    for c in clips:
        n = len(c.target)
        a = int(round(n * (1 - validation_fraction - test_fraction)))
        b = int(round(n * (1 - test_fraction)))
        train.append(c.slice(0, a, f"{c.name}[train]"))
        if b > a:
            val.append(c.slice(a, b, f"{c.name}[validation]"))
        if n > b:
            tst.append(c.slice(b, n, f"{c.name}[test]"))
    return train, val, tst


def load_device_data(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    target_prefix: str = "",
    validation: list[str] | None = None,
    test: list[str] | None = None,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    align: bool = True,
    **load_options,
) -> DeviceData:
    """Everything from files to split clips: pair, read, check, align, split.

    With `validation`/`test` clip names the split is by clip; otherwise by the layout of a
    standard capture input (NAM's, Proteus's, leanamp's), or else by time range.
    `load_options` go to `load_clips` (latency, polarity, resampling, checks).
    """
    pairs = find_pairs(input_path, target_path, target_prefix)
    clips, alignment, checks = load_clips(pairs, align=align, **load_options)
    captures = []
    if validation or test:
        train, val, tst = split_by_names(clips, validation or [], test or [])
    elif all(c.capture is not None for c in clips):
        train, val, tst = split_by_layout(clips)
        captures = [c.capture for c in clips]
    else:
        train, val, tst = split_by_time(clips, validation_fraction, test_fraction)
    if not val:
        raise DataError("no validation audio: name a validation clip or use a time split")
    return DeviceData(train, val, tst, clips[0].sample_rate, alignment, checks, captures)


def make_segments(clips: list[Clip], segment_samples: int,
                  hop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut clips into segments starting every `hop` samples (default: back to back): inputs
    (n, L, channels), targets (n, L)."""
    hop = hop or segment_samples
    xs, ys = [], []
    for c in clips:
        if len(c.target) >= segment_samples:
            starts = np.arange(0, len(c.target) - segment_samples + 1, hop)[:, None]
            index = starts + np.arange(segment_samples)
            xs.append(c.input[index].reshape(len(starts), segment_samples, c.input_size))
            ys.append(c.target[index])
    if not xs:
        longest = max((len(c.target) for c in clips), default=0)
        raise DataError(
            f"training audio too short: the longest clip has {longest} samples, a segment needs "
            f"{segment_samples}; record more or shorten --segment-seconds"
        )
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
