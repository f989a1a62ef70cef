"""A sweep folder with rendered test audio (synthetic: no training needed); the headless
Chromium for the page tests is the `chromium` fixture of tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leanamp.audio.io import write_audio
from leanamp.sweep import ResultsTable

RATE = 16000


@pytest.fixture
def sweep_dir(tmp_path) -> Path:
    """Two devices, two finished runs each, one test clip of 1 s: sine in, clipped sine out,
    models slightly off in level."""
    t = np.arange(RATE) / RATE
    dry = 0.3 * np.sin(2 * np.pi * 220 * t)
    out = tmp_path / "sweep"
    table = ResultsTable(out)
    for device, drive in (("od", 3.0), ("amp", 6.0)):
        target = np.clip(drive * dry, -0.5, 0.5)
        for size, error in ((4, 0.9), (8, 0.97)):
            name = f"{device}-lstm{size}-train-s0"
            run_dir = out / "runs" / name
            audio = {"clip": "take[test]", "sample_rate": RATE}
            for kind, signal in (("input", dry), ("target", target), ("model", error * target)):
                write_audio(run_dir / "audio" / f"take_{kind}.wav", signal, RATE)
                audio[kind] = f"audio/take_{kind}.wav"
            spec = {"device": {"name": device}, "architecture": "lstm", "size": size,
                    "method": "train", "seed": 0}
            table.register(name, spec, name, f"runs/{name}")
            table.mark_done(name, {"metrics": {"test_esr": 1 - error},
                                   "artefacts": {"audio": [audio]}})
    return out
