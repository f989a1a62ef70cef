"""Settling time of a model (Südholt et al. 2022, Fig. 7): how long its output takes to return to
steady state after an impulse.

The model first runs on silence until its own start-up transient from the zero state has died
out; then one impulse, then silence again. The deviation from the steady output is measured on
the model's learned part only (the residual path passes the impulse straight through, which
would dominate the peak). The settling time is the time from the impulse sample until the deviation
falls below `threshold_db` relative to its peak and stays there (0 for a model without memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from leanamp.errors import LeanampError
from leanamp.inference import run_model


@dataclass
class ImpulseResponse:
    deviation: np.ndarray  # |y - y_steady| from the impulse on, (samples,)
    sample_rate: float
    settling_samples: int | None  # None: still not settled at the end of the window
    threshold_db: float

    @property
    def settling_seconds(self) -> float:
        if self.settling_samples is None:
            return float("inf")
        return self.settling_samples / self.sample_rate


def impulse_response(
    model: nn.Module,
    sample_rate: float,
    amplitude: float = 0.5,
    warmup_seconds: float = 0.5,
    window_seconds: float = 0.5,
    threshold_db: float = -60.0,
) -> ImpulseResponse:
    """The model's deviation from steady state after an impulse, and its settling time."""
    if sample_rate <= 0 or warmup_seconds <= 0 or window_seconds <= 0:
        raise LeanampError("sample rate, warm-up and window must be positive")
    input_size = int(getattr(model, "config", {}).get("input_size", 1))
    warmup = int(round(warmup_seconds * sample_rate))
    window = int(round(window_seconds * sample_rate))
    x = np.zeros((warmup + window, input_size), dtype=np.float32)
    x[warmup, 0] = amplitude
    y = run_model(model, x).astype(np.float64)
    if getattr(model, "residual", False):
        y = y - x[:, 0]
    steady = y[warmup - 1]
    deviation = np.abs(y[warmup:] - steady)
    peak = float(deviation.max())
    if not np.isfinite(peak):
        raise LeanampError("the model's impulse response is not finite")
    if peak == 0.0:
        return ImpulseResponse(deviation, sample_rate, 0, threshold_db)
    # Samples after the impulse sample until the deviation stays below the threshold: 0 for a
    # model without memory.
    last = int(np.flatnonzero(deviation > peak * 10 ** (threshold_db / 20))[-1])
    settled = None if last >= window - 1 else last
    return ImpulseResponse(deviation, sample_rate, settled, threshold_db)


def settling_time(model: nn.Module, sample_rate: float, **options) -> float:
    """Seconds from an impulse until the output stays within `threshold_db` of steady state."""
    return impulse_response(model, sample_rate, **options).settling_seconds
