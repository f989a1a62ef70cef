"""Mutual information between two signals by the Gaussian-copula estimator (Ince et al. 2017).

Why this estimator: each variable is replaced by the standard-normal quantile of its rank (its
empirical copula), and the MI of the two resulting Gaussians is -0.5 log(1 - rho^2) with rho
their correlation. That is

- invariant to any strictly monotone transform of either variable, so a saturating unit (tanh,
  sigmoid gate) and its pre-activation score alike, as the true MI does;
- a lower bound on the true MI (exact for Gaussian copulas, e.g. jointly Gaussian variables);
- O(n log n) and stable for the 10^4..10^5 correlated audio samples scored per unit, where the
  Kraskov-Stogbauer-Grassberger kNN estimator costs O(n log n) per query with a large constant
  and is biased by the strong temporal correlation and the many tied values of silent units.

What it misses: non-monotone dependence (y = x^2 with symmetric x has I > 0 but rho = 0). For
ranking units of a network trained to approximate a mostly monotone transfer, a lower bound
that is accurate and cheap is the useful trade. Checked in tests/prune/test_structured_mi.py on
bivariate Gaussians of known correlation and on independent variables.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata


def copula_normalize(x: np.ndarray) -> np.ndarray:
    """Standard-normal scores of the ranks of `x` (1-D); ties share their mean rank."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    ranks = rankdata(x)
    return ndtri(ranks / (len(x) + 1.0))


def gaussian_copula_mi(x: np.ndarray, y: np.ndarray) -> float:
    """I(X; Y) in nats from paired samples of two scalar variables (see the module notes).

    A constant variable carries no information: its MI is 0.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"paired samples needed: {len(x)} x values, {len(y)} y values")
    if len(x) < 3:
        raise ValueError("mutual information needs at least 3 paired samples")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    gx, gy = copula_normalize(x), copula_normalize(y)
    rho = float(np.corrcoef(gx, gy)[0, 1])
    rho = min(abs(rho), 1.0 - 1e-12)
    return -0.5 * float(np.log1p(-rho * rho))
