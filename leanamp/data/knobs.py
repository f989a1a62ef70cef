"""Knob-conditioned datasets: recordings of one device at several knob settings.

A conditioned model takes 1 + K input channels: audio, then K knob values in 0..1 (constant per
recording, or varying per sample when the input files carry knob channels themselves). Here:

- `with_knobs(clips, values)`: append constant knob channels to clips recorded at one setting.
- `load_knob_data(input, target, settings)`: several settings of one device from files, e.g. the
  MorphDrive pedal at tone 3 and tone 5 (targets named PREFIX + input name per setting), aligned
  jointly (one device: one latency and one polarity) and split by clip name or time.
- `render_knob_sweep(device, knob, values, ...)`: a virtual device recorded at several values of
  one knob, the known-answer data for tests and benchmarks.
- `evaluate_per_setting(model, clips)`: ESR per knob setting, to put seen and unseen settings
  side by side.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from leanamp.data.recordings import Clip, DeviceData, find_pairs, load_clips, split_by_time
from leanamp.devices import get_device, guitar_signal
from leanamp.errors import DataError, LeanampError

SETTING_SEPARATOR = "@"


@dataclass(frozen=True)
class KnobSetting:
    """One recorded setting: targets are named `prefix + input name`; `values` in 0..1."""

    prefix: str
    values: tuple[float, ...]

    def __post_init__(self):
        if not self.values:
            raise LeanampError(f"setting {self.prefix!r}: give at least one knob value")
        for v in self.values:
            if not 0.0 <= v <= 1.0:
                raise LeanampError(
                    f"setting {self.prefix!r}: knob values must be within 0..1 (scale the "
                    f"knob's dial range to 0..1), got {list(self.values)}"
                )

    @property
    def label(self) -> str:
        return ",".join(f"{v:g}" for v in self.values)


def parse_knob_setting(text: str) -> KnobSetting:
    """'PREFIX=V1[,V2...]' as given to `leanamp train --knob`, e.g. 'a_zendrive_g5_t3_=0.6'."""
    prefix, sep, values = text.rpartition("=")
    if not sep:
        raise LeanampError(
            f"--knob {text!r}: write TARGET_PREFIX=VALUE[,VALUE...], e.g. a_zendrive_g5_t3_=0.6"
        )
    try:
        parsed = tuple(float(v) for v in values.split(","))
    except ValueError:
        raise LeanampError(f"--knob {text!r}: {values!r} are not numbers in 0..1") from None
    return KnobSetting(prefix, parsed)


def _setting_name(name: str, values: Sequence[float]) -> str:
    return f"{name}{SETTING_SEPARATOR}" + ",".join(f"{v:g}" for v in values)


def base_name(clip_name: str) -> str:
    """The clip name without its knob setting (and without a [train]/[test] time-split tag)."""
    return clip_name.split(SETTING_SEPARATOR)[0].split("[")[0]


def with_knobs(clips: Sequence[Clip], values: Sequence[float] | float) -> list[Clip]:
    """Clips with constant knob channels appended (values in 0..1); names get '@values'."""
    values = (float(values),) if np.isscalar(values) else tuple(float(v) for v in values)
    if not values:
        raise LeanampError("with_knobs: give at least one knob value")
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise LeanampError(f"knob values must be within 0..1, got {list(values)}")
    result = []
    for c in clips:
        knobs = np.broadcast_to(np.float32(values), (len(c.target), len(values)))
        x = np.ascontiguousarray(np.concatenate([c.input, knobs], axis=1), np.float32)
        result.append(Clip(_setting_name(c.name, values), x, c.target, c.sample_rate))
    return result


def knob_values(clip: Clip) -> tuple[float, ...]:
    """The knob setting of a clip with constant knob channels."""
    knobs = clip.input[:, 1:]
    if knobs.shape[1] == 0:
        return ()
    first = knobs[0]
    if not np.all(knobs == first):
        raise DataError(f"clip {clip.name}: its knob channels vary over time; no single setting")
    return tuple(round(float(v), 6) for v in first)


def load_knob_data(
    input_path: str | os.PathLike,
    target_path: str | os.PathLike,
    settings: Sequence[KnobSetting],
    validation: Sequence[str] | None = None,
    test: Sequence[str] | None = None,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    align: bool = True,
    **load_options,
) -> DeviceData:
    """A device recorded at several knob settings, as one conditioned dataset.

    Every setting pairs the input files with targets named `setting.prefix + input name`. The
    pairs of all settings are aligned together (one device, one latency and polarity). With
    `validation`/`test` clip names (input names, e.g. "guitar-chords") those clips go to
    validation/test at every setting; otherwise every clip is cut in time.
    """
    if not settings:
        raise LeanampError("give at least one knob setting (--knob PREFIX=VALUE)")
    sizes = {len(s.values) for s in settings}
    if len(sizes) != 1:
        raise LeanampError(
            f"every setting needs the same number of knob values; got {sorted(sizes)}"
        )
    pairs, owners = [], []
    for setting in settings:
        found = find_pairs(input_path, target_path, setting.prefix)
        pairs += found
        owners += [setting] * len(found)
    clips, alignment, checks = load_clips(pairs, align=align, **load_options)
    if any(c.input_size != 1 for c in clips):
        raise DataError(
            f"{input_path}: the input files already have knob channels; give mono inputs here, "
            "or train on them directly without --knob"
        )
    conditioned = [
        with_knobs([c], s.values)[0] for c, s in zip(clips, owners, strict=True)
    ]
    if validation or test:
        validation, test = list(validation or []), list(test or [])
        names = {base_name(c.name) for c in conditioned}
        for wanted in [*validation, *test]:
            if wanted not in names:
                raise DataError(f"split names clip {wanted!r}, but the clips are {sorted(names)}")
        val = [c for c in conditioned if base_name(c.name) in validation]
        tst = [c for c in conditioned if base_name(c.name) in test]
        train = [c for c in conditioned if base_name(c.name) not in [*validation, *test]]
        if not train:
            raise DataError("the split leaves no clip for training")
    else:
        train, val, tst = split_by_time(conditioned, validation_fraction, test_fraction)
    if not val:
        raise DataError("no validation audio: name a validation clip or use a time split")
    return DeviceData(train, val, tst, clips[0].sample_rate, alignment, checks)


def render_knob_sweep(
    device: str,
    knob: str,
    values: Sequence[float],
    seconds: float,
    sample_rate: int = 48000,
    seed: int = 0,
    same_input: bool = False,
    **fixed,
) -> list[Clip]:
    """A virtual device (leanamp.devices) recorded at each value of one knob.

    Every setting gets `seconds` of guitar-like input (a different performance per setting unless
    `same_input`), rendered with `knob`=value and the `fixed` other settings; the clips carry the
    value as their knob channel.
    """

    if knob not in ("gain", "tone"):
        raise LeanampError(f"virtual devices have the knobs gain and tone, not {knob!r}")
    clips = []
    for index, value in enumerate(values):
        x = guitar_signal(seconds, sample_rate, seed if same_input else seed + index)
        y = get_device(device, sample_rate=sample_rate, **{knob: float(value)}, **fixed).render(x)
        clip = Clip(f"{device}-{knob}", x[:, None], np.asarray(y, np.float32), sample_rate)
        clips += with_knobs([clip], [float(value)])
    return clips
