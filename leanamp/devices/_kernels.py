"""Per-sample numba kernels for the virtual circuits and the plucked-string synthesiser.

Every nonlinear equation solved here is scalar and strictly increasing in its unknown, so a
safeguarded Newton iteration (Newton steps kept inside a shrinking bracket, bisection when a step
leaves it) always converges; the bracket is derived so that exp() never overflows. Residuals are
expressed in volts so one tolerance fits all kernels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NEWTON_TOLERANCE = 1e-10  # volts: stop when |residual| (a voltage error bound) is below this
NEWTON_MAX_ITERATIONS = 60  # bisection alone halves a <= 100 V bracket below 1e-10 V in ~40 steps


@njit(cache=True, inline="always")
def _safeguarded_newton_step(x, residual, slope, lo, hi, step_before_last, last_step):
    """One step towards the root of an increasing function with value `residual` and derivative
    `slope` at x, inside the bracket [lo, hi]. Returns (x_new, lo, hi, step_before_last,
    last_step), the bracket shrunk to the side of x that holds the root and the step history
    moved on by one.

    Bisects when Newton leaves the bracket (its ends may be the root, hence <=) or crawls (down
    the steep side of exp it moves only ~nVt per step): the step must at least halve relative to
    the one before last, as in Numerical Recipes' rtsafe.
    """
    if residual > 0.0:
        hi = x
    else:
        lo = x
    x_new = x - residual / slope
    if not (lo <= x_new <= hi) or 2.0 * abs(residual) > abs(step_before_last * slope):
        x_new = 0.5 * (lo + hi)
    return x_new, lo, hi, last_step, x_new - x


@njit(cache=True)
def _solve_diode_equation(a, b, p, guess, emission_voltage):
    """Root of g(v) = a v + b sinh(v / nVt) - p, a >= 1, b > 0 (strictly increasing).

    Returns (v, g(v), iterations, sinh(v / nVt)).
    """
    # The root has the sign of p and |root| <= |p| / a, because both terms of g share v's sign;
    # |root| <= nVt asinh(|p| / b) likewise. Once the diodes conduct the second bound is close
    # to the root (and it keeps exp finite for huge inputs), so Newton starts near it.
    bound = abs(p) / a
    if bound > 4.0 * emission_voltage:
        bound = min(bound, emission_voltage * math.asinh(abs(p) / b))
    if p >= 0.0:
        lo, hi = 0.0, bound
    else:
        lo, hi = -bound, 0.0
    x = min(max(guess, lo), hi)
    iterations = 0
    step_before_last = hi - lo
    last_step = step_before_last
    while True:
        iterations += 1
        e = math.exp(x / emission_voltage)
        inv_e = 1.0 / e
        diode_sinh = 0.5 * (e - inv_e)
        residual = a * x + b * diode_sinh - p
        # a >= 1 and g is increasing, so |residual| bounds the voltage error of x.
        if abs(residual) < NEWTON_TOLERANCE or iterations >= NEWTON_MAX_ITERATIONS:
            break
        slope = a + b * 0.5 * (e + inv_e) / emission_voltage
        x_new, lo, hi, step_before_last, last_step = _safeguarded_newton_step(
            x, residual, slope, lo, hi, step_before_last, last_step
        )
        if x_new == x:  # bracket collapsed to adjacent floats: as exact as float64 allows
            break
        x = x_new
    return x, residual, iterations, diode_sinh


TRBDF2_GAMMA = 2.0 - math.sqrt(2.0)


@njit(cache=True)
def diode_pair_rc(current, conductance, capacitance, saturation_current, emission_voltage,
                  step):
    """Node voltage v of a capacitor, a conductance and antiparallel diodes fed by a current.

    Solves C dv/dt = j(t) - G v - 2 Is sinh(v / (n Vt)) =: C f(v, t) from rest (v = 0) with
    TR-BDF2: a trapezoidal step to t + gamma h, then a BDF2 step to t + h (gamma = 2 - sqrt 2).
    Plain trapezoidal integration is not L-stable: when the diodes conduct hard (h G_d / C in
    the hundreds) it rings at Nyquist, badly on steep inputs (a full-drive square wave gave
    21 V on a node the diodes hold below 0.8 V); TR-BDF2 damps that, is second-order, and was
    also about twice as accurate as trapezoidal against a tight-tolerance reference. j between
    samples is interpolated linearly. Each stage solves a v + b sinh(v / nVt) = p by Newton.
    Returns (v, largest |residual| in volts, largest iteration count of one stage).
    """
    n = current.shape[0]
    v_out = np.empty(n)
    g = TRBDF2_GAMMA
    two_is = 2.0 * saturation_current
    # Trapezoidal stage over gamma h.
    a1 = 1.0 + g * step * conductance / (2.0 * capacitance)
    b1 = g * step * saturation_current / capacitance
    # BDF2 stage: v1 = c_gamma v_gamma - c_0 v0 + w f(v1).
    w = (1.0 - g) / (2.0 - g) * step
    a2 = 1.0 + w * conductance / capacitance
    b2 = w * two_is / capacitance
    c_gamma = 1.0 / (g * (2.0 - g))
    c_0 = (1.0 - g) ** 2 / (g * (2.0 - g))
    v = 0.0
    f = 0.0  # dv/dt at rest
    j_prev = 0.0
    max_residual = 0.0
    max_iterations = 0
    for i in range(n):
        j = current[i]
        j_mid = j_prev + g * (j - j_prev)
        p1 = v + 0.5 * g * step * f + g * step * j_mid / (2.0 * capacitance)
        # Newton starts from the explicit Euler prediction, usually within a few mV.
        v_mid, r1, it1, _ = _solve_diode_equation(a1, b1, p1, v + g * step * f,
                                                  emission_voltage)
        p2 = c_gamma * v_mid - c_0 * v + w * j / capacitance
        v_new, r2, it2, diode_sinh = _solve_diode_equation(
            a2, b2, p2, v_mid + (1.0 - g) / g * (v_mid - v), emission_voltage)
        residual = max(abs(r1), abs(r2))
        if residual > max_residual:
            max_residual = residual
        if max(it1, it2) > max_iterations:
            max_iterations = max(it1, it2)
        v = v_new
        f = (j - conductance * v - two_is * diode_sinh) / capacitance
        j_prev = j
        v_out[i] = v
    return v_out, max_residual, max_iterations


@njit(cache=True)
def series_rc_current_trapezoidal(voltage, resistance, capacitance, step):
    """Current through a series R-C branch driven by `voltage` (trapezoidal rule, from rest).

    The Tube Screamer's gain leg (4.7 kOhm + 47 nF to ground) and an input coupling capacitor
    are such branches; a linear recursion solved exactly per step.
    """
    n = voltage.shape[0]
    i_out = np.empty(n)
    k = step / (2.0 * capacitance)
    v_cap = 0.0
    i_prev = 0.0
    for idx in range(n):
        i_now = (voltage[idx] - v_cap - k * i_prev) / (resistance + k)
        v_cap += k * (i_now + i_prev)
        i_prev = i_now
        i_out[idx] = i_now
    return i_out


@njit(cache=True)
def _grid_current(v_gk, perveance, exponent, knee):
    # Child-law grid current, smoothed at the onset with a softplus of width `knee` volts.
    z = v_gk / knee
    if z < -40.0:
        return 0.0, 0.0  # below ~1e-20 A: the grid is not conducting
    if z > 40.0:
        sp = v_gk
        sig = 1.0
    else:
        ez = math.exp(z)
        sp = knee * math.log1p(ez)
        sig = ez / (1.0 + ez)
    power = sp ** (exponent - 1.0)
    return perveance * power * sp, perveance * exponent * power * sig


@njit(cache=True)
def triode_stage(source, source_resistance, coupling_capacitance, grid_leak, cathode_voltage,
                 grid_perveance, grid_exponent, grid_knee, table_vgk0, table_step, plate_table,
                 step):
    """Common-cathode triode fed through a coupling capacitor, with grid conduction.

    source -> Rs -> Cc -> grid; grid leak Rg to ground; grid-to-cathode conduction
    Ig(Vg - Vk) (Child law). When the grid conducts, Cc charges and shifts the bias negative
    (blocking), recovering with time constant ~ (Rs + Rg) Cc: the stage's memory. Cc is
    integrated with the trapezoidal rule; each step solves the grid node's KCL for Vg,
        g(Vg) = Vg - Vlin + Ig(Vg - Vk) / (1/Req + 1/Rg) = 0  (volts, increasing),
    then reads the plate voltage from a precomputed load-line table Vp(Vgk) (linear
    interpolation; the plate circuit is memoryless given Vgk). Returns (plate voltage, grid
    voltage, largest |g| in volts, largest iteration count).
    """
    n = source.shape[0]
    plate = np.empty(n)
    grid = np.empty(n)
    k = step / (2.0 * coupling_capacitance)
    r_eq = source_resistance + k
    g_total = 1.0 / r_eq + 1.0 / grid_leak
    last_index = plate_table.shape[0] - 1
    inverse_exponent = 1.0 / grid_exponent
    v_cap = 0.0
    i_prev = 0.0
    vg = 0.0
    max_residual = 0.0
    max_iterations = 0
    for idx in range(n):
        e = source[idx] - v_cap - k * i_prev
        vg_linear = e / (r_eq * g_total)  # the root without grid current; Ig >= 0 keeps it below
        hi = vg_linear
        if vg_linear > cathode_voltage:
            # Ig(Vg - Vk) = g_total (Vlin - Vg) <= g_total (Vlin - Vk), and the Child law with
            # softplus >= its argument gives Vg - Vk <= (that current / perveance)^(1/exponent).
            hi = min(hi, cathode_voltage + (g_total * (vg_linear - cathode_voltage)
                                            / grid_perveance) ** inverse_exponent)
        lo = min(vg_linear, cathode_voltage) - 1.0  # Ig(lo - Vk) is negligible: g(lo) < 0
        x = min(max(vg, lo), hi)
        if hi - cathode_voltage < -40.0 * grid_knee:
            x = hi  # no grid current anywhere in the bracket: the linear solution is exact
        iterations = 0
        residual = 0.0
        step_before_last = hi - lo
        last_step = step_before_last
        while True:
            iterations += 1
            ig, dig = _grid_current(x - cathode_voltage, grid_perveance, grid_exponent, grid_knee)
            residual = x - vg_linear + ig / g_total
            if abs(residual) < NEWTON_TOLERANCE or iterations >= NEWTON_MAX_ITERATIONS:
                break
            slope = 1.0 + dig / g_total
            x_new, lo, hi, step_before_last, last_step = _safeguarded_newton_step(
                x, residual, slope, lo, hi, step_before_last, last_step
            )
            if x_new == x:
                break
            x = x_new
        if abs(residual) > max_residual:
            max_residual = abs(residual)
        if iterations > max_iterations:
            max_iterations = iterations
        vg = x
        i_now = (e - vg) / r_eq
        v_cap += k * (i_now + i_prev)
        i_prev = i_now
        grid[idx] = vg
        # Plate voltage on the load line; beyond the table the curve is flat (cutoff and
        # saturation are reached well inside it).
        position = (vg - cathode_voltage - table_vgk0) / table_step
        if position <= 0.0:
            plate[idx] = plate_table[0]
        elif position >= last_index:
            plate[idx] = plate_table[last_index]
        else:
            j = int(position)
            frac = position - j
            plate[idx] = plate_table[j] + frac * (plate_table[j + 1] - plate_table[j])
    return plate, grid, max_residual, max_iterations


@njit(cache=True)
def karplus_strong(excitation, length, delay_samples, allpass_coefficient, loop_gain):
    """Plucked string: a delay loop with a two-point averager and a first-order allpass.

    Loop delay = delay_samples + 0.5 (averager) + allpass phase delay, which tunes the pitch to
    a fractional number of samples. `excitation` is added at the loop input.
    """
    y = np.zeros(length)
    n_exc = excitation.shape[0]
    avg_prev = 0.0
    ap_prev = 0.0
    for n in range(length):
        a = y[n - delay_samples] if n >= delay_samples else 0.0
        b = y[n - delay_samples - 1] if n >= delay_samples + 1 else 0.0
        avg = 0.5 * (a + b)
        ap = allpass_coefficient * avg + avg_prev - allpass_coefficient * ap_prev
        avg_prev = avg
        ap_prev = ap
        y[n] = loop_gain * ap + (excitation[n] if n < n_exc else 0.0)
    return y
