"""Linear parts of the virtual circuits: analog prototypes discretised with the bilinear transform.

Filters are returned as second-order sections (scipy's `sos` layout) so long cascades stay
numerically sound, and are always run from rest, which keeps every render deterministic.
"""

from __future__ import annotations

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
