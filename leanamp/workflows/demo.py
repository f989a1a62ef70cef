"""`leanamp demo`: the whole path on a virtual pedal, with no recordings needed.

Generates a capture-style input, renders it through a virtual overdrive with a known latency,
writes both as WAV files, then reads them back through the same checks, alignment and training
as a user's recordings, and writes the model, rendered audio, loss curves and a summary.
"""

from __future__ import annotations

import os
from pathlib import Path

from leanamp.audio.io import write_audio
from leanamp.data import DeviceData, load_clips
from leanamp.devices.circuits import get_device
from leanamp.devices.signals import capture_signal
from leanamp.models import LSTMModel
from leanamp.train import TrainConfig
from leanamp.workflows.training import train_on_data

DEMO_DEVICE = "overdrive"
DEMO_LATENCY = 4  # samples, recovered by the alignment step


def demo_config(minutes: float) -> TrainConfig:
    # The quick recipe within a time budget; validating every epoch suits the short run.
    return TrainConfig.recipe(
        "quick", validate_every=1, max_epochs=10_000, max_minutes=minutes, early_stop_patience=None
    )


def make_demo_data(
    out_dir: str | os.PathLike, seconds: float = 75.0, sample_rate: int = 48000, seed: int = 0
) -> tuple[Path, Path, dict]:
    """Write data/input.wav and data/target.wav; returns their paths and the capture layout."""
    out_dir = Path(out_dir)
    x, layout = capture_signal(seconds, sample_rate, seed)
    device = get_device(
        DEMO_DEVICE, gain=0.5, tone=0.5, sample_rate=sample_rate, latency=DEMO_LATENCY
    )
    y = device.render(x)
    input_path = write_audio(out_dir / "data" / "input.wav", x, sample_rate, subtype="PCM_24")
    target_path = write_audio(out_dir / "data" / "target.wav", y, sample_rate, subtype="PCM_24")
    return input_path, target_path, layout.sections


def run_demo(
    out_dir: str | os.PathLike = "leanamp-demo",
    minutes: float = 3.0,
    hidden_size: int = 16,
    seconds: float = 75.0,
    progress: bool = True,
    resume: bool = False,
) -> dict:
    out_dir = Path(out_dir)
    input_path, target_path, sections = make_demo_data(out_dir, seconds)
    (clip,), alignment, checks = load_clips([(input_path, target_path)])

    def section(name: str):
        # Alignment keeps input sample indices, so the layout's ranges still apply.
        start, stop = sections[name]
        return clip.slice(start, stop, f"demo[{name}]")

    # Train on the guitar material only: the sweep and noise bursts are far louder than playing,
    # so in the pooled loss they would dominate what the model learns.
    guitar_start = sections["guitar"][0]
    sections["guitar_train"] = (guitar_start, sections["validation"][0])
    data = DeviceData(
        train=[section("guitar_train")],
        validation=[section("validation")],
        test=[section("test")],
        sample_rate=clip.sample_rate,
        alignment=alignment,
        checks=checks,
    )
    model = LSTMModel(hidden_size=hidden_size, input_size=1)
    summary = train_on_data(
        data, out_dir, model, demo_config(minutes), resume=resume, progress=progress, name="demo"
    )
    summary["device"] = f"virtual {DEMO_DEVICE} (gain 0.5, tone 0.5, latency {DEMO_LATENCY})"
    summary["alignment"] = alignment.describe()
    return summary
