"""Audio I/O, input/target checks, and device latency/polarity alignment."""

from leanamp.audio.align import Alignment, ClipEstimate, apply_alignment, estimate_alignment
from leanamp.audio.checks import PairCheck, check_pair, find_clipping, load_pair
from leanamp.audio.io import Audio, read_audio, resample, write_audio

__all__ = [
    "Alignment",
    "Audio",
    "ClipEstimate",
    "PairCheck",
    "apply_alignment",
    "check_pair",
    "estimate_alignment",
    "find_clipping",
    "load_pair",
    "read_audio",
    "resample",
    "write_audio",
]
