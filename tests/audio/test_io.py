"""leanamp.audio.io: reading every supported encoding, atomic writing, resampling."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from leanamp.audio.io import Audio, read_audio, resample, write_audio
from leanamp.errors import DataError, LeanampError

RATE = 48000


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float64)


@pytest.mark.parametrize(
    ("suffix", "subtype", "tolerance"),
    [
        (".wav", "PCM_16", 2**-15),
        (".wav", "PCM_24", 2**-23),
        (".wav", "PCM_32", 2**-31 * 4),
        (".wav", "FLOAT", 1e-7),
        (".wav", "DOUBLE", 1e-7),
        (".flac", "PCM_16", 2**-15),
        (".flac", "PCM_24", 2**-23),
    ],
)
def test_read_lossless_encodings(tmp_path, suffix, subtype, tolerance):
    x = sine(440, 0.1, RATE)
    path = tmp_path / f"tone_{subtype}{suffix}"
    sf.write(path, x, RATE, subtype=subtype)
    audio = read_audio(path)
    assert isinstance(audio, Audio)
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape == (len(x), 1)
    assert audio.sample_rate == RATE
    assert audio.path == path
    np.testing.assert_allclose(audio.samples[:, 0], x, atol=tolerance + 1e-7)


def test_read_mp3(tmp_path):
    x = sine(440, 1.0, RATE)
    path = tmp_path / "tone.mp3"
    sf.write(path, x, RATE, format="MP3", subtype="MPEG_LAYER_III")
    audio = read_audio(path)
    assert audio.sample_rate == RATE
    assert audio.samples.dtype == np.float32
    # Lossy, and an MP3 decoder may add or drop a frame of padding: compare the tone itself.
    y = audio.samples[:, 0]
    assert abs(len(y) - len(x)) <= 2304
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.fft.rfftfreq(len(y), 1 / RATE)[np.argmax(spectrum)] == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(y[RATE // 4 : -RATE // 4] ** 2)) == pytest.approx(0.5 / np.sqrt(2), 0.05)


def test_read_morphdrive_mp3(morphdrive):
    audio = read_audio(morphdrive / "dry" / "guitar-chords.mp3")
    assert audio.sample_rate == 48000
    assert audio.samples.shape[1] == 1
    assert 3.5 < audio.duration < 17


def test_knob_channels_preserved(tmp_path):
    rng = np.random.default_rng(0)
    audio = 0.3 * rng.standard_normal(1000)
    gain = np.full(1000, 0.25)
    tone = np.linspace(0.0, 1.0, 1000)
    path = write_audio(tmp_path / "knobs.wav", np.stack([audio, gain, tone], axis=1), RATE)
    read = read_audio(path)
    assert read.samples.shape == (1000, 3)
    np.testing.assert_array_equal(read.samples[:, 1], np.float32(gain))
    np.testing.assert_array_equal(read.samples[:, 2], tone.astype(np.float32))
    np.testing.assert_array_equal(read.samples[:, 0], audio.astype(np.float32))


def test_write_audio_mono_and_formats(tmp_path):
    x = sine(1000, 0.05, RATE).astype(np.float32)
    for name, subtype in [("a.wav", "FLOAT"), ("b.wav", "PCM_24"), ("c.flac", "FLOAT")]:
        path = write_audio(tmp_path / name, x, RATE, subtype=subtype)
        back = read_audio(path)
        assert back.samples.shape == (len(x), 1)
        np.testing.assert_allclose(back.samples[:, 0], x, atol=2**-15)
    # The FLAC default fell back to an integer subtype: FLOAT does not exist in FLAC.
    assert sf.info(tmp_path / "c.flac").subtype.startswith("PCM")
    # Atomic write: nothing but the finished files is left in the directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav", "c.flac"]


def test_write_audio_refuses_what_it_would_damage(tmp_path):
    loud = np.array([0.0, 1.5, -0.2], dtype=np.float32)
    with pytest.raises(LeanampError, match="beyond full scale"):
        write_audio(tmp_path / "loud.wav", loud, RATE, subtype="PCM_16")
    assert not (tmp_path / "loud.wav").exists()
    # Float WAV keeps values beyond full scale as they are.
    np.testing.assert_array_equal(
        read_audio(write_audio(tmp_path / "loud_float.wav", loud, RATE)).samples[:, 0], loud
    )
    with pytest.raises(LeanampError, match="NaN"):
        write_audio(tmp_path / "nan.wav", np.array([0.0, np.nan]), RATE)
    with pytest.raises(LeanampError, match="unknown audio file type"):
        write_audio(tmp_path / "x.xyz", loud, RATE)
    with pytest.raises(LeanampError, match="shape"):
        write_audio(tmp_path / "x.wav", np.zeros((2, 2, 2)), RATE)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.wav"
    with pytest.raises(DataError, match="nowhere.wav: no such file"):
        read_audio(path)


def test_non_audio_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are my session notes, not audio\n" * 20)
    with pytest.raises(DataError, match=r"notes\.wav: cannot be read as audio"):
        read_audio(path)


def test_truncated_audio_file(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, sine(440, 0.1, RATE), RATE)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(good.read_bytes()[:30])  # the header cut short
    with pytest.raises(DataError, match=r"broken\.wav: cannot be read as audio"):
        read_audio(broken)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_audio(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1)), RATE)
    with pytest.raises(DataError, match=r"empty\.wav: holds no samples"):
        read_audio(path)


@pytest.mark.parametrize(("bad", "word"), [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "inf")])
def test_non_finite_samples(tmp_path, bad, word):
    x = sine(440, 0.1, RATE)
    x[1234] = bad
    path = tmp_path / "corrupt.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    with pytest.raises(DataError, match=r"corrupt\.wav: 1 sample\(s\) are NaN or infinite") as e:
        read_audio(path)
    assert "sample 1234" in str(e.value)
    assert word in str(e.value)


@pytest.mark.parametrize(("from_rate", "to_rate"), [(44100, 48000), (48000, 44100), (96000, 48000)])
def test_resample_keeps_frequency_and_amplitude(from_rate, to_rate):
    freq, amplitude = 1000.0, 0.5
    x = sine(freq, 0.5, from_rate, amplitude)
    y = resample(x, from_rate, to_rate)
    assert y.dtype == np.float32
    assert len(y) == round(len(x) * to_rate / from_rate)
    # Fit a sine at the expected frequency away from the edges: the residual shows any
    # frequency or amplitude error.
    t = np.arange(len(y)) / to_rate
    mid = slice(len(y) // 10, -len(y) // 10)
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)[mid]
    coef, *_ = np.linalg.lstsq(basis, y[mid].astype(np.float64), rcond=None)
    assert np.hypot(*coef) == pytest.approx(amplitude, rel=1e-3)
    residual = y[mid] - basis @ coef
    assert np.sqrt(np.mean(residual**2)) < 1e-3 * amplitude


def test_resample_multichannel_and_identity():
    x = np.stack([sine(500, 0.2, 44100), sine(2000, 0.2, 44100, 0.25)], axis=1)
    y = resample(x, 44100, 48000)
    assert y.shape == (round(x.shape[0] * 48000 / 44100), 2)
    peak_bins = np.argmax(np.abs(np.fft.rfft(y, axis=0)), axis=0)
    freqs = np.fft.rfftfreq(len(y), 1 / 48000)[peak_bins]
    np.testing.assert_allclose(freqs, [500, 2000], atol=48000 / len(y))
    same = resample(x, 48000, 48000)
    np.testing.assert_array_equal(same, x.astype(np.float32))
    assert same is not x
    with pytest.raises(LeanampError, match="positive"):
        resample(x, 0, 48000)
