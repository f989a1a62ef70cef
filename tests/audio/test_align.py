"""leanamp.audio.align: one latency and polarity per device, from its onset, never past it.

The virtual devices here are built from scipy.signal (a known integer delay, a coupling
high-pass, a mid-boost tone filter, an asymmetric tanh stage and a low-pass): their filters move
the cross-correlation peak later than the true latency, which is the trap being tested.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leanamp.audio.align import Alignment, apply_alignment, estimate_alignment
from leanamp.audio.io import read_audio
from leanamp.errors import DataError, DataWarning

RATE = 48000


def virtual_device(
    x: np.ndarray,
    latency: int,
    polarity: int,
    *,
    highpass: float = 720.0,
    lowpass: float = 3000.0,
    drive: float = 8.0,
) -> np.ndarray:
    """Overdrive-like device: coupling high-pass, mid boost, asymmetric tanh, tone low-pass."""
    coupling = ss.butter(1, highpass, "highpass", fs=RATE, output="sos")
    tone = ss.butter(2, lowpass, fs=RATE, output="sos")
    b, a = ss.iirpeak(800, 1.0, fs=RATE)
    z = ss.sosfilt(coupling, x)
    z = z + 0.5 * ss.lfilter(b, a, z)
    z = np.tanh(drive * z + 0.2) - np.tanh(0.2)  # the offset makes the clipping asymmetric
    z = ss.sosfilt(tone, z)
    delayed = np.concatenate([np.zeros(latency), z[: len(z) - latency]])
    return polarity * delayed


def noise_clip(rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    return 0.2 * rng.standard_normal(int(seconds * RATE))


def chirp_clip(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.3 * ss.chirp(t, 50, seconds, 15000, method="logarithmic")


def bass_clip(rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    """Low notes (41-98 Hz) with a few harmonics, no treble: a bass DI."""
    n = int(seconds * RATE)
    out = np.zeros(n)
    start = 0
    while start < n:
        length = min(n - start, int(rng.integers(RATE // 4, RATE // 2)))
        f0 = rng.uniform(41, 98)
        t = np.arange(length) / RATE
        harmonics = sum(np.sin(2 * np.pi * k * f0 * t) / k**2 for k in range(1, 6))
        out[start : start + length] = harmonics * np.exp(-3 * t)
        start += length
    out = ss.sosfilt(ss.butter(2, 400, fs=RATE, output="sos"), out)
    return 0.5 * out / np.abs(out).max()


def device_pairs(clips, latency, polarity, **device):
    return [(x, virtual_device(x, latency, polarity, **device)) for x in clips]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    latency=st.integers(0, 40),
    polarity=st.sampled_from([1, -1]),
    lowpass=st.sampled_from([1500.0, 3000.0, 6000.0]),
    seed=st.integers(0, 2**16),
)
def test_recovers_latency_and_polarity(latency, polarity, lowpass, seed):
    rng = np.random.default_rng(seed)
    clips = [noise_clip(rng), chirp_clip(), bass_clip(rng)]
    pairs = device_pairs(clips, latency, polarity, lowpass=lowpass)
    alignment = estimate_alignment(pairs, RATE, names=["noise", "chirp", "bass"])
    assert alignment.polarity == polarity
    assert latency - 1 <= alignment.latency <= latency, alignment.describe()
    # The trap: the device's filters put the response peak after the onset.
    assert alignment.response_peak_lag > latency


def test_joint_estimate_where_a_bass_clip_misleads(rng):
    latency = 12
    clips = [bass_clip(rng, 2.0), noise_clip(rng), chirp_clip()]
    pairs = device_pairs(clips, latency, -1)
    alignment = estimate_alignment(pairs, RATE, names=["bass", "noise", "chirp"])
    assert (alignment.latency, alignment.polarity) == (latency, -1)
    bass = alignment.per_clip[0]
    # Alone, the bass clip's cross-correlation peak lands far from the truth...
    assert abs(bass.xcorr_peak_lag - latency) > 50, bass.describe()
    # ...while the broadband clips' peaks sit a few samples after it (the group delay).
    for clip in alignment.per_clip[1:]:
        assert latency < clip.xcorr_peak_lag <= latency + 5
    # Together, every clip supports the joint estimate; the bass clip is no disagreement.
    assert all(c.agrees for c in alignment.per_clip)
    assert "bass" in alignment.describe(verbose=True)


def test_apply_alignment_makes_target_follow_input(rng):
    x = noise_clip(rng, 0.5)
    knobbed = np.stack([x, np.full(len(x), 0.7)], axis=1)
    y = virtual_device(x, 17, -1)
    alignment = estimate_alignment([(knobbed, y)], RATE)
    x_aligned, y_aligned = apply_alignment(knobbed, y, alignment)
    assert x_aligned.shape == (len(x) - 17, 2) and y_aligned.shape == (len(x) - 17,)
    np.testing.assert_allclose(y_aligned, virtual_device(x, 0, 1)[: len(x) - 17], atol=1e-12)
    np.testing.assert_array_equal(x_aligned, knobbed[: len(x) - 17])


def test_apply_alignment_by_hand():
    x = np.arange(10.0)
    y = np.arange(10.0) * 10
    xa, ya = apply_alignment(x, y, Alignment(latency=3, polarity=-1, confidence=1.0))
    np.testing.assert_array_equal(xa, np.arange(7.0))
    np.testing.assert_array_equal(ya, -10 * np.arange(3.0, 10.0))
    with pytest.raises(DataError, match="polarity"):
        apply_alignment(x, y, Alignment(latency=0, polarity=0, confidence=1.0))
    with pytest.raises(DataError, match="longer than the clip"):
        apply_alignment(x, y, Alignment(latency=10, polarity=1, confidence=1.0))


def test_echo_is_ambiguous(rng):
    x = noise_clip(rng)
    direct = virtual_device(x, 5, 1)
    echo = virtual_device(x, 305, 1)
    refused = "ambiguous alignment: a second arrival.* 9.% as tall.*--latency"
    with pytest.raises(DataError, match=refused):
        estimate_alignment([(x, direct + 0.95 * echo)], RATE, names=["take 1"])


def test_moderate_second_peak_warns(rng):
    x = noise_clip(rng)
    y = virtual_device(x, 5, 1) + 0.7 * virtual_device(x, 305, 1)
    with pytest.warns(DataWarning, match="only fairly clear"):
        alignment = estimate_alignment([(x, y)], RATE)
    assert alignment.latency == 5
    assert alignment.confidence == pytest.approx(0.3, abs=0.1)


def test_unrelated_target_refused(rng):
    x = noise_clip(rng)
    with pytest.raises(DataError, match="does not follow the input"):
        estimate_alignment([(x, noise_clip(rng))], RATE, names=["wrong.wav"])


def test_clip_with_another_latency_refused(rng):
    clips = [noise_clip(rng), chirp_clip(), noise_clip(rng)]
    pairs = device_pairs(clips[:2], 10, 1) + device_pairs(clips[2:], 200, 1)
    with pytest.raises(DataError, match="clips disagree") as e:
        estimate_alignment(pairs, RATE, names=["a.wav", "b.wav", "late.wav"])
    assert "late.wav" in str(e.value) and "a.wav:" not in str(e.value)


def test_clip_with_inverted_polarity_refused(rng):
    clips = [noise_clip(rng), chirp_clip(), noise_clip(rng)]
    pairs = device_pairs(clips[:2], 10, 1) + device_pairs(clips[2:], 10, -1)
    with pytest.raises(DataError, match=r"flipped\.wav: its own response .* polarity -1"):
        estimate_alignment(pairs, RATE, names=["a.wav", "b.wav", "flipped.wav"])


def test_mispaired_clip_refused(rng):
    clips = [noise_clip(rng, 2.0), chirp_clip(2.0), noise_clip(rng, 0.5)]
    pairs = device_pairs(clips[:2], 10, 1) + [(clips[2], noise_clip(rng, 0.5))]
    with pytest.raises(DataError, match=r"stray\.wav: its target does not follow its input"):
        estimate_alignment(pairs, RATE, names=["a.wav", "b.wav", "stray.wav"])


def test_target_leading_input_refused(rng):
    x = noise_clip(rng)
    y = virtual_device(x, 0, 1)
    with pytest.raises(DataError, match="target leads the input by 30 samples") as e:
        estimate_alignment([(x[:-30], y[30:])], RATE)
    assert "swapped" in str(e.value)


@pytest.mark.parametrize("frequency", [110.0, 440.0, 1000.0])
def test_a_pure_tone_is_refused_as_too_narrow_band_not_as_swapped(frequency):
    t = np.arange(RATE) / RATE
    x = 0.5 * np.sin(2 * np.pi * frequency * t)
    with pytest.raises(DataError, match="pure tone, too narrow-band") as e:
        estimate_alignment([(x, virtual_device(x, 3, 1))], RATE, names=["tone.wav"])
    assert "tone.wav" in str(e.value) and "leads" not in str(e.value)


def test_latency_beyond_limit_refused(rng):
    x = noise_clip(rng)
    with pytest.raises(DataError, match="100-sample limit"):
        estimate_alignment([(x, virtual_device(x, 300, 1))], RATE, max_latency=100)


def test_bad_clip_shapes_refused(rng):
    x = noise_clip(rng)
    with pytest.raises(DataError, match="no clips"):
        estimate_alignment([], RATE)
    with pytest.raises(DataError, match="c.wav: input has"):
        estimate_alignment([(x, x[:-1])], RATE, names=["c.wav"])
    with pytest.raises(DataError, match="c.wav: the target is silent"):
        estimate_alignment([(x, np.zeros_like(x))], RATE, names=["c.wav"])


def test_bad_onset_settings_refused(rng):
    x = noise_clip(rng, 0.2)
    pairs = [(x, virtual_device(x, 3, 1))]
    with pytest.raises(DataError, match="max_foot >= 0"):
        estimate_alignment(pairs, RATE, max_foot=-1)
    with pytest.raises(DataError, match="main_rise_fraction"):
        estimate_alignment(pairs, RATE, onset_fraction=0.3, main_rise_fraction=0.25)


MORPHDRIVE_CLIPS = [
    "bass", "epiano", "guitar-chords", "guitar-distorted",
    "guitar-flanger", "guitar-funk", "guitar-funk2", "organ",
]  # fmt: skip
MORPHDRIVE_SETTINGS = [
    "honeybee_g5_t0", "honeybee_g5_t2", "souldriven_g4_t2",
    "souldriven_g5_t5", "zendrive_g5_t3", "zendrive_g5_t5",
]  # fmt: skip


def test_morphdrive_pedals(morphdrive):
    dry = {c: read_audio(morphdrive / "dry" / f"{c}.mp3").samples for c in MORPHDRIVE_CLIPS}
    found = {}
    for setting in MORPHDRIVE_SETTINGS:
        pairs = []
        for clip in MORPHDRIVE_CLIPS:
            wet = read_audio(morphdrive / "pedal" / f"a_{setting}_{clip}.mp3").samples
            assert len(wet) == len(dry[clip])  # PROVENANCE: lengths match per clip
            pairs.append((dry[clip], wet))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            alignment = estimate_alignment(pairs, 48000, names=MORPHDRIVE_CLIPS)
        found[setting] = alignment
        # The onset comes before the response peak and the summed cross-correlation peak.
        assert 0 < alignment.latency < alignment.response_peak_lag
        assert alignment.latency <= alignment.xcorr_peak_lag
        assert alignment.polarity == (-1 if setting.startswith("honeybee") else 1)
        assert all(c.agrees for c in alignment.per_clip)
    # One recording rig: every pedal and setting starts responding within a sample of the rest.
    latencies = [a.latency for a in found.values()]
    assert max(latencies) - min(latencies) <= 1
    # The bass clip alone misleads a plain cross-correlation: tens of samples late on the
    # honeybee at tone 0, and ~100 samples off with the wrong sign on the other pedals.
    bass = {s: a.per_clip[0] for s, a in found.items()}
    assert bass["honeybee_g5_t0"].xcorr_peak_lag - found["honeybee_g5_t0"].latency > 20
    for setting in ("souldriven_g4_t2", "zendrive_g5_t3", "zendrive_g5_t5"):
        assert abs(bass[setting].xcorr_peak_lag - found[setting].latency) > 50
        assert bass[setting].xcorr_peak_polarity != found[setting].polarity
