"""Linear parts of the virtual circuits: analog prototypes discretised with the bilinear transform.

Filters are returned as second-order sections (scipy's `sos` layout) so long cascades stay
numerically sound, and are always run from rest, which keeps every render deterministic.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import signal


def bilinear_sos(b_analog, a_analog, sample_rate: float,
                 match_hz: float | None = None) -> np.ndarray:
    """Discretise H(s) = b(s)/a(s) (highest power first) with the bilinear transform.

    `match_hz` prewarps so the digital response equals the analog one exactly at that frequency.
    """
    fs = float(sample_rate)
    if match_hz is not None:
        # Scale s so the bilinear map sends match_hz to itself.
        w = 2.0 * np.pi * match_hz
        k = w / np.tan(w / (2.0 * fs))
        fs = k / 2.0
    b, a = signal.bilinear(np.atleast_1d(b_analog), np.atleast_1d(a_analog), fs=fs)
    return signal.tf2sos(b, a)


def one_pole_highpass(cutoff_hz: float, sample_rate: float) -> np.ndarray:
    """RC high-pass s / (s + wc), matched at its corner."""
    wc = 2.0 * np.pi * cutoff_hz
    return bilinear_sos([1.0, 0.0], [1.0, wc], sample_rate, match_hz=cutoff_hz)


def one_pole_lowpass(cutoff_hz: float, sample_rate: float) -> np.ndarray:
    """RC low-pass wc / (s + wc), matched at its corner."""
    wc = 2.0 * np.pi * cutoff_hz
    return bilinear_sos([wc], [1.0, wc], sample_rate, match_hz=cutoff_hz)


def shelf(corner_hz: float, gain_db: float, sample_rate: float) -> np.ndarray:
    """First-order high shelf (1 + s/w1) / (1 + s/w2): unity at DC, gain_db above ~corner."""
    g = 10.0 ** (gain_db / 20.0)
    w2 = 2.0 * np.pi * corner_hz * np.sqrt(g)
    w1 = w2 / g
    return bilinear_sos([1.0 / w1, 1.0], [1.0 / w2, 1.0], sample_rate, match_hz=corner_hz)


def peaking(center_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Resonance/peaking section (s^2 + s w0 A/Q + w0^2) / (s^2 + s w0 /(A Q) + w0^2)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * center_hz
    return bilinear_sos([1.0, w0 * a / q, w0 * w0], [1.0, w0 / (a * q), w0 * w0], sample_rate,
                        match_hz=center_hz)


def butterworth(order: int, cutoff_hz: float, kind: str, sample_rate: float) -> np.ndarray:
    return signal.butter(order, cutoff_hz, btype=kind, fs=sample_rate, output="sos")


@dataclass(frozen=True)
class ToneStackParts:
    """Fender '59 Bassman 5F6-A tone stack components (ohms, farads)."""

    r1: float = 250e3  # treble pot
    r2: float = 1e6  # bass pot (audio taper)
    r3: float = 25e3  # mid pot
    r4: float = 56e3
    c1: float = 250e-12
    c2: float = 20e-9
    c3: float = 20e-9


def tone_stack_analog(treble: float, mid: float, bass: float,
                      parts: ToneStackParts = ToneStackParts()) -> tuple[np.ndarray, np.ndarray]:
    """H(s) = (b1 s + b2 s^2 + b3 s^3) / (1 + a1 s + a2 s^2 + a3 s^3) of the Bassman tone stack.

    Pot positions t, m, l in 0..1 (fraction of each pot's resistance; for the bass pot this is
    the rheostat's resistance, so apply the audio taper before calling). Coefficients from
    D. T. Yeh and J. O. Smith, "Discretization of the '59 Fender Bassman tone stack", DAFx 2006;
    the tests check them against a nodal analysis of the circuit. Returned highest power first.
    """
    t, m, l_ = treble, mid, bass
    r1, r2, r3, r4 = parts.r1, parts.r2, parts.r3, parts.r4
    c1, c2, c3 = parts.c1, parts.c2, parts.c3
    b1 = t * c1 * r1 + m * c3 * r3 + l_ * (c1 * r2 + c2 * r2) + (c1 * r3 + c2 * r3)
    b2 = (t * (c1 * c2 * r1 * r4 + c1 * c3 * r1 * r4)
          - m * m * (c1 * c3 * r3 * r3 + c2 * c3 * r3 * r3)
          + m * (c1 * c3 * r1 * r3 + c1 * c3 * r3 * r3 + c2 * c3 * r3 * r3)
          + l_ * (c1 * c2 * r1 * r2 + c1 * c2 * r2 * r4 + c1 * c3 * r2 * r4)
          + l_ * m * (c1 * c3 * r2 * r3 + c2 * c3 * r2 * r3)
          + (c1 * c2 * r1 * r3 + c1 * c2 * r3 * r4 + c1 * c3 * r3 * r4))
    c123 = c1 * c2 * c3
    b3 = (l_ * m * c123 * (r1 * r2 * r3 + r2 * r3 * r4)
          - m * m * c123 * (r1 * r3 * r3 + r3 * r3 * r4)
          + m * c123 * (r1 * r3 * r3 + r3 * r3 * r4)
          + t * c123 * r1 * r3 * r4
          - t * m * c123 * r1 * r3 * r4
          + t * l_ * c123 * r1 * r2 * r4)
    a1 = (c1 * r1 + c1 * r3 + c2 * r3 + c2 * r4 + c3 * r4) + m * c3 * r3 + l_ * (c1 * r2 + c2 * r2)
    a2 = (m * (c1 * c3 * r1 * r3 - c2 * c3 * r3 * r4 + c1 * c3 * r3 * r3 + c2 * c3 * r3 * r3)
          + l_ * m * (c1 * c3 * r2 * r3 + c2 * c3 * r2 * r3)
          - m * m * (c1 * c3 * r3 * r3 + c2 * c3 * r3 * r3)
          + l_ * (c1 * c2 * r2 * r4 + c1 * c2 * r1 * r2 + c1 * c3 * r2 * r4 + c2 * c3 * r2 * r4)
          + (c1 * c2 * r1 * r4 + c1 * c3 * r1 * r4 + c1 * c2 * r3 * r4 + c1 * c2 * r1 * r3
             + c1 * c3 * r3 * r4 + c2 * c3 * r3 * r4))
    a3 = (l_ * m * c123 * (r1 * r2 * r3 + r2 * r3 * r4)
          - m * m * c123 * (r1 * r3 * r3 + r3 * r3 * r4)
          + m * c123 * (r3 * r3 * r4 + r1 * r3 * r3 - r1 * r3 * r4)
          + l_ * c123 * r1 * r2 * r4
          + c123 * r1 * r3 * r4)
    return np.array([b3, b2, b1, 0.0]), np.array([a3, a2, a1, 1.0])


def audio_taper(position: float) -> float:
    """Resistance fraction of a log ('A') pot at a knob position: 10 % at half travel."""
    return (10.0 ** (2.0 * position) - 1.0) / 99.0


def apply_sos(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    return signal.sosfilt(sos, x) if sos.size else x


# (frequency Hz, decay time constant ms, relative amplitude): a cabinet's low resonance, the
# cone's mid modes and its break-up region.
CABINET_MODES = (
    (110.0, 4.0, 0.5),
    (650.0, 2.0, 0.6),
    (1400.0, 1.5, 0.8),
    (2400.0, 1.2, 1.0),
    (3500.0, 0.8, 0.7),
)
CABINET_NOISE_DECAY_MS = 1.0
CABINET_NOISE = 0.2  # the break-up noise's level, relative to the modes


@functools.lru_cache(maxsize=8)
def cabinet_ir(sample_rate: int, seconds: float = 0.006, seed: int = 0) -> np.ndarray:
    """A synthetic speaker cabinet + close microphone impulse response (read-only), scaled so
    its gain peaks at 0 dB (at its strongest resonance): a circuit's sine stays below full scale.

    A modal filter bank, h[n] = sum_m a_m exp(-n / (tau_m fs)) sin(2 pi f_m n / fs + phi_m)
    (CABINET_MODES), plus decaying white noise (the cone's dense break-up) and a sharp positive
    direct arrival, high-passed at 70 Hz and low-passed at 5 kHz, faded out over `seconds`.
    Several later peaks are nearly as tall as the first, as in a real cabinet capture.
    Deterministic given `seed`.
    """
    if not 16000 <= sample_rate <= 384000:
        raise ValueError(f"cabinet_ir: sample_rate must be 16000..384000 Hz, got {sample_rate}")
    if not 0.002 <= seconds <= 0.5:
        raise ValueError(f"cabinet_ir: seconds must be 0.002..0.5, got {seconds}")
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    h = np.zeros(n)
    for freq, decay_ms, amplitude in CABINET_MODES:
        if freq < 0.45 * sample_rate:
            phase = rng.uniform(-0.5, 0.5)
            h += amplitude * np.exp(-t / (decay_ms / 1000)) * np.sin(2 * np.pi * freq * t + phase)
    h += CABINET_NOISE * rng.standard_normal(n) * np.exp(-t / (CABINET_NOISE_DECAY_MS / 1000))
    h[0] += 2.0
    sos = np.vstack([
        butterworth(2, 70.0, "highpass", sample_rate),
        butterworth(4, min(5000.0, 0.45 * sample_rate), "lowpass", sample_rate),
    ])
    h = signal.sosfilt(sos, h) * np.hanning(2 * n)[n:] ** 0.5  # a smooth end, not a cut
    h /= np.abs(np.fft.rfft(h, 8 * n)).max()
    h.flags.writeable = False
    return h
