"""Input signals: string tuning and decay, guitar material ranges, capture layout."""

from __future__ import annotations

import numpy as np
import pytest

from leanamp.devices.signals import (
    BLIP_AMPLITUDE,
    CaptureLayout,
    capture_signal,
    guitar_performance,
    guitar_signal,
    plucked_string,
)
from leanamp.errors import LeanampError

SR = 48000


def component(y, freq, start_s, seconds=0.05, sample_rate=SR):
    """Magnitude of the `freq` component of a Hann-windowed slice of y."""
    a, n = int(start_s * sample_rate), int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    return abs(np.sum(y[a:a + n] * np.hanning(n) * np.exp(-2j * np.pi * freq * t)))


@pytest.mark.parametrize("freq", [82.41, 261.63, 443.3, 1174.66])
def test_plucked_string_is_in_tune(freq):
    # Non-integer periods (e.g. 183.47 samples at 261.63 Hz) rely on the allpass tuning.
    y = plucked_string(freq, 1.0, SR, np.random.default_rng(1)).astype(np.float64)[2000:]
    n = 16 * y.size
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size), n))
    f = np.fft.rfftfreq(n, 1 / SR)
    near = (f > 0.9 * freq) & (f < 1.1 * freq)
    assert f[near][np.argmax(spectrum[near])] == pytest.approx(freq, rel=5e-4)


@pytest.mark.parametrize("freq, decay", [(82.41, 0.3), (196.0, 1.0), (659.3, 3.0)])
def test_plucked_string_fundamental_decays_at_the_requested_t60(freq, decay):
    y = plucked_string(freq, 0.2 + decay, SR, np.random.default_rng(2), decay=decay)
    drop_db = 20 * np.log10(component(y, freq, 0.1 + decay / 2) / component(y, freq, 0.1))
    assert drop_db == pytest.approx(-30.0, abs=1.0)


def test_plucked_string_brightness_and_determinism():
    def render(brightness, seed=3):
        return plucked_string(220.0, 0.5, SR, np.random.default_rng(seed), brightness=brightness)

    def high_share(y):  # energy share above 2 kHz during the attack (first 0.1 s)
        spectrum = np.abs(np.fft.rfft(y[: SR // 10].astype(np.float64))) ** 2
        return spectrum[np.fft.rfftfreq(SR // 10, 1 / SR) > 2000].sum() / spectrum.sum()

    shares = [high_share(render(b)) for b in (0.0, 0.5, 1.0)]
    assert shares[0] < shares[1] < shares[2] and shares[2] > 3 * shares[0], shares
    assert render(0.5).tobytes() == render(0.5).tobytes()
    assert not np.array_equal(render(0.5), render(0.5, seed=4))
    assert render(0.5).dtype == np.float32 and np.abs(render(0.5)).max() == pytest.approx(1.0)
    with pytest.raises(LeanampError):
        plucked_string(5.0, 1.0, SR, np.random.default_rng(0))
    with pytest.raises(LeanampError):
        plucked_string(220.0, 0.0, SR, np.random.default_rng(0))


def test_guitar_signal_ranges_and_variety():
    x, events = guitar_performance(60.0, SR, seed=0)
    assert x.dtype == np.float32 and x.shape == (60 * SR,)
    assert np.abs(x).max() <= 10 ** (-3 / 20) + 1e-6
    assert events[0].kind != "gap" and events[0].start == 0 and events[-1].stop == x.size
    assert {e.kind for e in events} == {"note", "short note", "chord", "palm mute", "gap"}
    peaks = []
    for e in events:
        piece = x[e.start:e.stop]
        if e.kind == "gap":
            assert not np.any(piece)
            continue
        peaks.append(20 * np.log10(np.abs(piece).max()))
        assert all(82.0 <= f <= 1200.0 for f in e.freqs), e
    assert min(peaks) >= -30.01 and max(peaks) <= -2.99
    assert min(peaks) < -24 and max(peaks) > -8  # quiet and loud playing both occur
    freqs = [f for e in events for f in e.freqs]
    assert min(freqs) < 110 and max(freqs) > 600  # low and high registers both occur
    short = [e for e in events if e.kind in ("short note", "palm mute")]
    assert short and all((e.stop - e.start) < 3 * SR for e in short)


def test_guitar_signal_is_deterministic_per_seed():
    a = guitar_signal(5.0, SR, seed=7)
    assert a.tobytes() == guitar_signal(5.0, SR, seed=7).tobytes()
    assert not np.array_equal(a, guitar_signal(5.0, SR, seed=8))
    assert np.abs(guitar_signal(0.3, 44100, seed=1)).max() > 10 ** (-31 / 20)  # never silent
    with pytest.raises(LeanampError):
        guitar_signal(-1.0)


def test_capture_signal_layout():
    x, layout = capture_signal(20.0, SR, seed=0)
    assert isinstance(layout, CaptureLayout)
    assert x.dtype == np.float32 and x.shape == (20 * SR,)
    assert np.abs(x).max() <= 10 ** (-3 / 20) + 1e-6
    # Two isolated single-sample blips, about 1 s apart, near the start.
    assert len(layout.blips) == 2
    assert (layout.blips[1] - layout.blips[0]) == pytest.approx(SR, rel=0.1)
    assert layout.blips[0] > 0 and layout.blips[1] < 3 * SR
    for blip in layout.blips:
        assert x[blip] == pytest.approx(BLIP_AMPLITUDE)
        around = x[blip - SR // 4: blip + SR // 2].copy()
        around[SR // 4] = 0
        assert not np.any(around)
    s = layout.sections
    assert not np.any(layout.slice(x, "silence"))
    assert s["train"][1] == s["validation"][0] and s["validation"][1] == s["test"][0]
    assert s["test"][1] == x.size and s["train"][0] > layout.blips[1]
    assert s["sweep"][0] >= s["train"][0] and s["guitar"][0] < s["validation"][0]
    for name in ("validation", "test"):
        start, stop = s[name]
        assert stop - start >= SR
        assert np.abs(x[start:stop]).max() > 10 ** (-31 / 20)
    # The sweep covers the band: energy near 50 Hz and near 15 kHz.
    sweep = layout.slice(x, "sweep").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(sweep)) ** 2
    f = np.fft.rfftfreq(sweep.size, 1 / SR)
    for lo, hi in ((40, 60), (14000, 16000)):
        assert spectrum[(f > lo) & (f < hi)].mean() > 1e-3 * spectrum.mean()
    # Noise bursts at three levels, the loudest at -3 dBFS.
    noise = layout.slice(x, "noise")
    assert 20 * np.log10(np.abs(noise).max()) == pytest.approx(-3.0, abs=0.01)
    with pytest.raises(LeanampError, match="section"):
        layout.slice(x, "chorus")


def test_capture_signal_is_deterministic_and_refuses_short_requests():
    a, layout_a = capture_signal(12.0, SR, seed=3)
    b, layout_b = capture_signal(12.0, SR, seed=3)
    assert a.tobytes() == b.tobytes() and layout_a == layout_b
    c, _ = capture_signal(12.0, SR, seed=4)
    assert not np.array_equal(a, c)
    with pytest.raises(LeanampError, match="at least"):
        capture_signal(5.0)
