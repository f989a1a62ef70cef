"""Alignment on leanamp's own virtual circuits, fed guitar-only clips (little treble).

The circuits' filters put the response peak several samples after the true latency, and guitar
material leaves the top octaves nearly empty: the estimate must come out exact or at most one
sample early, never late (a late shift makes the target lead the input).
"""

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leanamp.audio.align import (
    BlipClip,
    align_device,
    apply_alignment,
    estimate_alignment,
    estimate_blip_alignment,
    find_blips,
)
from leanamp.devices.circuits import get_device
from leanamp.devices.signals import capture_signal, guitar_signal
from leanamp.errors import DataError

RATE = 48000
SEEDS = (1, 2)
KNOBS = {"gain": 0.6, "tone": 0.4, "sample_rate": RATE}


@cache
def guitar_clips() -> tuple[np.ndarray, ...]:
    return tuple(guitar_signal(3.0, RATE, seed) for seed in SEEDS)


@cache
def clean_renders(name: str) -> tuple[np.ndarray, ...]:
    """The device at latency 0 and polarity +1: later shifted and signed by hand."""
    device = get_device(name, **KNOBS)
    return tuple(device.render(x) for x in guitar_clips())


def delayed(y: np.ndarray, latency: int, polarity: int) -> np.ndarray:
    return polarity * np.concatenate([np.zeros(latency, y.dtype), y[: len(y) - latency]])


@pytest.mark.filterwarnings("ignore::leanamp.errors.DataWarning")
@pytest.mark.parametrize(
    "name,latency,polarity",
    [("overdrive", 7, -1), ("overdrive", 0, 1), ("amp", 12, 1), ("diode-clipper", 0, -1)],
)
def test_recovers_known_latency_and_polarity(name, latency, polarity):
    device = get_device(name, latency=latency, polarity=polarity, **KNOBS)
    pairs = [(x, device.render(x)) for x in guitar_clips()]
    alignment = estimate_alignment(pairs, RATE)
    assert alignment.polarity == polarity
    assert latency - 1 <= alignment.latency <= latency, alignment.describe()
    # The trap: the device's filters put the response peak after the onset.
    assert alignment.response_peak_lag > latency
    # The device's latency and polarity are a pure shift and sign of its clean render.
    np.testing.assert_array_equal(pairs[0][1], delayed(clean_renders(name)[0], latency, polarity))
    x, y = apply_alignment(pairs[0][0], pairs[0][1], alignment)
    reference = clean_renders(name)[0]
    shift = latency - alignment.latency  # 0, or 1 when the estimate is one sample early
    assert abs(y[shift:] - reference[: len(y) - shift]).max() < 1e-6


@pytest.mark.filterwarnings("ignore::leanamp.errors.DataWarning")
@settings(max_examples=10, deadline=None)
@given(
    name=st.sampled_from(["overdrive", "amp", "diode-clipper"]),
    latency=st.integers(0, 40),
    polarity=st.sampled_from([1, -1]),
)
def test_any_latency_and_polarity(name, latency, polarity):
    pairs = [
        (x, delayed(y, latency, polarity))
        for x, y in zip(guitar_clips(), clean_renders(name), strict=True)
    ]
    alignment = estimate_alignment(pairs, RATE, names=["take 1", "take 2"])
    assert alignment.polarity == polarity
    assert latency - 1 <= alignment.latency <= latency, alignment.describe()


def test_overdrive_foot_is_not_its_onset():
    # Driven hard by guitar, the overdrive's best linear fit rises in small steps for a few
    # samples before its true onset (a nonlinear pedestal). Without the foot limit the onset
    # walks into it; 20 dB quieter (nearly linear) there is no foot and the onset is exact.
    latency = 12
    pairs = [
        (x, delayed(y, latency, 1))
        for x, y in zip(guitar_clips(), clean_renders("overdrive"), strict=True)
    ]
    assert estimate_alignment(pairs, RATE).latency in (latency - 1, latency)
    into_the_foot = estimate_alignment(pairs, RATE, max_foot=64)
    assert into_the_foot.latency <= latency - 2, into_the_foot.describe()
    device = get_device("overdrive", latency=latency, polarity=1, **KNOBS)
    quiet = [(0.1 * x, device.render(0.1 * x)) for x in guitar_clips()]
    assert estimate_alignment(quiet, RATE, max_foot=64).latency == latency


@pytest.mark.parametrize("name,late", [("overdrive-cab", 4), ("amp-cab", 5)])
def test_cabinet_rig_with_long_latency_is_not_ambiguous(name, late):
    # A cabinet's ringing puts later peaks nearly as tall as the first within milliseconds;
    # they are its tail, not a rival arrival. On guitar alone the onset of these slow, noisy
    # fits comes out a few samples late (module docstring, step 5): blips measure them exactly.
    device = get_device(name, latency=300, polarity=-1, **KNOBS)
    pairs = [(x, device.render(x)) for x in guitar_clips()]
    alignment = estimate_alignment(pairs, RATE)
    assert alignment.polarity == -1
    assert 299 <= alignment.latency <= 300 + late, alignment.describe()


@pytest.mark.parametrize("name", ["overdrive-cab", "amp-cab", "overdrive"])
def test_blips_measure_cabinet_rigs(name):
    x, layout = capture_signal(12.0, RATE, seed=3)
    assert find_blips(x, before=6000) == layout.blips
    y = get_device(name, latency=300, polarity=1, **KNOBS).render(x)
    blips = BlipClip(x, y, layout.blips, (layout.blips[0] - 6000, layout.blips[0] - 2000))
    alignment = estimate_blip_alignment([blips], RATE)
    assert alignment.method == "blips" and alignment.polarity == 1
    # Never late; early by NAM's 1-sample margin, or by the pre-ringing of the virtual amp's
    # linear-phase oversampling filters (6 samples).
    assert 292 <= alignment.latency <= 300, alignment.describe()


def test_given_latency_and_polarity_override_the_estimate():
    device = get_device("overdrive", latency=20, polarity=1, **KNOBS)
    pairs = [(x, device.render(x)) for x in guitar_clips()]
    given = align_device(pairs, RATE, latency=25)
    assert (given.latency, given.polarity, given.method) == (25, 1, "given")
    assert given.estimate.latency in (19, 20)
    assert "the estimate (response onset) is latency" in given.describe()
    same = align_device(pairs, RATE, latency=given.estimate.latency, polarity=1)
    assert same.disagreement() is None and "the estimate agrees" in same.describe()
    flipped = align_device(pairs, RATE, polarity=-1)
    assert (flipped.latency, flipped.polarity) == (given.estimate.latency, -1)
    assert "polarity +1" in flipped.disagreement()
    with pytest.raises(DataError, match="polarity must be"):
        align_device(pairs, RATE, polarity=2)


def test_given_latency_trains_what_the_estimate_refuses():
    # An echo as tall as the direct sound is refused; given the latency, it is used, and the
    # reason the estimate failed is kept.
    clean = clean_renders("overdrive")
    pairs = [(x, delayed(y, 5, 1) + delayed(y, 400, 1)) for x, y in
             zip(guitar_clips(), clean, strict=True)]
    with pytest.raises(DataError, match="--latency"):
        estimate_alignment(pairs, RATE)
    given = align_device(pairs, RATE, latency=5)
    assert (given.latency, given.polarity, given.estimate) == (5, 1, None)
    assert "ambiguous" in given.describe()
