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

from leanamp.audio.align import Alignment, apply_alignment, estimate_alignment
from leanamp.audio.checks import PairCheck, load_pair
from leanamp.errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff")


@dataclass
class Clip:
    name: str
    input: np.ndarray  # (time, channels) float32; channel 0 audio, 1.. knobs
    target: np.ndarray  # (time,) float32
    sample_rate: int

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


def load_clips(
    pairs: list[tuple[Path, Path]],
    align: bool = True,
    resample_target: bool = True,
    sample_rate: int | None = None,
    **check_options,
) -> tuple[list[Clip], Alignment | None, list[PairCheck]]:
    """Read, check and (jointly) align pairs of files; returns clips named by input file stem."""
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
    alignment = None
    if align:
        names = [Path(t).name for _, t in pairs]
        alignment = estimate_alignment([(x[:, 0], y) for x, y in arrays], rate, names=names)
        arrays = [apply_alignment(x, y, alignment) for x, y in arrays]
    clips = [
        Clip(
            Path(i).stem,
            np.ascontiguousarray(x, np.float32),
            np.ascontiguousarray(y, np.float32),
            rate,
        )
        for (i, _), (x, y) in zip(pairs, arrays, strict=True)
    ]
    return clips, alignment, [c for _, _, c in loaded]


def split_by_names(
    clips: list[Clip], validation: list[str], test: list[str]
) -> tuple[list[Clip], list[Clip], list[Clip]]:
    """Whole clips to validation and test by name; the rest train."""
    names = {c.name for c in clips}
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

    With `validation`/`test` clip names the split is by clip; otherwise by time range.
    """
    pairs = find_pairs(input_path, target_path, target_prefix)
    clips, alignment, checks = load_clips(pairs, align=align, **load_options)
    if validation or test:
        train, val, tst = split_by_names(clips, validation or [], test or [])
    else:
        train, val, tst = split_by_time(clips, validation_fraction, test_fraction)
    if not val:
        raise DataError("no validation audio: name a validation clip or use a time split")
    return DeviceData(train, val, tst, clips[0].sample_rate, alignment, checks)


def make_segments(clips: list[Clip], segment_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut clips into non-overlapping segments: inputs (n, L, channels), targets (n, L)."""
    xs, ys = [], []
    for c in clips:
        count = len(c.target) // segment_samples
        if count:
            n = count * segment_samples
            xs.append(c.input[:n].reshape(count, segment_samples, c.input_size))
            ys.append(c.target[:n].reshape(count, segment_samples))
    if not xs:
        longest = max((len(c.target) for c in clips), default=0)
        raise DataError(
            f"training audio too short: the longest clip has {longest} samples, a segment needs "
            f"{segment_samples}; record more or shorten --segment-seconds"
        )
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
