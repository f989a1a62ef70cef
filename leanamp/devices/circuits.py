"""Virtual circuits: white-box models of a diode clipper, a Tube-Screamer-style overdrive and a
valve amp, with knobs, a known latency and a known polarity.

They are the default devices of the demo and the "known answer" devices of the tests: a user
with no pedal still gets a full run, and alignment, transfer and knob-conditioning code can be
checked against devices whose latency, polarity and knob behaviour are exact by construction.

Level convention: a sample value of 1.0 at the input is 1 V at the circuit's input jack (a hot
pickup peaks around 1 V); outputs are scaled so full-scale input stays inside [-1, 1].

The nonlinear parts run oversampled (to >= 176.4 kHz, e.g. 4x at 48 kHz) between linear-phase
anti-alias filters whose delay is removed exactly, so aliasing of the distortion products is
removed and the resampling adds neither latency nor group delay: only `latency` and the circuit's
own filters delay the output. The price is a faint pre-echo of the high-frequency distortion
products (like a recording interface's linear-phase converters). A minimum-phase alternative
was tried and rejected: it added ~4.7 samples of low-frequency group delay at 48 kHz, which a
model must then learn as a delay (a 4.7-sample delay alone is an ESR of 0.37 at 1 kHz). Every
render starts from rest, so output is deterministic.
"""

from __future__ import annotations

import abc
import functools
import math
import numbers
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
from scipy import signal

from leanamp.devices import _kernels
from leanamp.devices import filters as flt
from leanamp.errors import DataError, LeanampError

INTERNAL_RATE_MIN = 176_400  # Hz: the nonlinear stages run at least this fast
SAMPLE_RATE_RANGE = (16_000, 384_000)

# Silicon small-signal diode (1N4148 / 1N914), Shockley model.
DIODE_SATURATION_CURRENT = 2.52e-9  # A
DIODE_EMISSION = 1.752  # ideality factor n
THERMAL_VOLTAGE = 25.85e-3  # V at 27 degrees C


@runtime_checkable
class Device(Protocol):
    """Anything that renders audio: virtual circuits now, imported models later."""

    sample_rate: int

    def render(self, x: np.ndarray) -> np.ndarray:
        """x: (time,) or (time, channels) float, channel 0 is audio. Returns (time,) float32."""
        ...


@dataclass(frozen=True)
class SolverStats:
    """How the per-sample Newton solves went during one render.

    max_residual: largest |residual| of the implicit equation after the last iteration, in volts.
    max_iterations: largest number of Newton iterations any sample needed.
    """

    max_residual: float
    max_iterations: int


def _knob(name: str, value: float, device: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise LeanampError(f"{device}: {name} must be a number in 0..1, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise LeanampError(f"{device}: {name} must be in 0..1 (knob travel), got {value}")
    return float(value)


def _integer(name: str, value, device: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        raise LeanampError(f"{device}: {name} must be a whole number, got {value!r}")
    return int(value)


@functools.lru_cache(maxsize=8)
def antialias_filter(sample_rate: int, factor: int) -> np.ndarray:
    """Linear-phase FIR low-pass at sample_rate * factor, used both to up- and downsample.

    Flat within 0.0003 dB to 20 kHz (0.42 fs at low rates) and >= 97 dB down from fs - 20 kHz,
    where upsampling images start and from where aliases would fold back below 20 kHz. Its length is
    2 m factor + 1, so its delay (m factor internal samples) is a whole number of samples at
    both rates and can be removed exactly.
    """
    high_rate = sample_rate * factor
    passband = min(20000.0, 0.42 * sample_rate)
    stopband = sample_rate - passband
    taps, beta = signal.kaiserord(100.0, (stopband - passband) / (high_rate / 2))
    taps = 2 * factor * math.ceil((taps - 1) / (2 * factor)) + 1
    h = signal.firwin(taps, (passband + stopband) / 2, window=("kaiser", beta), fs=high_rate)
    h.flags.writeable = False
    return h


def _band_edge(hz: float, sample_rate: int) -> float:
    # Keeps analog corners (up to 8 kHz) below Nyquist at the lowest sample rates.
    return min(hz, 0.45 * sample_rate)


class _Circuit(abc.ABC):
    """Shared plumbing: argument checks, oversampling, latency, polarity, float32 output."""

    name: ClassVar[str]

    def __init__(self, gain: float = 0.5, tone: float = 0.5, sample_rate: int = 48000,
                 latency: int = 0, polarity: int = +1):
        label = type(self).__name__
        self.gain = _knob("gain", gain, label)
        self.tone = _knob("tone", tone, label)
        self.sample_rate = _integer("sample_rate", sample_rate, label)
        lo, hi = SAMPLE_RATE_RANGE
        if not lo <= self.sample_rate <= hi:
            raise LeanampError(
                f"{label}: sample_rate {self.sample_rate} Hz is outside {lo}..{hi} Hz; "
                "resample the audio to 44100 or 48000 Hz first")
        self.latency = _integer("latency", latency, label)
        if self.latency < 0:
            raise LeanampError(f"{label}: latency must be >= 0 samples, got {self.latency}")
        self.polarity = _integer("polarity", polarity, label)
        if self.polarity not in (1, -1):
            raise LeanampError(f"{label}: polarity must be +1 or -1, got {polarity!r}")
        self.oversampling = max(1, math.ceil(INTERNAL_RATE_MIN / self.sample_rate))
        self.internal_rate = self.sample_rate * self.oversampling

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(gain={self.gain}, tone={self.tone}, "
                f"sample_rate={self.sample_rate}, latency={self.latency}, "
                f"polarity={self.polarity:+d})")

    def render(self, x: np.ndarray) -> np.ndarray:
        """Render `x` through the circuit from rest. Returns (time,) float32, same length."""
        return self.render_with_stats(x)[0]

    def render_with_stats(self, x: np.ndarray) -> tuple[np.ndarray, SolverStats]:
        """Like `render`, also reporting how the Newton solves converged."""
        audio = self._audio(x)
        if audio.size == 0:
            return np.zeros(0, np.float32), SolverStats(0.0, 0)
        y, stats = self._process(audio)
        y = self.polarity * y
        if self.latency:
            # A pure delay: the first `latency` samples are silence, the tail is cut so the
            # output keeps the input's length.
            delayed = np.zeros_like(y)
            if self.latency < y.size:
                delayed[self.latency:] = y[: y.size - self.latency]
            y = delayed
        return y.astype(np.float32), stats

    def _audio(self, x) -> np.ndarray:
        label = type(self).__name__
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu":
            raise DataError(f"{label}: input audio must be real numbers, got dtype {arr.dtype}")
        if arr.ndim == 2:
            if arr.shape[1] == 0:
                raise DataError(f"{label}: input audio has no channels (shape {arr.shape})")
            arr = arr[:, 0]  # channel 0 is audio; knob channels do not drive a circuit
        elif arr.ndim != 1:
            raise DataError(
                f"{label}: input audio must be (time,) or (time, channels), got shape {arr.shape}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{label}: input audio contains NaN or infinite samples; "
                            "fix or trim the input before rendering it")
        return arr

    def _upsample(self, x: np.ndarray) -> np.ndarray:
        """x at the internal rate, delay-free; includes the interpolation filter's tail."""
        factor = self.oversampling
        if factor == 1:
            return x
        h = antialias_filter(self.sample_rate, factor)
        return signal.upfirdn(h * factor, x, up=factor)[(h.size - 1) // 2:]

    def _downsample(self, y: np.ndarray, length: int) -> np.ndarray:
        """`length` samples at the device rate, delay-free."""
        factor = self.oversampling
        if factor == 1:
            return y[:length]
        h = antialias_filter(self.sample_rate, factor)
        delay = (h.size - 1) // (2 * factor)
        return signal.upfirdn(h, y, down=factor)[delay:delay + length]

    @abc.abstractmethod
    def _process(self, x: np.ndarray) -> tuple[np.ndarray, SolverStats]:
        """The circuit at the oversampled rate: output volts and solver statistics."""


class DiodeClipper(_Circuit):
    """RC low-pass into a pair of antiparallel silicon diodes (the classic diode clipper).

    Circuit: an ideal gain stage, 1..100 (0..40 dB, exponential in the gain knob) -> series
    resistor R -> output node with C = 10 nF and two antiparallel 1N4148 diodes to
    ground (Is = 2.52 nA, n = 1.752, Vt = 25.85 mV). The tone knob is a pot setting
    R = 22 kOhm (tone 0, corner 723 Hz) down to 2.2 kOhm (tone 1, corner 7.2 kHz), log taper.
    The node obeys the ODE
        C dv/dt = (u - v) / R - 2 Is sinh(v / (n Vt)),
    integrated with TR-BDF2 (a trapezoidal step then a BDF2 step, see
    `_kernels.diode_pair_rc`) at the oversampled rate, Newton-solved per sample. Output is v
    (the diodes hold it below ~0.8 V) times OUTPUT_GAIN. The gain stage has no supply rails
    (full drive on a 1 V peak makes a 100 V source, which a real op-amp would clip): the
    diodes do all the clipping, so the device is exactly the textbook ODE above.
    """

    name = "diode-clipper"
    CAPACITANCE = 10e-9
    R_BRIGHT = 2.2e3
    R_DARK = 22e3
    DRIVE_DB = 40.0
    OUTPUT_GAIN = 0.75  # worst case (full-scale noise, full drive, bright) peaks at ~0.9

    def __init__(self, gain: float = 0.5, tone: float = 0.5, sample_rate: int = 48000,
                 latency: int = 0, polarity: int = +1):
        super().__init__(gain, tone, sample_rate, latency, polarity)
        self.drive = 10.0 ** (self.DRIVE_DB * self.gain / 20.0)
        self.resistance = self.R_DARK * (self.R_BRIGHT / self.R_DARK) ** self.tone

    def solve_circuit(self, source_volts: np.ndarray, rate: float
                      ) -> tuple[np.ndarray, SolverStats]:
        """Node voltage for a source voltage u sampled at `rate` Hz (no resampling, no gain)."""
        u = np.ascontiguousarray(source_volts, dtype=np.float64)
        v, residual, iterations = _kernels.diode_pair_rc(
            u / self.resistance, 1.0 / self.resistance, self.CAPACITANCE,
            DIODE_SATURATION_CURRENT, DIODE_EMISSION * THERMAL_VOLTAGE, 1.0 / rate)
        return v, SolverStats(float(residual), int(iterations))

    def _process(self, x):
        v, stats = self.solve_circuit(self.drive * self._upsample(x), self.internal_rate)
        return self.OUTPUT_GAIN * self._downsample(v, x.size), stats


class Overdrive(_Circuit):
    """Tube-Screamer-style overdrive (TS808 topology).

    - Input coupling high-pass: 47 nF into 510 kOhm (6.6 Hz).
    - Clipping stage: non-inverting op-amp; gain leg 4.7 kOhm + 47 nF to ground (the ~720 Hz
      corner that gives the mid hump); feedback Rf = 51 kOhm + 500 kOhm drive pot (audio taper,
      gain knob) in parallel with 51 pF and two antiparallel 1N914 diodes (Is = 2.52 nA,
      n = 1.752). Small-signal gain 1 + Rf / 4.7k = 11.9 (21.5 dB) .. 118 (41.4 dB). With an ideal
      op-amp the gain-leg current i(t) is fixed by the input, and the feedback voltage obeys
        Cf dv/dt = i - v / Rf - 2 Is sinh(v / (n Vt)),   output = input + v,
      integrated with TR-BDF2 at the oversampled rate, Newton-solved per sample. The op-amp
      output cannot leave its 9 V supply (+-4.5 V around the bias); only inputs far beyond
      full scale get there.
    - Tone: two-pole RC low-pass whose corner the tone knob sweeps from 500 Hz to 8 kHz (log).
    - Volume: fixed output scaling OUTPUT_GAIN.
    """

    name = "overdrive"
    INPUT_HIGHPASS_HZ = 1.0 / (2 * math.pi * 510e3 * 47e-9)
    GAIN_LEG_R = 4.7e3
    GAIN_LEG_C = 47e-9
    FEEDBACK_R = 51e3
    DRIVE_POT = 500e3
    FEEDBACK_C = 51e-12
    OPAMP_SWING = 4.5  # V
    TONE_LOW_HZ = 500.0
    TONE_HIGH_HZ = 8000.0
    OUTPUT_GAIN = 0.5  # clean path + diode swing (<= 1.75 V at full scale) kept below 0.9

    def __init__(self, gain: float = 0.5, tone: float = 0.5, sample_rate: int = 48000,
                 latency: int = 0, polarity: int = +1):
        super().__init__(gain, tone, sample_rate, latency, polarity)
        self.feedback_resistance = self.FEEDBACK_R + self.DRIVE_POT * flt.audio_taper(self.gain)
        self.tone_hz = _band_edge(
            self.TONE_LOW_HZ * (self.TONE_HIGH_HZ / self.TONE_LOW_HZ) ** self.tone,
            self.sample_rate)
        self._input_sos = flt.one_pole_highpass(self.INPUT_HIGHPASS_HZ, self.sample_rate)
        pole = flt.one_pole_lowpass(self.tone_hz, self.sample_rate)
        self._tone_sos = np.vstack([pole, pole])

    def solve_circuit(self, input_volts: np.ndarray, rate: float
                      ) -> tuple[np.ndarray, SolverStats]:
        """Clipping-stage output for op-amp input voltages sampled at `rate` Hz."""
        vin = np.ascontiguousarray(input_volts, dtype=np.float64)
        step = 1.0 / rate
        leg_current = _kernels.series_rc_current_trapezoidal(
            vin, self.GAIN_LEG_R, self.GAIN_LEG_C, step)
        v, residual, iterations = _kernels.diode_pair_rc(
            leg_current, 1.0 / self.feedback_resistance, self.FEEDBACK_C,
            DIODE_SATURATION_CURRENT, DIODE_EMISSION * THERMAL_VOLTAGE, step)
        output = np.clip(vin + v, -self.OPAMP_SWING, self.OPAMP_SWING)
        return output, SolverStats(float(residual), int(iterations))

    def _process(self, x):
        vin = flt.apply_sos(self._input_sos, x)
        clipped, stats = self.solve_circuit(self._upsample(vin), self.internal_rate)
        y = flt.apply_sos(self._tone_sos, self._downsample(clipped, x.size))
        return self.OUTPUT_GAIN * y, stats


@dataclass(frozen=True)
class Triode:
    """12AX7 (Koren's model) in a common-cathode stage with a fixed, bypassed cathode bias."""

    mu: float = 100.0
    ex: float = 1.4
    kg1: float = 1060.0
    kp: float = 600.0
    kvb: float = 300.0
    supply: float = 250.0  # B+ (V)
    plate_resistor: float = 100e3
    cathode_voltage: float = 1.5  # V: 1.5 kOhm at ~1 mA, bypassed
    grid_perveance: float = 6.06e-4  # A / V^exponent (Child-law grid current)
    grid_exponent: float = 1.354
    grid_knee: float = 0.05  # V: softplus width at conduction onset

    def plate_current(self, v_pk: np.ndarray, v_gk: np.ndarray) -> np.ndarray:
        """Koren: E1 = Vpk/kp ln(1 + exp(kp (1/mu + Vgk / sqrt(kvb + Vpk^2)))), Ip = 2 E1^ex/kg1."""
        z = self.kp * (1.0 / self.mu + v_gk / np.sqrt(self.kvb + v_pk * v_pk))
        e1 = np.maximum(v_pk, 0.0) / self.kp * np.logaddexp(0.0, z)
        return 2.0 * e1**self.ex / self.kg1


TABLE_VGK_MIN, TABLE_VGK_MAX, TABLE_STEP = -12.0, 6.0, 1e-3


@functools.lru_cache(maxsize=4)
def plate_load_line(triode: Triode = Triode()) -> np.ndarray:
    """Plate voltage on the load line Vp = B+ - Ra Ip(Vp - Vk, Vgk), tabulated over Vgk.

    Solved by bisection (the residual is increasing in Vp) on TABLE_VGK_MIN..MAX in TABLE_STEP.
    """
    v_gk = np.arange(TABLE_VGK_MIN, TABLE_VGK_MAX + TABLE_STEP / 2, TABLE_STEP)
    lo = np.full_like(v_gk, triode.cathode_voltage)
    hi = np.full_like(v_gk, triode.supply)
    for _ in range(60):
        vp = 0.5 * (lo + hi)
        residual = vp - triode.supply + triode.plate_resistor * triode.plate_current(
            vp - triode.cathode_voltage, v_gk)
        above = residual > 0
        hi = np.where(above, vp, hi)
        lo = np.where(above, lo, vp)
    table = 0.5 * (lo + hi)
    table.flags.writeable = False
    return table


class AmpChain(_Circuit):
    """A valve-amp-like chain: pre-emphasis, triode stage, Bassman tone stack, cabinet filtering.

    - Input: 20 Hz coupling high-pass and a +9 dB bright shelf around 1.2 kHz (pre-emphasis,
      like a bright cap across the gain pot), then the gain knob: 6..40 dB of drive.
    - Triode stage (oversampled): source -> 68 kOhm -> 22 nF coupling cap -> grid, 1 MOhm grid
      leak; Child-law grid conduction above the 1.5 V cathode bias charges the coupling cap
      and shifts the bias (blocking distortion, recovering over ~24 ms); 12AX7 (Koren: mu 100,
      ex 1.4, kg1 1060, kp 600, kvb 300) with 100 kOhm plate load on 250 V. Asymmetric: soft
      on grid conduction, harder at cutoff.
    - Tone stack: Fender '59 Bassman (250k/1M/25k pots, 56k, 250 pF, 20 nF, 20 nF) driven by a
      cathode follower; the tone knob is the treble pot, bass and mid at half travel.
    - Cabinet: 2nd-order high-pass at 70 Hz, +6 dB speaker resonance at 110 Hz (Q 2),
      +3 dB presence at 2.5 kHz (Q 1), 4th-order low-pass at 5 kHz.
    """

    name = "amp"
    COUPLING_HIGHPASS_HZ = 20.0
    BRIGHT_HZ = 1200.0
    BRIGHT_DB = 9.0
    DRIVE_DB_MIN = 6.0
    DRIVE_DB_MAX = 40.0
    SOURCE_RESISTANCE = 68e3
    COUPLING_CAPACITANCE = 22e-9
    GRID_LEAK = 1e6
    OUTPUT_GAIN = 0.0045  # plate swing (tens of volts) to full scale: <= 0.9 at any knob setting

    def __init__(self, gain: float = 0.5, tone: float = 0.5, sample_rate: int = 48000,
                 latency: int = 0, polarity: int = +1):
        super().__init__(gain, tone, sample_rate, latency, polarity)
        fs = self.sample_rate
        self.drive = 10.0 ** ((self.DRIVE_DB_MIN
                               + (self.DRIVE_DB_MAX - self.DRIVE_DB_MIN) * self.gain) / 20.0)
        self.triode = Triode()
        self._plate_table = plate_load_line(self.triode)
        # The plate voltage at rest, computed by the very kernel arithmetic of a render, so that
        # silence in gives exactly 0.0 out.
        self.plate_rest_voltage = float(self.solve_circuit(np.zeros(1), self.internal_rate)[0][0])
        self._pre_sos = np.vstack([
            flt.one_pole_highpass(self.COUPLING_HIGHPASS_HZ, fs),
            flt.shelf(self.BRIGHT_HZ, self.BRIGHT_DB, fs),
        ])
        b, a = flt.tone_stack_analog(treble=self.tone, mid=0.5, bass=flt.audio_taper(0.5))
        self._post_sos = np.vstack([
            flt.bilinear_sos(b, a, fs),
            flt.butterworth(2, 70.0, "highpass", fs),
            flt.peaking(110.0, 6.0, 2.0, fs),
            flt.peaking(_band_edge(2500.0, fs), 3.0, 1.0, fs),
            flt.butterworth(4, _band_edge(5000.0, fs), "lowpass", fs),
        ])

    def solve_circuit(self, source_volts: np.ndarray, rate: float
                      ) -> tuple[np.ndarray, np.ndarray, SolverStats]:
        """Plate and grid voltages of the triode stage for a source sampled at `rate` Hz."""
        t = self.triode
        plate, grid, residual, iterations = _kernels.triode_stage(
            np.ascontiguousarray(source_volts, dtype=np.float64), self.SOURCE_RESISTANCE,
            self.COUPLING_CAPACITANCE, self.GRID_LEAK, t.cathode_voltage, t.grid_perveance,
            t.grid_exponent, t.grid_knee, TABLE_VGK_MIN, TABLE_STEP, self._plate_table,
            1.0 / rate)
        return plate, grid, SolverStats(float(residual), int(iterations))

    def _process(self, x):
        source = self.drive * flt.apply_sos(self._pre_sos, x)
        plate, _, stats = self.solve_circuit(self._upsample(source), self.internal_rate)
        # The stage inverts; reading the swing as rest - plate undoes that (as a second,
        # unity-gain inverting stage would) so `polarity` is the only inversion. Subtracting the
        # rest voltage is the output coupling cap.
        swing = self.plate_rest_voltage - plate
        y = flt.apply_sos(self._post_sos, self._downsample(swing, x.size))
        return self.OUTPUT_GAIN * y, stats


class CabinetRig:
    """A circuit into a speaker cabinet and microphone (`filters.cabinet_ir`), then the
    recording interface's latency and polarity: a pedal or amp captured through a cabinet.

    Renders like a circuit: (time,) or (time, channels) in, (time,) float32 out, same length.
    """

    circuit_class: ClassVar[type[_Circuit]]
    name: ClassVar[str]

    def __init__(self, gain: float = 0.5, tone: float = 0.5, sample_rate: int = 48000,
                 latency: int = 0, polarity: int = +1):
        # The circuit itself at latency 0 and polarity +1: both belong to the interface.
        self.circuit = self.circuit_class(gain, tone, sample_rate, latency, polarity)
        self.latency, self.polarity = self.circuit.latency, self.circuit.polarity
        self.circuit.latency, self.circuit.polarity = 0, 1
        self.sample_rate, self.gain, self.tone = (
            self.circuit.sample_rate, self.circuit.gain, self.circuit.tone)
        self.ir = flt.cabinet_ir(self.sample_rate)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.circuit!r} into a {self.ir.size}-sample cabinet, "
                f"latency={self.latency}, polarity={self.polarity:+d})")

    def render(self, x: np.ndarray) -> np.ndarray:
        """Render `x` through circuit and cabinet from rest. Returns (time,) float32."""
        dry = self.circuit.render(x).astype(np.float64)
        y = self.polarity * signal.oaconvolve(dry, self.ir)[: dry.size]
        out = np.zeros_like(y)
        if self.latency < y.size:
            out[self.latency:] = y[: y.size - self.latency]
        return out.astype(np.float32)


class OverdriveCabinet(CabinetRig):
    """The virtual overdrive pedal into the synthetic cabinet."""

    circuit_class = Overdrive
    name = "overdrive-cab"


class AmpCabinet(CabinetRig):
    """The virtual valve amp, miked through the synthetic cabinet."""

    circuit_class = AmpChain
    name = "amp-cab"


DEVICES: dict[str, type] = {
    DiodeClipper.name: DiodeClipper,
    Overdrive.name: Overdrive,
    AmpChain.name: AmpChain,
    OverdriveCabinet.name: OverdriveCabinet,
    AmpCabinet.name: AmpCabinet,
}


def get_device(name: str, **kwargs) -> Device:
    """A virtual device by name: "diode-clipper", "overdrive", "amp", or a rig into a cabinet:
    "overdrive-cab", "amp-cab"."""
    try:
        cls = DEVICES[name]
    except (KeyError, TypeError):
        raise LeanampError(
            f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}") from None
    allowed = ("gain", "tone", "sample_rate", "latency", "polarity")
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise LeanampError(f"device {name!r} has no setting {', '.join(unknown)}; "
                           f"settings are: {', '.join(allowed)}")
    return cls(**kwargs)
