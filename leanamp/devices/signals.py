"""Input signals: plucked strings, guitar-like playing, a capture file like NAM's standard input.

All generators are deterministic given their seed / generator, return float32 mono, and never
clip: guitar material peaks between -30 and -3 dBFS, test signals at -6 dBFS or below except the
loudest noise burst (-3 dBFS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from leanamp.devices import _kernels
from leanamp.devices import filters as flt
from leanamp.errors import LeanampError

OPEN_STRINGS_MIDI = (40, 45, 50, 55, 59, 64)  # standard tuning, E2 A2 D3 G3 B3 E4
HIGHEST_FRET = 22  # D6 on the high E string: 1175 Hz
GUITAR_PEAK_DB = (-30.0, -3.0)

# Chord shapes, frets from the low E string up; None = string not played.
_OPEN_CHORDS = (
    (0, 2, 2, 1, 0, 0),  # E
    (0, 2, 2, 0, 0, 0),  # Em
    (None, 0, 2, 2, 2, 0),  # A
    (None, 0, 2, 2, 1, 0),  # Am
    (None, None, 0, 2, 3, 2),  # D
    (3, 2, 0, 0, 0, 3),  # G
    (None, 3, 2, 0, 1, 0),  # C
)


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def plucked_string(freq: float, seconds: float, sample_rate: int, rng: np.random.Generator,
                   brightness: float = 0.6, decay: float = 3.0,
                   pick_position: float = 0.18) -> np.ndarray:
    """One plucked string note (extended Karplus-Strong), float32, peak-normalised to 1.

    - Excitation: a one-period noise burst, low-passed by the pick (brightness 0 = soft thumb,
      1 = hard pick) and combed by the pick position (fraction of the string length from the
      bridge: the harmonics with a node there are missing).
    - Loop: delay line + two-point averager (high harmonics decay faster, as on a real string)
      + first-order allpass for the fractional part of the period (exact tuning).
    - decay: T60 of the fundamental in seconds (short for palm mutes, several s when ringing).
    """
    if not (math.isfinite(freq) and 20.0 <= freq <= sample_rate / 4.0):
        raise LeanampError(
            f"plucked_string: freq must be between 20 Hz and sample_rate/4, got {freq}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise LeanampError(f"plucked_string: seconds must be > 0, got {seconds}")
    if not (0.0 <= brightness <= 1.0 and 0.0 < pick_position < 0.5 and decay > 0):
        raise LeanampError(
            "plucked_string: brightness must be in 0..1, pick_position in (0, 0.5), decay > 0 s")
    length = max(1, int(round(seconds * sample_rate)))
    period = sample_rate / freq
    # Loop delay = N (delay line) + 0.5 (averager) + d (allpass); d kept in [0.1, 1.1), where a
    # first-order allpass approximates a fractional delay well.
    delay_line = int(math.floor(period - 0.6))
    fraction = period - 0.5 - delay_line
    allpass = (1.0 - fraction) / (1.0 + fraction)
    # Per-period gain so the fundamental falls 60 dB in `decay` s; the averager itself
    # attenuates it by cos(pi f / fs) per pass.
    per_period = 10.0 ** (-3.0 / (decay * freq))
    loop_gain = min(per_period / math.cos(math.pi * freq / sample_rate), 0.99999)

    burst_length = max(2, int(round(period)))
    burst = rng.uniform(-1.0, 1.0, burst_length)
    burst -= burst.mean()
    smoothing = 0.9 * (1.0 - brightness)  # one-pole low-pass: a softer pluck is duller
    burst = signal.lfilter([1.0 - smoothing], [1.0, -smoothing], burst)
    notch = max(1, int(round(pick_position * period)))
    excitation = burst.copy()
    excitation[notch:] -= burst[:-notch]
    y = _kernels.karplus_strong(excitation, length, delay_line, allpass, loop_gain)
    peak = np.max(np.abs(y))
    if peak > 0:
        y /= peak
    return y.astype(np.float32)


def _pickup_filter(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    # A magnetic pickup's inductance with the cable's capacitance: a resonant low-pass
    # somewhere in 3..6 kHz.
    corner = min(rng.uniform(3000.0, 6000.0), 0.4 * sample_rate)
    q = rng.uniform(1.0, 2.2)
    wc = 2.0 * np.pi * corner
    return flt.bilinear_sos([wc * wc], [1.0, wc / q, wc * wc], sample_rate, match_hz=corner)


def _release(note: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    # The player damps the string at the end of the note: a 5..30 ms fade, not a click.
    fade = min(note.size, int(rng.uniform(0.005, 0.03) * sample_rate))
    if fade > 1:
        note[-fade:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, fade)))
    return note


class _Player:
    """Renders one phrase event at a time; every random choice comes from one generator."""

    def __init__(self, sample_rate: int, rng: np.random.Generator):
        self.sr = sample_rate
        self.rng = rng
        self.pickup = _pickup_filter(rng, sample_rate)
        self.freqs: list[float] = []  # fundamentals played by the current event

    def _string(self, string: int, fret: int, seconds: float, brightness: float,
                decay: float) -> np.ndarray:
        freq = midi_to_hz(OPEN_STRINGS_MIDI[string] + fret)
        self.freqs.append(freq)
        pick = self.rng.uniform(0.08, 0.3)
        return plucked_string(freq, seconds, self.sr, self.rng, brightness, decay, pick)

    def _finish(self, sound: np.ndarray) -> np.ndarray:
        sound = signal.sosfilt(self.pickup, sound.astype(np.float64))
        sound = _release(sound, self.sr, self.rng)
        peak_db = self.rng.uniform(*GUITAR_PEAK_DB)
        return sound * (10.0 ** (peak_db / 20.0) / max(np.max(np.abs(sound)), 1e-12))

    def single_note(self, staccato: bool) -> np.ndarray:
        rng = self.rng
        string = int(rng.integers(0, 6))
        top = HIGHEST_FRET if string >= 4 else 15
        fret = int(rng.integers(0, top + 1))
        if staccato:
            seconds, decay = rng.uniform(0.08, 0.3), rng.uniform(0.5, 2.0)
        else:
            seconds, decay = rng.uniform(0.3, 2.0), rng.uniform(1.5, 6.0)
        return self._finish(self._string(string, fret, seconds, rng.uniform(0.35, 0.95), decay))

    def chord(self) -> np.ndarray:
        rng = self.rng
        kind = rng.integers(0, 3)
        if kind == 0:
            shape = _OPEN_CHORDS[int(rng.integers(0, len(_OPEN_CHORDS)))]
        else:
            k = int(rng.integers(1, 11))
            shape = ((k, k + 2, k + 2, k + 1, k, k) if kind == 1  # E-shape barre
                     else (None, k, k + 2, k + 2, k + 2, k))  # A-shape barre
        strings = [s for s in range(6) if shape[s] is not None]
        if rng.random() < 0.35:
            strings = strings[::-1]  # upstroke
        seconds = rng.uniform(0.5, 3.0)
        spread = rng.uniform(0.003, 0.015)  # s between strings of the strum
        brightness = rng.uniform(0.35, 0.9)
        decay = rng.uniform(2.0, 6.0)
        total = int(round((seconds + spread * len(strings)) * self.sr))
        out = np.zeros(total)
        for order, s in enumerate(strings):
            start = int(round(order * spread * self.sr))
            note = self._string(s, shape[s], (total - start) / self.sr, brightness, decay)
            out[start:start + note.size] += rng.uniform(0.6, 1.0) * note
        return self._finish(out)

    def palm_muted(self) -> np.ndarray:
        rng = self.rng
        root_string = int(rng.integers(0, 2))
        fret = int(rng.integers(0, 8))
        parts = []
        level = 1.0
        for _ in range(int(rng.integers(2, 9))):
            seconds = rng.uniform(0.08, 0.25)
            tone = np.zeros(int(round(seconds * self.sr)))
            for s, f in ((root_string, fret), (root_string + 1, fret + 2)):
                tone += self._string(s, f, seconds, rng.uniform(0.1, 0.35),
                                     rng.uniform(0.1, 0.4))[: tone.size]
            level = float(np.clip(level * rng.uniform(0.7, 1.3), 0.4, 1.0))
            parts.append(_release(tone * level, self.sr, rng))
        return self._finish(np.concatenate(parts))

    def gap(self) -> np.ndarray:
        return np.zeros(int(round(self.rng.uniform(0.2, 1.5) * self.sr)))


@dataclass(frozen=True)
class GuitarEvent:
    """One phrase event of `guitar_signal`: where it is, what it is, which notes it plays."""

    start: int
    stop: int
    kind: str  # "note", "short note", "chord", "palm mute" or "gap"
    freqs: tuple[float, ...]


def guitar_performance(seconds: float, sample_rate: int = 48000, seed: int = 0
                       ) -> tuple[np.ndarray, list[GuitarEvent]]:
    """`guitar_signal` and the list of events it is made of (for tests and inspection)."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise LeanampError(f"guitar_signal: seconds must be > 0, got {seconds}")
    if not 16000 <= sample_rate <= 384000:
        raise LeanampError(
            f"guitar_signal: sample_rate must be 16000..384000 Hz, got {sample_rate}")
    total = int(round(seconds * sample_rate))
    rng = np.random.default_rng(seed)
    player = _Player(sample_rate, rng)
    kinds = (
        (0.35, "note", lambda: player.single_note(staccato=False)),
        (0.15, "short note", lambda: player.single_note(staccato=True)),
        (0.25, "chord", player.chord),
        (0.15, "palm mute", player.palm_muted),
        (0.10, "gap", player.gap),
    )
    weights = np.array([w for w, _, _ in kinds])
    played = weights[:-1] / weights[:-1].sum()
    out = np.zeros(total)
    events = []
    position = 0
    while position < total:
        # The first event is always played, so even short signals contain guitar.
        choice = int(rng.choice(len(kinds) - 1, p=played) if not events
                     else rng.choice(len(kinds), p=weights))
        player.freqs = []
        sound = kinds[choice][2]()
        take = min(sound.size, total - position)
        piece = sound[:take]
        if take < sound.size:
            piece = _release(piece.copy(), sample_rate, rng)  # cut by the end of the signal
        out[position:position + take] = piece
        events.append(GuitarEvent(position, position + take, kinds[choice][1],
                                  tuple(player.freqs)))
        position += take
    return out.astype(np.float32), events


def guitar_signal(seconds: float, sample_rate: int = 48000, seed: int = 0) -> np.ndarray:
    """Guitar-like playing: single notes, chords, palm-muted and short notes, silence gaps.

    Fundamentals from E2 (82 Hz) to D6 (1175 Hz); each phrase event gets a peak level between
    -30 and -3 dBFS; starts with a note, never with silence. Notes follow one another (a new
    event damps the previous one). float32 mono, deterministic given seed.
    """
    return guitar_performance(seconds, sample_rate, seed)[0]


@dataclass
class CaptureLayout:
    """Where things are in a capture signal: blip sample positions and named sample ranges.

    sections: name -> (start, stop) half-open sample ranges. "silence", "blips", "sweep",
    "noise", "guitar" describe the content; "train", "validation" and "test" split it: train
    runs from the sweep to the validation range, validation and test are separate guitar
    material at the end (blips and the lead-in silence belong to no split).
    """

    blips: list[int]
    sections: dict[str, tuple[int, int]]

    def slice(self, audio: np.ndarray, name: str) -> np.ndarray:
        if name not in self.sections:
            raise LeanampError(
                f"capture layout has no section {name!r}; sections: {', '.join(self.sections)}")
        start, stop = self.sections[name]
        return audio[start:stop]


CAPTURE_MIN_SECONDS = 10.0
BLIP_AMPLITUDE = 0.5
SWEEP_AMPLITUDE = 0.5
NOISE_PEAKS_DB = (-27.0, -15.0, -3.0)


def _sweep(seconds: float, sample_rate: int) -> np.ndarray:
    # Exponential sine sweep (equal time per octave) from 20 Hz to 20 kHz (or 0.45 fs).
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0, f1 = 20.0, min(20000.0, 0.45 * sample_rate)
    rate = math.log(f1 / f0)
    phase = 2.0 * np.pi * f0 * seconds / rate * (np.exp(t * rate / seconds) - 1.0)
    sweep = SWEEP_AMPLITUDE * np.sin(phase)
    fade = min(n // 4, int(0.02 * sample_rate))
    ramp = 0.5 * (1.0 - np.cos(np.linspace(0.0, np.pi, fade)))
    sweep[:fade] *= ramp
    sweep[n - fade:] *= ramp[::-1]
    return sweep


def capture_signal(seconds: float = 60.0, sample_rate: int = 48000, seed: int = 0
                   ) -> tuple[np.ndarray, CaptureLayout]:
    """A capture input in the spirit of NAM's standard input file, and its layout.

    0.5 s silence; two single-sample blips (0.5) 1 s apart for latency detection, then 1 s of
    silence so the device rings out; an exponential sine sweep (-6 dBFS); three white-noise
    bursts peaking at -27, -15 and -3 dBFS; 0.5 s silence; then guitar material. The last
    ~10 % and the 10 % before it (at least 1 s each) are the test and validation ranges,
    generated separately from the training guitar. Deterministic given seed; float32 mono.
    """
    if not (math.isfinite(seconds) and seconds >= CAPTURE_MIN_SECONDS):
        raise LeanampError(
            f"capture_signal: seconds must be at least {CAPTURE_MIN_SECONDS:g} (room for the "
            f"blips, sweep, noise and guitar material), got {seconds}")
    if not 16000 <= sample_rate <= 384000:
        raise LeanampError(
            f"capture_signal: sample_rate must be 16000..384000 Hz, got {sample_rate}")
    sr = sample_rate
    total = int(round(seconds * sr))
    rng = np.random.default_rng(seed)
    x = np.zeros(total)

    def at(sec: float) -> int:
        return int(round(sec * sr))

    blips = [at(0.5), at(1.5)]
    x[blips] = BLIP_AMPLITUDE
    sweep_seconds = float(np.clip(0.05 * seconds, 1.0, 5.0))
    sweep_start = at(2.5)
    sweep = _sweep(sweep_seconds, sr)
    x[sweep_start:sweep_start + sweep.size] = sweep
    noise_start = sweep_start + sweep.size + at(0.25)
    burst_seconds = float(np.clip(0.01 * seconds, 0.25, 1.0))
    position = noise_start
    for peak_db in NOISE_PEAKS_DB:
        # Gaussian noise scaled so each burst's peak is exactly its level.
        burst = rng.standard_normal(at(burst_seconds))
        burst /= np.abs(burst).max()
        x[position:position + burst.size] = burst * 10.0 ** (peak_db / 20.0)
        position += burst.size + at(0.25)
    noise_stop = position - at(0.25)
    guitar_start = noise_stop + at(0.5)
    held_out = max(at(1.0), at(0.1 * seconds))
    test_start = total - held_out
    validation_start = test_start - held_out
    if validation_start - guitar_start < at(1.0):
        raise LeanampError(f"capture_signal: {seconds} s leaves too little guitar material; "
                           f"use at least {CAPTURE_MIN_SECONDS:g} s")
    for start, stop, offset in ((guitar_start, validation_start, 1),
                                (validation_start, test_start, 2),
                                (test_start, total, 3)):
        # Separate seeds: held-out ranges are new playing, not continuations of the training.
        part_seed = int(np.random.SeedSequence([seed, offset]).generate_state(1)[0])
        x[start:stop] = guitar_signal((stop - start) / sr, sr, part_seed)[: stop - start]
    sections = {
        "silence": (0, blips[0]),
        "blips": (blips[0], sweep_start),
        "sweep": (sweep_start, sweep_start + sweep.size),
        "noise": (noise_start, noise_stop),
        "guitar": (guitar_start, total),
        "train": (sweep_start, validation_start),
        "validation": (validation_start, test_start),
        "test": (test_start, total),
    }
    return x.astype(np.float32), CaptureLayout(blips=blips, sections=sections)
