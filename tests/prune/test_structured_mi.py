import math

import numpy as np
import pytest

from leanamp.prune.mutual_information import gaussian_copula_mi


@pytest.mark.parametrize("rho", [0.3, 0.8, 0.95, -0.6])
def test_bivariate_gaussian_matches_the_closed_form(rho):
    rng = np.random.default_rng(0)
    n = 20_000
    x = rng.standard_normal(n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    expected = -0.5 * math.log(1 - rho**2)
    assert gaussian_copula_mi(x, y) == pytest.approx(expected, abs=0.02, rel=0.03)


def test_independent_variables_give_about_zero():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(20_000), rng.uniform(size=20_000)
    assert 0.0 <= gaussian_copula_mi(x, y) < 1e-3


def test_invariant_to_monotone_transforms():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(5000)
    y = 0.7 * x + 0.7 * rng.standard_normal(5000)
    base = gaussian_copula_mi(x, y)
    assert gaussian_copula_mi(np.exp(x), np.tanh(3 * y)) == pytest.approx(base, abs=1e-12)


def test_constant_variable_carries_no_information():
    assert gaussian_copula_mi(np.zeros(100), np.arange(100.0)) == 0.0


def test_unpaired_samples_raise():
    with pytest.raises(ValueError, match="paired"):
        gaussian_copula_mi(np.zeros(10), np.zeros(11))
