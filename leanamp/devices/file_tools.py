"""Files for the virtual devices: a capture input (WAV + layout JSON) and file rendering."""

from __future__ import annotations

import json
import os
from pathlib import Path

from leanamp.audio.io import read_audio, write_audio
from leanamp.devices.circuits import get_device
from leanamp.devices.signals import CaptureLayout, capture_signal
from leanamp.errors import DataError, LeanampError
from leanamp.files import write_text_atomic

LAYOUT_SUFFIX = ".layout.json"


def layout_path_for(audio_path: str | os.PathLike) -> Path:
    """capture.wav -> capture.layout.json, beside it."""
    audio_path = Path(audio_path)
    return audio_path.with_name(audio_path.stem + LAYOUT_SUFFIX)


def write_capture_file(path: str | os.PathLike, seconds: float = 60.0, sample_rate: int = 48000,
                       seed: int = 0) -> tuple[Path, Path]:
    """Write the capture signal as 24-bit audio and its layout as JSON beside it.

    Returns (audio path, layout path). Play the audio through the device and record its output
    at the same sample rate; the layout's "train", "validation" and "test" ranges then split
    both files.
    """
    x, layout = capture_signal(seconds, sample_rate, seed)
    audio_path = write_audio(path, x, sample_rate, subtype="PCM_24")
    layout_path = layout_path_for(audio_path)
    document = {
        "sample_rate": sample_rate,
        "num_samples": int(x.size),
        "seed": seed,
        "blips": layout.blips,
        "sections": {name: list(span) for name, span in layout.sections.items()},
    }
    write_text_atomic(layout_path, json.dumps(document, indent=2) + "\n")
    return audio_path, layout_path


def read_capture_layout(path: str | os.PathLike) -> tuple[CaptureLayout, int]:
    """Read a layout JSON written by `write_capture_file`; returns (layout, sample rate)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; `leanamp capture-signal` writes it beside the "
                        "capture audio") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a capture layout file ({e}); write it again with "
                        "`leanamp capture-signal`") from None
    try:
        sections = {str(name): (int(start), int(stop))
                    for name, (start, stop) in document["sections"].items()}
        blips = [int(b) for b in document["blips"]]
        sample_rate = int(document["sample_rate"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{path}: capture layout is missing or mangles {e}; write it again with "
                        "`leanamp capture-signal`") from None
    if any(not 0 <= start <= stop for start, stop in sections.values()):
        raise DataError(f"{path}: capture layout has a section with start > stop or below 0")
    return CaptureLayout(blips=blips, sections=sections), sample_rate


def render_circuit_file(name: str, input_path: str | os.PathLike, output_path: str | os.PathLike,
                        gain: float = 0.5, tone: float = 0.5, latency: int = 0,
                        polarity: int = 1) -> Path:
    """Render an audio file (channel 0) through a virtual circuit at the file's sample rate."""
    audio = read_audio(input_path)
    try:
        device = get_device(name, gain=gain, tone=tone, sample_rate=audio.sample_rate,
                            latency=latency, polarity=polarity)
    except LeanampError as e:
        raise LeanampError(f"{audio.name}: {e}") from None
    y = device.render(audio.samples)
    return write_audio(output_path, y, audio.sample_rate)
