"""Reading, writing and resampling audio files.

Everything leaves here as float32 of shape (time, channels): channel 0 is audio, channels 1..
are knob values in 0..1 (for knob-conditioned recordings). Files are read and written with
soundfile (libsndfile): WAV (16/24/32-bit int, 32/64-bit float), FLAC, MP3, AIFF, OGG.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from leanamp.errors import DataError, LeanampError
from leanamp.files import atomic_path

# Integer subtypes store [-1, 1); anything beyond would be clipped silently by the conversion.
_INTEGER_SUBTYPES = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32"}


@dataclass
class Audio:
    """Audio read from (or destined for) a file.

    samples: float32, shape (time, channels); channel 0 audio, channels 1.. knob values 0..1.
    """

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "<array>"


def read_audio(path: str | os.PathLike) -> Audio:
    """Read an audio file as float32 (time, channels).

    Raises DataError naming the file when it is missing, not audio, unreadable, empty, or holds
    NaN/inf samples.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not an audio file")
    try:
        samples, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise DataError(
            f"{path}: cannot be read as audio ({e}). Use a WAV, FLAC or MP3 file; "
            "re-export it from your recording software if it is one already."
        ) from None
    except OSError as e:
        raise DataError(f"{path}: cannot be opened ({e.strerror or e})") from None
    if samples.shape[0] == 0:
        raise DataError(f"{path}: holds no samples (empty recording); record or export it again")
    if samples.shape[1] == 0:
        raise DataError(f"{path}: has no channels")
    _check_finite(samples, int(sample_rate), str(path))
    return Audio(np.ascontiguousarray(samples), int(sample_rate), path)


def _check_finite(samples: np.ndarray, sample_rate: int, name: str) -> None:
    finite = np.isfinite(samples)
    if finite.all():
        return
    bad = np.argwhere(~finite)
    first, channel = int(bad[0][0]), int(bad[0][1])
    value = samples[first, channel]
    kind = "NaN" if np.isnan(value) else "infinite"
    raise DataError(
        f"{name}: {len(bad)} sample(s) are NaN or infinite, the first ({kind}) at sample {first} "
        f"({first / sample_rate:.3f} s), channel {channel}. The file is corrupt or was written by "
        "a broken export; export it again."
    )


def write_audio(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    subtype: str = "FLOAT",
) -> Path:
    """Write `samples` ((time,) or (time, channels)) to `path` atomically; return the path.

    The container comes from the file suffix (.wav, .flac, .mp3, ...). `subtype` is a soundfile
    subtype ("FLOAT", "DOUBLE", "PCM_16", "PCM_24", "PCM_32"...); the default FLOAT falls back to
    the container's own default where FLOAT does not exist (FLAC, MP3). Integer subtypes refuse
    samples beyond [-1, 1] rather than clipping them silently.
    """
    path = Path(path)
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] == 0:
        raise LeanampError(
            f"{path}: cannot write audio of shape {samples.shape}; expected (time,) or "
            "(time, channels) with at least one sample"
        )
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise LeanampError(f"{path}: sample rate must be a positive integer, got {sample_rate}")
    sample_rate = int(sample_rate)
    _check_finite(samples, sample_rate, str(path))

    container = path.suffix.lstrip(".").upper()
    formats = sf.available_formats()
    container = {"MP3": "MP3", "AIF": "AIFF", "OGA": "OGG"}.get(container, container)
    if container not in formats:
        raise LeanampError(
            f"{path}: unknown audio file type {path.suffix!r}; use .wav, .flac or .mp3"
        )
    subtype = subtype.upper()
    if not sf.check_format(container, subtype):
        if subtype != "FLOAT":
            raise LeanampError(
                f"{path}: {container} files cannot hold subtype {subtype}; choose one of "
                f"{', '.join(sf.available_subtypes(container))}"
            )
        subtype = sf.default_subtype(container)
    if subtype in _INTEGER_SUBTYPES or container in ("FLAC", "MP3"):
        peak = float(np.max(np.abs(samples)))
        if peak > 1.0:
            raise LeanampError(
                f"{path}: samples reach {peak:.3f}, beyond full scale, which {subtype} would "
                "clip; scale them down or write with subtype FLOAT to a .wav file"
            )
    data = np.ascontiguousarray(samples, dtype=np.float64 if subtype == "DOUBLE" else np.float32)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, sample_rate, subtype=subtype, format=container)
    return path


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample (time,) or (time, channels) audio from `from_rate` to `to_rate` with soxr HQ.

    Returns float32 of length round(time * to_rate / from_rate). Band-limited: content above the
    lower Nyquist frequency is removed, not aliased.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise LeanampError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim not in (1, 2):
        raise LeanampError(f"cannot resample audio of shape {samples.shape}")
    if from_rate == to_rate:
        return samples.copy()
    return np.ascontiguousarray(
        soxr.resample(samples, from_rate, to_rate, quality="HQ"), dtype=np.float32
    )
