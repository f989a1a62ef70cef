"""Data preparation: recordings into aligned, checked clips, splits and training segments
(`recordings`), and datasets over recorded knob settings (`knobs`)."""

from leanamp.data.recordings import (
    AUDIO_SUFFIXES,
    Clip,
    DeviceData,
    find_pairs,
    load_clips,
    load_device_data,
    make_segments,
    split_by_names,
    split_by_time,
)

__all__ = [
    "AUDIO_SUFFIXES",
    "Clip",
    "DeviceData",
    "find_pairs",
    "load_clips",
    "load_device_data",
    "make_segments",
    "split_by_names",
    "split_by_time",
]
