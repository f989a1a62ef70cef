"""leanamp.audio.checks: every way an input/target pair can be bad gets its own message."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from leanamp.audio.checks import check_pair, find_clipping, load_pair
from leanamp.errors import DataError, DataWarning

RATE = 48000
N = RATE // 2  # half a second per file keeps every test fast


@pytest.fixture
def signal(rng) -> np.ndarray:
    return (0.2 * rng.standard_normal(N)).clip(-0.9, 0.9)


def write(path, samples, rate=RATE, subtype="FLOAT"):
    sf.write(path, samples, rate, subtype=subtype)
    return path


def pair(tmp_path, x, y, x_rate=RATE, y_rate=RATE):
    return write(tmp_path / "dry.wav", x, x_rate), write(tmp_path / "wet.wav", y, y_rate)


def test_clean_pair_passes_without_warnings(tmp_path, signal):
    x_path, y_path = pair(tmp_path, signal, np.tanh(3 * signal))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, y, check = load_pair(x_path, y_path)
    assert x.samples.shape == (N, 1) and y.samples.shape == (N, 1)
    assert x.samples.dtype == np.float32 and y.samples.dtype == np.float32
    assert x.sample_rate == y.sample_rate == RATE
    assert check.warnings == [] and check.trimmed == 0 and check.resampled == []
    assert check.length == N
    assert str(x_path) in check.describe()


def test_find_clipping_runs():
    x = np.zeros(100)
    x[10:14] = 1.0  # a run of 4: clipping
    x[30:33] = -1.0  # a run of 3: a peak, not clipping
    x[50:60] = -0.9995
    x[70] = 1.0
    assert find_clipping(x) == [(10, 14), (50, 60)]
    assert find_clipping(x, min_run=3) == [(10, 14), (30, 33), (50, 60)]
    assert find_clipping(x, threshold=0.99995) == [(10, 14)]
    assert find_clipping(np.zeros(10)) == []
    with pytest.raises(ValueError, match="one channel"):
        find_clipping(np.zeros((10, 2)))


@settings(max_examples=30, deadline=None)
@given(
    runs=st.lists(st.tuples(st.integers(0, 190), st.integers(1, 12)), min_size=0, max_size=6),
    min_run=st.integers(1, 6),
)
def test_find_clipping_matches_a_plain_scan(runs, min_run):
    x = np.full(200, 0.5)
    for start, length in runs:
        x[start : start + length] = -1.0 if start % 2 else 1.0
    expected, start = [], None
    for i, hot in enumerate(np.append(np.abs(x) >= 0.999, False)):
        if hot and start is None:
            start = i
        elif not hot and start is not None:
            if i - start >= min_run:
                expected.append((start, i))
            start = None
    assert find_clipping(x, min_run=min_run) == expected


def test_silent_target(tmp_path, signal):
    x_path, y_path = pair(tmp_path, signal, 1e-6 * signal)
    with pytest.raises(DataError, match=r"wet\.wav: the target is silent") as e:
        load_pair(x_path, y_path)
    assert "cables" in str(e.value)


def test_silent_input(tmp_path, signal):
    x_path, y_path = pair(tmp_path, np.zeros(N), signal)
    with pytest.raises(DataError, match=r"dry\.wav: the input is silent"):
        load_pair(x_path, y_path)


def clipped(signal: np.ndarray, events: int) -> np.ndarray:
    """`events` flat tops of 20 samples at full scale."""
    out = signal.copy()
    for start in np.linspace(1000, len(out) - 1000, events).astype(int):
        out[start : start + 20] = 1.0
    return out


def test_clipped_input_refused(tmp_path, signal):
    x_path, y_path = pair(tmp_path, clipped(signal, 300), signal)  # 2.5% clipped
    with pytest.raises(DataError, match=r"dry\.wav: the input clips: 300 run\(s\)") as e:
        load_pair(x_path, y_path)
    assert "lower the level sent to the device" in str(e.value)


def test_clipped_target_refused(tmp_path, signal):
    x_path, y_path = pair(tmp_path, signal, clipped(signal, 300))
    with pytest.raises(DataError, match=r"wet\.wav: the target clips") as e:
        load_pair(x_path, y_path)
    assert "interface's input gain" in str(e.value)


def test_rare_clipping_warns(tmp_path, signal):
    x_path, y_path = pair(tmp_path, signal, clipped(signal, 3))
    with pytest.warns(DataWarning, match=r"wet\.wav: the target clips: 3 run\(s\)"):
        _, _, check = load_pair(x_path, y_path)
    assert check.target_clipped_fraction == pytest.approx(60 / N)
    assert check.input_clipped_fraction == 0.0
    assert len(check.warnings) == 1
    # The thresholds are the caller's: with a stricter limit the same file is refused.
    with pytest.raises(DataError, match="target clips"):
        load_pair(x_path, y_path, clip_error_fraction=1e-3)


def test_clipped_16_bit_integer_file_is_found(tmp_path, signal):
    # 16-bit full scale reads back as 32767/32768 = 0.99997, still "at full scale".
    x_path = write(tmp_path / "dry.wav", clipped(signal, 300), subtype="PCM_16")
    y_path = write(tmp_path / "wet.wav", signal)
    with pytest.raises(DataError, match="the input clips"):
        load_pair(x_path, y_path)


def test_length_mismatch_beyond_tolerance_refused(tmp_path, signal):
    x_path, y_path = pair(tmp_path, signal, signal[: N - N // 20])  # 5% short
    with pytest.raises(DataError, match=r"wet\.wav: 22800 samples .* has 24000") as e:
        load_pair(x_path, y_path)
    assert "1% tolerance" in str(e.value)


def test_length_mismatch_within_tolerance_trimmed(tmp_path, signal):
    x_path, y_path = pair(tmp_path, signal, np.tanh(signal[: N - 100]))  # 0.4% short
    with pytest.warns(DataWarning, match="lengths differ by 100 samples"):
        x, y, check = load_pair(x_path, y_path)
    assert x.num_samples == y.num_samples == N - 100 == check.length
    assert check.trimmed == 100
    np.testing.assert_array_equal(x.samples[:, 0], signal[: N - 100].astype(np.float32))


def test_sample_rate_mismatch_resampled(tmp_path, rng):
    x = 0.2 * rng.standard_normal(RATE)
    t = np.arange(44100) / 44100
    y = 0.5 * np.sin(2 * np.pi * 1000 * t)  # one second at 44.1 kHz
    x_path, y_path = pair(tmp_path, x, y, RATE, 44100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one rounding sample is not worth a warning
        _, target, check = load_pair(x_path, y_path)
    assert check.resampled == ["target"] and target.sample_rate == RATE
    assert check.target_rate == 44100 and check.sample_rate == RATE
    assert abs(target.num_samples - RATE) <= 1
    spectrum = np.abs(np.fft.rfft(target.samples[:, 0]))
    assert np.fft.rfftfreq(target.num_samples, 1 / RATE)[np.argmax(spectrum)] == pytest.approx(
        1000, abs=1.5
    )


def test_sample_rate_mismatch_refused_when_asked(tmp_path, signal):
    x_path, y_path = pair(tmp_path, signal, signal[: N * 441 // 480], RATE, 44100)
    with pytest.raises(DataError, match=r"wet\.wav: sample rate 44100 Hz.*48000 Hz") as e:
        load_pair(x_path, y_path, resample_target=False)
    assert "--no-resample" in str(e.value)


def test_explicit_sample_rate_resamples_both_and_holds_knobs(tmp_path, signal):
    knob = np.where(np.arange(N) < N // 2, 0.0, 1.0)  # a knob turned halfway through
    x_path = write(tmp_path / "dry.wav", np.stack([signal, knob], axis=1))
    y_path = write(tmp_path / "wet.wav", signal)
    x, y, check = load_pair(x_path, y_path, sample_rate=44100)
    assert check.resampled == ["input", "target"]
    assert x.sample_rate == y.sample_rate == 44100
    assert x.num_samples == y.num_samples == N * 441 // 480
    # Sample-and-hold: the knob stays exactly 0 or 1 (a band-limited resampler would ring).
    assert set(np.unique(x.samples[:, 1])) == {0.0, 1.0}
    assert abs(int(np.argmax(x.samples[:, 1])) - x.num_samples // 2) <= 1


def test_multichannel_target_refused(tmp_path, signal, rng):
    stereo = np.stack([signal, 0.1 * rng.standard_normal(N)], axis=1)
    x_path, y_path = pair(tmp_path, signal, stereo)
    with pytest.raises(DataError, match=r"wet\.wav: has 2 different channels"):
        load_pair(x_path, y_path)


def test_identical_target_channels_merged(tmp_path, signal):
    x_path, y_path = pair(tmp_path, signal, np.stack([signal, signal], axis=1))
    _, y, check = load_pair(x_path, y_path)
    assert y.samples.shape == (N, 1)
    assert check.target_channels_read == 2
    assert any("identical channels" in n for n in check.notes)


def test_knob_channels_kept_and_checked(tmp_path, signal):
    knobs = np.stack([signal, np.full(N, 0.3), np.full(N, 1.0)], axis=1)
    x_path, y_path = pair(tmp_path, knobs, signal)
    x, _, check = load_pair(x_path, y_path)
    assert x.samples.shape == (N, 3) and check.input_channels == 3
    # A full-scale knob is not clipping: only channel 0 is audio.
    assert check.input_clipped_fraction == 0.0
    np.testing.assert_array_equal(x.samples[:, 1:], knobs[:, 1:].astype(np.float32))
    stereo = np.stack([signal, -signal], axis=1)
    write(tmp_path / "dry.wav", stereo)
    with pytest.raises(DataError, match=r"dry\.wav: channel 1 spans .* knob values"):
        load_pair(x_path, y_path)


def test_unreadable_and_nan_files_named(tmp_path, signal):
    x_path = write(tmp_path / "dry.wav", signal)
    bad = tmp_path / "wet.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(DataError, match=r"wet\.wav: cannot be read as audio"):
        load_pair(x_path, bad)
    nan = signal.copy()
    nan[5] = np.nan
    write(bad, nan)
    with pytest.raises(DataError, match=r"wet\.wav: 1 sample\(s\) are NaN"):
        load_pair(x_path, bad)
    with pytest.raises(DataError, match=r"missing\.wav: no such file"):
        load_pair(tmp_path / "missing.wav", x_path)


def test_check_pair_on_arrays(signal):
    x, y, check = check_pair(signal, RATE, signal[:, None] * 0.5, RATE, target_name="take 3")
    assert x.shape == (N, 1) and y.shape == (N,)
    with pytest.raises(DataError, match="take 3: holds NaN"):
        check_pair(signal, RATE, np.full(N, np.inf), RATE, target_name="take 3")
