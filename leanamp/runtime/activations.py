"""Activation functions for the streaming kernels: exact (libm) and fast rational approximations.

The fast tanh is the [13/6] odd/even rational approximation Eigen uses for float32, clamped to
|x| <= 7.9988 (beyond which tanh rounds to +-1 in float32). It has no branches and no calls, so it
vectorizes, where libm's tanhf/expf are scalar calls. The sigmoid is derived from it,
sigmoid(x) = (1 + tanh(x / 2)) / 2, so one approximation serves all four gates. The scalar
versions here serve numba loops (the WaveNet kernel); the LSTM kernels use the 8-lane version in
`leanamp.runtime.simd` (same coefficients, fused multiply-adds).

`FAST_TANH_MAX_ABS_ERROR` and `FAST_SIGMOID_MAX_ABS_ERROR` are the bounds stated for the fast mode;
`leanamp.runtime.simd.measure_activation_errors` re-measures them against float64 on a dense
float32 grid, and the test suite checks the measured values stay below the stated bounds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Stated bounds of the fast mode (max abs error against float64 tanh / sigmoid over all finite
# float32 inputs). Measured worst case on a 2^24-point grid over [-9, 9]: scalar 4.0e-7 (tanh)
# and 1.9e-7 (sigmoid), vector 2.9e-7 and 1.7e-7 (a few float32 ulps); the bounds leave room for
# compiler re-association.
FAST_TANH_MAX_ABS_ERROR = 2e-6
FAST_SIGMOID_MAX_ABS_ERROR = 1e-6

_CLAMP = np.float32(7.99881172180175781)
_A1 = np.float32(4.89352455891786e-03)
_A3 = np.float32(6.37261928875436e-04)
_A5 = np.float32(1.48572235717979e-05)
_A7 = np.float32(5.12229709037114e-08)
_A9 = np.float32(-8.60467152213735e-11)
_A11 = np.float32(2.00018790482477e-13)
_A13 = np.float32(-2.76076847742355e-16)
_B0 = np.float32(4.89352518554385e-03)
_B2 = np.float32(2.26843463243900e-03)
_B4 = np.float32(1.18534705686654e-04)
_B6 = np.float32(1.19825839466702e-06)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


@njit(cache=True, inline="always")
def fast_tanh(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x2 * _A13 + _A11
    p = p * x2 + _A9
    p = p * x2 + _A7
    p = p * x2 + _A5
    p = p * x2 + _A3
    p = p * x2 + _A1
    p = p * x
    q = x2 * _B6 + _B4
    q = q * x2 + _B2
    q = q * x2 + _B0
    return p / q


@njit(cache=True, inline="always")
def fast_sigmoid(x):
    return _HALF + _HALF * fast_tanh(_HALF * x)


@njit(cache=True, inline="always")
def exact_tanh(x):
    return math.tanh(x)


@njit(cache=True, inline="always")
def exact_sigmoid(x):
    return _ONE / (_ONE + math.exp(-x))


@njit(cache=True)
def _apply_fast(x, tanh_out, sigmoid_out):
    for i in range(x.shape[0]):
        tanh_out[i] = fast_tanh(x[i])
        sigmoid_out[i] = fast_sigmoid(x[i])
