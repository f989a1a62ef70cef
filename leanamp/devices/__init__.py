"""Virtual devices (white-box circuits with knobs, latency and polarity) and input signals."""

from leanamp.devices.circuits import (
    DEVICES,
    AmpChain,
    Device,
    DiodeClipper,
    Overdrive,
    SolverStats,
    get_device,
)
from leanamp.devices.signals import (
    CaptureLayout,
    GuitarEvent,
    capture_signal,
    guitar_performance,
    guitar_signal,
    plucked_string,
)

__all__ = [
    "DEVICES",
    "AmpChain",
    "CaptureLayout",
    "Device",
    "DiodeClipper",
    "GuitarEvent",
    "Overdrive",
    "SolverStats",
    "capture_signal",
    "get_device",
    "guitar_performance",
    "guitar_signal",
    "plucked_string",
]
