"""Standard capture inputs: NAM's reamp files (v1.1.1, v2.0.0, v3.0.0), GuitarML Proteus's
capture file and leanamp's own capture signal, recognised, laid out and checked.

Layouts and checks are those of NAM's trainer (neural-amp-modeler 0.13, nam/train/core.py:
_V1/_V2/_V3/_V4_DATA_INFO, _detect_input_version, _calibrate_latency_v_all, _check_v2/v3/v4,
_get_data_config), reimplemented here; nam is never imported. All at 48 kHz except Proteus:

- v3 (190 s): validation 0-9 s, silence, blips at 10.5 and 11.5 s, chirps, noise, training
  10-180.5 s (NAM trains from 480000), silence, the validation again at 181-190 s. NAM checks
  that the output's two validation copies match: ESR(copy 1, copy 2) <= 0.01.
- v2 (191 s): blips at 0.5 and 1.5 s, chirps, noise, training, then the validation twice
  (the 2nd copy from -960000 + 432000) and blips at -1.5 and -0.5 s; same replicate check.
- v1 (1.0.0, 1.1.1): blips (NAM: "a plateau; take its front") at 0.25 and 0.75 s, training
  up to the last 9 s, which are the validation. No replicate.
- Proteus (44.1 kHz): a blip on sample 0 (ignored) and one at 0.5 s; training from 1 s; NAM
  takes the last 10 s as validation (they are not a repeat, and follow training without
  silence). At least 11 s long.

Recognition: NAM's weak hashes first (MD5 of the float64 samples of the start and end regions:
a real NAM file whatever its name), then the layout itself (sample rate, blip fronts after
silence where the layout puts them, the two validation copies digitally equal in the input).
leanamp's capture signal is recognised by the layout JSON `leanamp capture-signal` writes
beside it. In every layout, validation is NAM's validation segment and test is its repeat
(the other copy, recorded at another time) where the file has one, else the same segment.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass

import numpy as np

from leanamp.audio.align import BlipClip
from leanamp.devices.file_tools import layout_path_for, read_capture_layout
from leanamp.devices.signals import CaptureLayout
from leanamp.errors import DataError, DataWarning

NAM_RATE = 48000
PROTEUS_RATE = 44100
NAM_VALIDATION = 432_000  # 9 s
PROTEUS_VALIDATION = 441_000  # 10 s
REPLICATE_ESR_LIMIT = 0.01  # NAM: the two validation copies of the output, ESR <= 0.01
QUIET_PEAK_DB = -30.0  # an output peaking below this is mostly noise and hiss to a model
BLIP_FRONT_LEVEL = 0.1  # a blip front: at least this, after BLIP_SILENCE samples below 1e-3
BLIP_SILENCE = 1000

# NAM's weak hashes (nam/train/core.py, detect_weak): (start, end) MD5s of the float64 samples.
NAM_WEAK_HASHES = {
    "v3.0.0": ("dadb5d62f6c3973a59bf01439799809b", "8458126969a3f9d8e19a53554eb1fd52"),
    "v2.0.0": ("1c4d94fbcb47e4d820bef611c1d4ae65", "28694e7bf9ab3f8ae6ef86e9545d4663"),
    "v1.1.1": ("9f20c6b5f7fef68dd88307625a573a14", "8458126969a3f9d8e19a53554eb1fd52"),
    "v1.0.0": ("bb4e140c9299bae67560d280917eb52b", "9b2468fcb6e9460a399fc5f64389d353"),
    "proteus": ("46151c8030798081acc00a725325a07d", None),
}


@dataclass
class CaptureFile:
    """A recognised capture input: what it is and where things are in it (input samples).

    layout.sections holds "train", "validation" and "test" (half-open sample ranges);
    layout.blips the blips that measure latency. background: a stretch of input silence whose
    output is the recording's noise floor. repeated: "test" plays the same input as
    "validation" (NAM's replicate), so the two outputs must match.
    """

    kind: str  # "NAM v3.0.0", "Proteus capture", "leanamp capture signal"
    layout: CaptureLayout
    background: tuple[int, int]
    repeated: bool
    matched_by: str  # "NAM's weak hash", "layout", "layout file <path>"
    rate: int = NAM_RATE

    def describe(self) -> str:
        sections = ", ".join(
            f"{name} {start / self.rate:.1f}-{stop / self.rate:.1f} s"
            for name, (start, stop) in self.layout.sections.items()
            if name in ("train", "validation", "test")
        )
        return f"{self.kind} (recognised by its {self.matched_by}): {sections}"

    def blip_clip(self, x: np.ndarray, target: np.ndarray, name: str) -> BlipClip:
        return BlipClip(x, target, list(self.layout.blips), self.background, name)


def _md5(x: np.ndarray) -> str:
    return hashlib.md5(np.ascontiguousarray(x, dtype=np.float64)).hexdigest()


def _weak_hash_version(x: np.ndarray, rate: int) -> str | None:
    """NAM's weak-hash recognition: the version whose start and end regions match."""
    if rate == NAM_RATE:
        v3 = (_md5(x[: 17 * rate]), _md5(x[-9 * rate :]))
        front = _md5(x[: 48_000 + 6 * rate])
        v2 = (_md5(x[: 96_000 + 6 * rate]), _md5(x[-(2 * NAM_VALIDATION + 96_000) :]))
        v1 = (front, _md5(x[-NAM_VALIDATION:]))
        for version, hashes in (("v3.0.0", v3), ("v2.0.0", v2), ("v1.1.1", v1), ("v1.0.0", v1)):
            if NAM_WEAK_HASHES[version] == hashes:
                return version
    if rate == PROTEUS_RATE and _md5(x[:PROTEUS_RATE]) == NAM_WEAK_HASHES["proteus"][0]:
        return "proteus"
    return None


def _blip_front(x: np.ndarray, position: int) -> bool:
    """A blip starts at `position`: loud there, silent for BLIP_SILENCE samples before."""
    if not 0 <= position < len(x):
        return False
    before = x[max(0, position - BLIP_SILENCE) : position]
    quiet = before.size == 0 or float(np.abs(before).max()) < 1e-3
    return quiet and abs(float(x[position])) >= BLIP_FRONT_LEVEL


def _copies_equal(x: np.ndarray, a: int, b: int, length: int) -> bool:
    if a < 0 or b < 0 or max(a, b) + length > len(x):
        return False
    first, second = x[a : a + length], x[b : b + length]
    return bool(np.any(first)) and float(np.abs(first - second).max()) <= 1e-6


def _nam_layout(version: str, n: int) -> CaptureFile:
    """NAM's layout of `version` for an input of n samples (NAM's _DataInfo and splits)."""
    v = NAM_VALIDATION
    if version == "v3.0.0":
        sections = {"train": (480_000, n - v), "validation": (n - v, n), "test": (0, v)}
        return CaptureFile(f"NAM {version}", CaptureLayout([504_000, 552_000], sections),
                           (492_000, 498_000), True, "layout")
    if version == "v2.0.0":
        first = n - 960_000
        sections = {"train": (0, first), "validation": (first, first + v),
                    "test": (first + v, first + 2 * v)}
        return CaptureFile(f"NAM {version}", CaptureLayout([24_000, 72_000], sections),
                           (12_000, 18_000), True, "layout")
    if version in ("v1.1.1", "v1.0.0"):
        sections = {"train": (0, n - v), "validation": (n - v, n), "test": (n - v, n)}
        return CaptureFile(f"NAM {version}", CaptureLayout([12_000, 36_000], sections),
                           (0, 6_000), False, "layout")
    p = PROTEUS_VALIDATION
    sections = {"train": (44_100, n - p), "validation": (n - p, n), "test": (n - p, n)}
    return CaptureFile("Proteus capture", CaptureLayout([22_050], sections), (6_000, 12_000),
                       False, "layout", rate=PROTEUS_RATE)


def _layout_version(x: np.ndarray, rate: int) -> str | None:
    """Which standard layout `x` has, from its blips and validation copies."""
    n = len(x)
    v = NAM_VALIDATION
    if rate == NAM_RATE:
        if (n > 480_000 + 2 * v and all(_blip_front(x, b) for b in (504_000, 552_000))
                and _copies_equal(x, 0, n - v, v)):
            return "v3.0.0"
        first = n - 960_000
        if (first > 96_000 and all(_blip_front(x, b) for b in (24_000, 72_000, n - 72_000,
                                                                n - 24_000))
                and _copies_equal(x, first, first + v, v)):
            return "v2.0.0"
        if n > 48_000 + v and all(_blip_front(x, b) for b in (12_000, 36_000)):
            return "v1.1.1"
    if (rate == PROTEUS_RATE and n >= 11 * PROTEUS_RATE and abs(float(x[0])) >= BLIP_FRONT_LEVEL
            and float(np.abs(x[1:22_050]).max()) < 1e-3 and _blip_front(x, 22_050)):
        return "proteus"
    return None


def recognise_capture(
    x: np.ndarray, sample_rate: int, path: str | os.PathLike | None = None
) -> CaptureFile | None:
    """The standard capture input `x` (channel 0, as read from `path`) is, or None.

    A layout JSON beside `path` (written by `leanamp capture-signal`) names leanamp's capture
    signal; otherwise NAM's weak hashes, then the layouts, are tried (module docstring).
    """
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, 0]
    if path is not None and layout_path_for(path).exists():
        layout, rate = read_capture_layout(layout_path_for(path))
        if rate == sample_rate and all(stop <= len(x) for _, stop in layout.sections.values()):
            first = layout.blips[0]
            return CaptureFile("leanamp capture signal", layout, (0, max(1, first - BLIP_SILENCE)),
                               False, f"layout file {layout_path_for(path).name}",
                               rate=sample_rate)
    version = _weak_hash_version(x, sample_rate)
    matched_by = "NAM's weak hash"
    if version is None:
        version, matched_by = _layout_version(x, sample_rate), "layout"
    if version is None:
        return None
    capture = _nam_layout(version, len(x))
    capture.matched_by = matched_by
    return capture


def check_capture(capture: CaptureFile, target: np.ndarray, name: str) -> dict:
    """NAM's checks of a reamp, on the aligned target (time,); returns what was measured.

    DataError when the output's validation copies differ (ESR > REPLICATE_ESR_LIMIT); a
    DataWarning when the output is quiet (peak below QUIET_PEAK_DB dBFS). Clipping is checked
    when the pair is loaded (leanamp.audio.checks).
    """
    target = np.asarray(target, dtype=np.float64)
    measured = {"kind": capture.kind, "matched_by": capture.matched_by}
    (a, b), (c, d) = capture.layout.sections["validation"], capture.layout.sections["test"]
    if capture.repeated:
        length = min(b, len(target)) - a
        length = min(length, min(d, len(target)) - c)
        first, second = target[c : c + length], target[a : a + length]
        # NAM's ESR of the replicate: mean((copy 1 - copy 2)^2) / mean(copy 2^2).
        replicate = float(np.sum((first - second) ** 2) / max(np.sum(second**2), 1e-300))
        measured["replicate_esr"] = replicate
        if not replicate <= REPLICATE_ESR_LIMIT:
            raise DataError(
                f"{name}: the two recordings of the validation segment differ (ESR "
                f"{replicate:.4f} between them, NAM allows {REPLICATE_ESR_LIMIT}): the gear "
                "does not sound like itself when played twice. Possible causes: a noisy "
                "signal chain; a time-based effect (chorus, delay, reverb) left on; a knob "
                "moved while reamping; the amp not warmed up before the reamp started; a "
                "recording that was edited or cut. Reamp the whole file again."
            )
    peak = float(np.abs(target).max())
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    measured["output_peak_dbfs"] = peak_db
    if peak_db < QUIET_PEAK_DB:
        warnings.warn(
            f"{name}: the output is quiet (peak {peak_db:.1f} dBFS): its noise will weigh in "
            "the model. Raise the interface's input gain so the loudest part peaks near -6 "
            "dBFS, and reamp again.",
            DataWarning,
            stacklevel=2,
        )
    return measured

