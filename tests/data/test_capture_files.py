"""Standard capture inputs (NAM v1/v2/v3, Proteus, leanamp's capture signal): recognised by
their layout, measured on their blips, split by their layout, checked as NAM's trainer does.

The real NAM files cannot be downloaded here: these files are synthetic, with NAM's layout
(sample rate, length, blip positions, the repeated validation segment).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

from leanamp.audio.io import write_audio
from leanamp.data import load_device_data
from leanamp.data.capture_files import NAM_VALIDATION, check_capture, recognise_capture
from leanamp.errors import DataError, DataWarning

RATE = 48000
LATENCY = 300


def device(x: np.ndarray, latency: int = LATENCY) -> np.ndarray:
    """A pedal-like device with a known latency: low-pass, asymmetric tanh, tone low-pass."""
    z = ss.sosfilt(ss.butter(1, 6000, fs=RATE, output="sos"), x)
    z = np.tanh(4 * z + 0.1) - np.tanh(0.1)
    z = 0.5 * ss.sosfilt(ss.butter(2, 4000, fs=RATE, output="sos"), z)
    return np.concatenate([np.zeros(latency), z[: len(z) - latency]])


def material(rng: np.random.Generator, n: int) -> np.ndarray:
    """Playing-like material: band-limited noise in bursts of varying level."""
    noise = ss.sosfilt(ss.butter(2, [80, 5000], "bandpass", fs=RATE, output="sos"),
                       rng.standard_normal(n))
    envelope = np.repeat(rng.uniform(0.05, 0.5, n // 4800 + 1), 4800)[:n]
    return 0.5 * noise / np.abs(noise).max() * envelope / 0.5


def nam_v3_input(seconds: float = 40.0, seed: int = 0) -> np.ndarray:
    """NAM v3's layout, its training region shortened: validation 0-9 s, silence, blips at
    10.5 and 11.5 s, training material from 12 s, 0.5 s of silence, the validation again."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = np.zeros(n)
    validation = material(rng, NAM_VALIDATION)
    x[:NAM_VALIDATION] = validation
    x[[504_000, 552_000]] = 0.5
    train_stop = n - NAM_VALIDATION - RATE // 2
    x[576_000:train_stop] = material(rng, train_stop - 576_000)
    x[n - NAM_VALIDATION :] = validation
    return x.astype(np.float32)


def write_pair(tmp_path, x, y, name="capture"):
    inp = write_audio(tmp_path / f"{name}_input.wav", x, RATE, subtype="PCM_24")
    out = write_audio(tmp_path / f"{name}_output.wav", y, RATE, subtype="PCM_24")
    return inp, out


def test_v3_layout_is_split_by_its_layout(tmp_path):
    x = nam_v3_input()
    n = len(x)
    capture = recognise_capture(x, RATE)
    assert capture is not None and capture.kind == "NAM v3.0.0"
    assert capture.matched_by == "layout"
    data = load_device_data(*write_pair(tmp_path, x, device(x)))
    # Latency from the blips (NAM's method), one sample early at most (its safety margin).
    assert data.alignment.method == "blips"
    assert LATENCY - 1 <= data.alignment.latency <= LATENCY
    assert data.alignment.polarity == 1
    (train,), (validation,), (test,) = data.train, data.validation, data.test
    aligned = n - data.alignment.latency
    assert len(train.target) == (n - NAM_VALIDATION) - 480_000  # NAM trains from 480000
    assert len(validation.target) == aligned - (n - NAM_VALIDATION)  # the last copy, cut
    assert len(test.target) == NAM_VALIDATION  # the first copy: the replicate
    np.testing.assert_allclose(validation.input[:, 0], x[n - NAM_VALIDATION : aligned], atol=1e-6)
    np.testing.assert_allclose(test.input[:, 0], x[:NAM_VALIDATION], atol=1e-6)
    assert "NAM v3.0.0" in data.summary()


def test_damaged_validation_repeat_is_refused(tmp_path):
    x = nam_v3_input()
    y = device(x)
    # A knob moved during the reamp: the second validation copy comes out 3 dB louder.
    y[len(y) - NAM_VALIDATION :] *= 1.41
    with pytest.raises(DataError, match="two recordings of the validation segment differ"):
        load_device_data(*write_pair(tmp_path, x, y))


def test_v2_v1_and_proteus_layouts_are_recognised():
    rng = np.random.default_rng(1)
    n = 1_500_000
    v2 = material(rng, n)
    for b in (24_000, 72_000, n - 72_000, n - 24_000):
        v2[b - 1000 : b + 10_000] = 0
        v2[b] = 0.5
    first = n - 960_000
    v2[first + NAM_VALIDATION : first + 2 * NAM_VALIDATION] = v2[first : first + NAM_VALIDATION]
    assert recognise_capture(v2, RATE).kind == "NAM v2.0.0"
    v1 = material(rng, n)
    v1[:48_000] = 0
    v1[12_000:12_100] = 0.5  # v1's blips are plateaus
    v1[36_000:36_100] = 0.5
    assert recognise_capture(v1, RATE).kind == "NAM v1.1.1"
    proteus = material(rng, 12 * 44_100)
    proteus[:44_100] = 0
    proteus[[0, 22_050]] = 0.5
    assert recognise_capture(proteus, 44_100).kind == "Proteus capture"
    assert recognise_capture(proteus, RATE) is None  # the wrong rate: not Proteus's layout


def test_an_unrecognised_file_keeps_the_time_split(tmp_path):
    x = material(np.random.default_rng(2), 10 * RATE).astype(np.float32)
    assert recognise_capture(x, RATE) is None
    data = load_device_data(*write_pair(tmp_path, x, device(x, 12)))
    assert data.alignment.method == "response onset"
    assert [c.name for c in data.train] == ["capture_input[train]"]
    assert len(data.train[0].target) == round(0.7 * (10 * RATE - data.alignment.latency))


def test_checks_measure_the_replicate_and_flag_a_quiet_output():
    x = nam_v3_input()
    capture = recognise_capture(x, RATE)
    aligned = device(x)[LATENCY:]
    measured = check_capture(capture, aligned, "output.wav")
    assert measured["replicate_esr"] < 1e-6 and measured["output_peak_dbfs"] > -20
    with pytest.warns(DataWarning, match="output.wav: the output is quiet"):
        check_capture(capture, 0.01 * aligned, "output.wav")
