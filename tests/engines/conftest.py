"""Engine tests: leanamp's exports played in the plugins' C++ engines (leanamp.engines).

The drivers are built from ../shared/peers on first use (minutes; then cached). Without the peers
snapshots, a compiler or Eigen the tests skip, unless $LEANAMP_REQUIRE_ENGINES=1 (set in CI),
where they fail so the check cannot silently vanish.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

from leanamp.audio.io import read_audio, resample
from leanamp.engines import build_driver
from leanamp.errors import LeanampError

GUITAR_CLIP = "guitar-funk2.mp3"
GUITAR_SECONDS = 10.0


def _driver_or_skip(engine: str):
    try:
        return build_driver(engine)
    except LeanampError as e:
        if os.environ.get("LEANAMP_REQUIRE_ENGINES") == "1":
            pytest.fail(f"LEANAMP_REQUIRE_ENGINES=1 but the {engine} driver cannot be built: {e}")
        pytest.skip(f"the {engine} engine driver cannot be built here: {e}")


@pytest.fixture(scope="session")
def nam_core():
    return _driver_or_skip("nam")


@pytest.fixture(scope="session")
def rtneural():
    return _driver_or_skip("rtneural")


@functools.cache
def _guitar(folder: str, rate: int) -> np.ndarray:
    audio = read_audio(os.path.join(folder, "dry", GUITAR_CLIP))
    x = audio.samples[:, :1]
    if audio.sample_rate != rate:
        x = resample(x, audio.sample_rate, rate)
    return np.ascontiguousarray(x[: int(GUITAR_SECONDS * rate), 0], dtype=np.float32)


@pytest.fixture
def guitar(morphdrive):
    """guitar(rate): 10 s of real guitar (MorphDrive's dry guitar-funk2), mono float32."""
    return lambda rate=48000: _guitar(str(morphdrive), rate)
