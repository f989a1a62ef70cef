"""Audio I/O, input/target checks, and device latency/polarity alignment."""

from leanamp.audio.align import (
    Alignment,
    BlipClip,
    ClipEstimate,
    align_device,
    apply_alignment,
    estimate_alignment,
    estimate_blip_alignment,
    find_blips,
)
from leanamp.audio.checks import PairCheck, check_pair, find_clipping, load_pair
from leanamp.audio.io import Audio, read_audio, resample, write_audio

__all__ = [
    "Alignment",
    "Audio",
    "BlipClip",
    "ClipEstimate",
    "PairCheck",
    "align_device",
    "apply_alignment",
    "check_pair",
    "estimate_alignment",
    "estimate_blip_alignment",
    "find_blips",
    "find_clipping",
    "load_pair",
    "read_audio",
    "resample",
    "write_audio",
]
