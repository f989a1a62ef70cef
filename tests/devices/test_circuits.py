"""Virtual circuits: physics checks against references, knob behaviour, exact latency/polarity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from leanamp.devices import _kernels
from leanamp.devices.circuits import (
    DEVICES,
    DIODE_EMISSION,
    DIODE_SATURATION_CURRENT,
    THERMAL_VOLTAGE,
    AmpChain,
    Device,
    DiodeClipper,
    Overdrive,
    Triode,
    antialias_filter,
    get_device,
    plate_load_line,
)
from leanamp.devices.filters import ToneStackParts, cabinet_ir, tone_stack_analog
from leanamp.errors import DataError, LeanampError

SR = 48000
NAMES = sorted(name for name in DEVICES if not name.endswith("-cab"))  # the circuits


def tone_burst(seconds=0.1, freq=220.0, amplitude=0.1, sample_rate=SR):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def distortion_ratio(y, freq=220.0, sample_rate=SR):
    """Share of the output's energy outside the fundamental (THD+N-like), after settling."""
    y = y[sample_rate // 20:]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size))) ** 2
    f = np.fft.rfftfreq(y.size, 1 / sample_rate)
    fundamental = spectrum[(f > freq - 20) & (f < freq + 20)].sum()
    return (spectrum.sum() - fundamental) / spectrum.sum()


def spectral_centroid(y, sample_rate=SR):
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    return float((spectrum * np.fft.rfftfreq(y.size, 1 / sample_rate)).sum() / spectrum.sum())


def test_registry_and_protocol():
    assert set(DEVICES) == {"diode-clipper", "overdrive", "amp", "overdrive-cab", "amp-cab"}
    for name in DEVICES:
        device = get_device(name, gain=0.3, tone=0.7, sample_rate=44100)
        assert isinstance(device, Device)
        assert device.sample_rate == 44100 and device.gain == 0.3 and device.tone == 0.7
    with pytest.raises(LeanampError, match="diode-clipper, overdrive, amp"):
        get_device("fuzz")
    with pytest.raises(LeanampError, match="settings are"):
        get_device("amp", bass=0.5)


@pytest.mark.parametrize("kwargs", [
    {"gain": 1.5}, {"tone": -0.1}, {"gain": float("nan")}, {"polarity": 0}, {"latency": -1},
    {"latency": 2.5}, {"sample_rate": 8000}, {"tone": "bright"},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(LeanampError):
        DiodeClipper(**kwargs)


def test_bad_input_is_refused():
    device = Overdrive()
    with pytest.raises(DataError, match="NaN"):
        device.render(np.array([0.0, np.nan, 0.1]))
    with pytest.raises(DataError, match="shape"):
        device.render(np.zeros((4, 2, 2)))
    with pytest.raises(DataError, match="real numbers"):
        device.render(np.array(["a", "b"]))
    assert device.render(np.zeros(0)).shape == (0,)


@pytest.mark.parametrize("name", NAMES)
def test_latency_and_polarity_are_exact(name, rng):
    x = 0.3 * rng.standard_normal(3000)
    reference = get_device(name).render(x)
    shifted = get_device(name, latency=7, polarity=-1).render(x)
    assert shifted.dtype == np.float32 and shifted.shape == x.shape
    np.testing.assert_array_equal(shifted[:7], 0.0)
    np.testing.assert_array_equal(shifted[7:], -reference[:-7])
    assert np.any(reference != 0)


@pytest.mark.parametrize("name", NAMES)
def test_render_is_deterministic_and_reads_channel_zero(name, rng):
    x = 0.2 * rng.standard_normal(2000)
    first = get_device(name, gain=0.8).render(x)
    again = get_device(name, gain=0.8).render(x)
    assert first.tobytes() == again.tobytes()
    with_knob_channel = np.stack([x, np.full_like(x, 0.25)], axis=1).astype(np.float32)
    np.testing.assert_allclose(get_device(name, gain=0.8).render(with_knob_channel), first,
                               atol=1e-6)  # float32 input: only the input rounding differs


@pytest.mark.parametrize("name", NAMES)
def test_full_scale_input_at_extreme_knobs_stays_in_range_and_converges(name, rng):
    noise = rng.standard_normal(4800)
    signals = [np.sin(2 * np.pi * 100 * np.arange(4800) / SR), noise / np.abs(noise).max()]
    for gain in (0.0, 1.0):
        for tone in (0.0, 1.0):
            device = get_device(name, gain=gain, tone=tone)
            for x in signals:
                y, stats = device.render_with_stats(x)
                assert np.all(np.isfinite(y))
                assert np.abs(y).max() <= 1.0, (gain, tone)
                assert np.abs(y).max() > 0.01
                # Residuals are volts; far below anything audible (1 uV ~ -120 dBFS).
                assert stats.max_residual < 1e-9
                assert stats.max_iterations < _kernels.NEWTON_MAX_ITERATIONS


@pytest.mark.parametrize("name", NAMES)
def test_gain_knob_adds_distortion_monotonically(name):
    x = tone_burst(0.2)
    ratios = [distortion_ratio(get_device(name, gain=g).render(x)) for g in np.linspace(0, 1, 5)]
    assert np.all(np.diff(ratios) > 0), ratios
    assert ratios[-1] > 20 * ratios[0] and ratios[-1] > 0.03, ratios


@pytest.mark.parametrize("name", NAMES)
def test_tone_knob_brightens_monotonically(name, rng):
    x = 0.05 * rng.standard_normal(SR // 5)
    centroids = [spectral_centroid(get_device(name, tone=t).render(x))
                 for t in np.linspace(0, 1, 5)]
    assert np.all(np.diff(centroids) > 0), centroids
    assert centroids[-1] > 1.3 * centroids[0], centroids


@pytest.mark.parametrize("name", NAMES)
def test_other_sample_rates_give_the_same_circuit(name):
    # A white-box model does not depend on the sample rate (up to the band edge).
    rms = {}
    for sr in (44100, 48000, 96000):
        y = get_device(name, gain=0.7, sample_rate=sr).render(tone_burst(0.2, sample_rate=sr))
        rms[sr] = float(np.sqrt(np.mean(y[sr // 20:] ** 2)))
    assert rms[44100] == pytest.approx(rms[48000], rel=0.03)
    assert rms[96000] == pytest.approx(rms[48000], rel=0.03)


def test_diode_clipper_step_response_is_the_rc_charge_curve():
    # Memory: a 10 mV step (diodes barely conduct) charges C through R, v = u (1 - e^(-t/RC)),
    # so the output is not a function of the present input sample.
    clipper = DiodeClipper(tone=0.0)
    rate = clipper.internal_rate
    tau = clipper.resistance * clipper.CAPACITANCE
    t = np.arange(int(5 * tau * rate)) / rate
    v, _ = clipper.solve_circuit(np.full(t.size, 0.01), rate)
    # Sample k is at time (k + 1) h; the input ramps from rest over the first step, which
    # acts as a step at h / 2.
    expected = 0.01 * (1 - np.exp(-(t + 0.5 / rate) / tau))
    np.testing.assert_allclose(v, expected, atol=0.01 * 0.01)
    assert v[int(tau * rate)] < 0.0075  # still charging one time constant in


def test_diode_clipper_same_input_different_history():
    clipper = DiodeClipper(gain=1.0, tone=0.0)
    rate = clipper.internal_rate
    rising = np.concatenate([np.linspace(-2.0, 0.5, 40), [0.5]])
    falling = np.concatenate([np.linspace(3.0, 0.5, 40), [0.5]])
    v_rising, _ = clipper.solve_circuit(rising, rate)
    v_falling, _ = clipper.solve_circuit(falling, rate)
    assert v_falling[-1] - v_rising[-1] > 0.1


@pytest.mark.parametrize("amplitude, max_error", [(3.0, 2e-3), (30.0, 0.03)])
def test_diode_clipper_matches_tight_ode_reference(amplitude, max_error):
    """The TR-BDF2 solution against scipy's Radau at rtol 1e-10, on a 1 kHz sine at 192 kHz."""
    clipper = DiodeClipper(tone=0.5)
    r, c = clipper.resistance, clipper.CAPACITANCE
    i_s, nvt = DIODE_SATURATION_CURRENT, DIODE_EMISSION * THERMAL_VOLTAGE
    rate, freq = 192000, 1000.0
    t = np.arange(int(0.0015 * rate)) / rate

    def rhs(time, v):
        return (amplitude * np.sin(2 * np.pi * freq * time) - v) / (r * c) \
            - 2 * i_s / c * np.sinh(v / nvt)

    def jacobian(time, v):
        return [[-1 / (r * c) - 2 * i_s / (c * nvt) * np.cosh(v[0] / nvt)]]

    reference = solve_ivp(rhs, (0, t[-1]), [0.0], method="Radau", t_eval=t, jac=jacobian,
                          rtol=1e-10, atol=1e-12).y[0]
    v, stats = clipper.solve_circuit(amplitude * np.sin(2 * np.pi * freq * t), rate)
    error = v - reference
    assert np.abs(reference).max() > 0.4  # clipping, not just the linear RC
    assert np.abs(error).max() < max_error
    assert np.sqrt(np.mean(error**2)) < max_error / 5
    assert stats.max_residual < 1e-9


def test_diode_clipper_is_bounded_on_a_full_drive_square_wave():
    # Steep edges at full drive: the node must stay within the diodes' forward voltage.
    clipper = DiodeClipper(gain=1.0, tone=1.0)
    square = np.sign(np.sin(2 * np.pi * 100 * np.arange(SR // 10) / SR + 0.1))
    v, _ = clipper.solve_circuit(clipper.drive * np.repeat(square, 4), clipper.internal_rate)
    assert np.abs(v).max() < 0.85


@pytest.mark.parametrize("gain", [0.0, 1.0])
def test_overdrive_small_signal_gain_matches_the_circuit(gain):
    # Tiny input: the stage is 1 + Zf / Zleg, Zleg = R + 1/sC, Zf = Rf || Cf || the diodes'
    # small-signal conductance at 0 V, 2 Is / nVt (6 % of 1/Rf at full drive).
    od = Overdrive(gain=gain)
    diode_conductance = 2 * DIODE_SATURATION_CURRENT / (DIODE_EMISSION * THERMAL_VOLTAGE)
    rate = od.internal_rate
    for freq in (300.0, 3000.0):
        t = np.arange(int(0.05 * rate)) / rate
        x = 1e-4 * np.sin(2 * np.pi * freq * t)
        y, _ = od.solve_circuit(x, rate)
        s = 2j * np.pi * freq
        zf = 1 / (1 / od.feedback_resistance + diode_conductance + s * od.FEEDBACK_C)
        zleg = od.GAIN_LEG_R + 1 / (s * od.GAIN_LEG_C)
        expected = abs(1 + zf / zleg)
        tail = slice(t.size // 2, None)  # after the 47 nF leg has settled
        measured = np.sqrt(2 * np.mean(y[tail] ** 2)) / 1e-4
        assert measured == pytest.approx(expected, rel=0.01)


def nodal_tone_stack(treble, mid, bass, freq, parts=ToneStackParts()):
    """Voltage at the treble wiper for 1 V in, from the circuit's nodal equations."""
    s = 2j * np.pi * freq
    # Nodes: 0 top of treble pot, 1 wiper (output), 2 treble/bass junction, 3 after R4,
    # 4 bass/mid junction, 5 mid wiper. Input node driven at 1 V; ground implicit.
    g = np.zeros((6, 6), complex)
    i = np.zeros(6, complex)

    def branch(a, b, y):
        for p, q in ((a, b), (b, a)):
            if isinstance(p, int):
                g[p, p] += y
                if isinstance(q, int):
                    g[p, q] -= y
                elif q == "in":
                    i[p] += y

    branch("in", 0, s * parts.c1)
    branch(0, 1, 1 / ((1 - treble) * parts.r1))
    branch(1, 2, 1 / (treble * parts.r1))
    branch("in", 3, 1 / parts.r4)
    branch(3, 2, s * parts.c2)
    branch(3, 5, s * parts.c3)
    branch(2, 4, 1 / (bass * parts.r2))
    branch(4, 5, 1 / ((1 - mid) * parts.r3))
    branch(5, "gnd", 1 / (mid * parts.r3))
    return np.linalg.solve(g, i)[1]


@pytest.mark.parametrize("treble, mid, bass", [(0.3, 0.5, 0.2), (0.8, 0.2, 0.6), (0.5, 0.7, 0.05)])
def test_tone_stack_matches_nodal_analysis(treble, mid, bass):
    b, a = tone_stack_analog(treble, mid, bass)
    for freq in (30.0, 200.0, 1000.0, 5000.0):
        s = 2j * np.pi * freq
        h = np.polyval(b, s) / np.polyval(a, s)
        expected = nodal_tone_stack(treble, mid, bass, freq)
        assert abs(h - expected) < 1e-9 * abs(expected) + 1e-12


def test_triode_operating_point_is_a_real_12ax7_stage():
    triode = Triode()
    table = plate_load_line(triode)
    assert np.all(np.diff(table) <= 0)  # more grid voltage, more current, lower plate
    amp = AmpChain()
    rest = amp.plate_rest_voltage
    current = (triode.supply - rest) / triode.plate_resistor
    assert 120 < rest < 210 and 0.4e-3 < current < 1.3e-3
    assert table[-1] < 80 and table[0] > 0.99 * triode.supply  # saturation / cutoff


def test_amp_grid_conduction_shifts_bias_and_recovers():
    amp = AmpChain(gain=1.0)
    rate = amp.internal_rate
    burst = 20.0 * np.sin(2 * np.pi * 200 * np.arange(int(0.05 * rate)) / rate)
    source = np.concatenate([burst, np.zeros(int(0.2 * rate))])
    _, grid, stats = amp.solve_circuit(source, rate)
    after = grid[burst.size + 10]
    # The coupling cap charged through the conducting grid: the grid sits well below 0 V
    # after the burst and relaxes with tau ~ (Rs + Rg) Cc = 23.5 ms.
    assert after < -2.0
    tau = (amp.SOURCE_RESISTANCE + amp.GRID_LEAK) * amp.COUPLING_CAPACITANCE
    later = grid[burst.size + 10 + int(tau * rate)]
    assert later / after == pytest.approx(np.exp(-1), rel=0.05)
    # While conducting, the grid cannot rise far above the cathode (1.5 V).
    assert grid.max() < 1.5 + 2.5
    assert stats.max_residual < 1e-9


@pytest.mark.parametrize("freq, magnitude_tolerance", [(1000.0, 1e-3), (10000.0, 1e-2)])
def test_oversampling_adds_no_delay_diode_clipper_small_signal_is_the_rc_lowpass(
        freq, magnitude_tolerance):
    # 1 mV: the diodes' conductance is 0.02 % of 1/R, so the device is H = 1 / (1 + s R C);
    # both magnitude and phase must match, i.e. the resampling adds no delay. (The integrator's
    # own high-frequency damping is 0.75 % at 10 kHz.)
    clipper = DiodeClipper(gain=0.0, tone=1.0)
    t = np.arange(SR // 10) / SR
    y = clipper.render(1e-3 * np.sin(2 * np.pi * freq * t)).astype(np.float64)
    window = slice(SR // 40, -SR // 40)
    basis = np.exp(-2j * np.pi * freq * t[window])
    measured = 2 * np.mean(y[window] * basis) / (1e-3 * 2 * np.mean(np.sin(2 * np.pi * freq
                                                                           * t[window]) * basis))
    expected = clipper.OUTPUT_GAIN / (1 + 2j * np.pi * freq * clipper.resistance
                                      * clipper.CAPACITANCE)
    ratio = measured / expected
    assert abs(abs(ratio) - 1) < magnitude_tolerance
    delay_samples = -np.angle(ratio) * SR / (2 * np.pi * freq)
    assert abs(delay_samples) < 0.01


@pytest.mark.parametrize("name", NAMES)
def test_silence_in_gives_exact_silence_out(name):
    for gain in (0.0, 1.0):
        assert not np.any(get_device(name, gain=gain).render(np.zeros(1000)))


@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
def test_antialias_filter_is_flat_then_deep(sample_rate):
    from scipy import signal

    factor = DiodeClipper(sample_rate=sample_rate).oversampling
    h = antialias_filter(sample_rate, factor)
    assert (h.size - 1) % (2 * factor) == 0  # whole-sample delay at both rates
    f, response = signal.freqz(h, worN=16384, fs=sample_rate * factor)
    db = 20 * np.log10(np.abs(response) + 1e-300)
    passband = min(20000.0, 0.42 * sample_rate)  # 18.5 kHz at 44.1 kHz
    assert np.abs(db[f <= passband]).max() < 1e-3
    assert db[f >= sample_rate - passband].max() < -95


def test_cabinet_rig_is_its_circuit_into_the_cabinet_then_the_interface():
    x = 0.3 * np.random.default_rng(0).standard_normal(4800)
    ir = cabinet_ir(SR)
    # A cabinet's look: a sharp first arrival, later peaks nearly as tall (its ringing), gain
    # peaking at 0 dB.
    assert np.argmax(np.abs(ir)) < 0.002 * SR
    assert np.sort(np.abs(ir))[-5] > 0.8 * np.abs(ir).max()
    assert np.abs(np.fft.rfft(ir, 8 * ir.size)).max() == pytest.approx(1.0)
    dry = get_device("overdrive", sample_rate=SR).render(x)
    rig = get_device("overdrive-cab", sample_rate=SR, latency=30, polarity=-1).render(x)
    expected = -np.convolve(dry.astype(np.float64), ir)[: x.size - 30]
    np.testing.assert_allclose(rig[30:], expected, atol=1e-5)
    assert not rig[:30].any()
