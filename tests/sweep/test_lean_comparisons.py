"""benchmarks/lean/comparisons.py: the interval, Welch's t-test on log ESR, and lean against dense
with the pedal as a block, checked against scipy's tests and by hand."""

import numpy as np
import pytest
from lean_scripts import lean_script
from scipy import stats

comparisons = lean_script("comparisons")


def test_on_one_pedal_the_blocked_ratio_is_students_t_test_on_log_esr():
    lean, dense = [0.004, 0.009, 0.006], [0.010, 0.030, 0.012, 0.020]
    fit = comparisons.blocked_log_ratio({"pedal": (lean, dense)})
    student = stats.ttest_ind(np.log(lean), np.log(dense), equal_var=True)
    assert fit["p"] == pytest.approx(student.pvalue)
    geometric = stats.gmean(lean) / stats.gmean(dense)
    assert fit["ratio"] == pytest.approx(geometric)
    assert fit["low"] < geometric < fit["high"] and fit["dof"] == 5


def test_pedals_at_different_levels_share_one_lean_effect():
    scatter = [1.0, 1.3, 0.8]  # the same seed scatter on every pedal, a 100x gap between pedals
    pedals = {"a": ([0.001 * 0.5 * s for s in scatter], [0.001 * s for s in scatter]),
              "b": ([0.1 * 0.5 * s for s in scatter], [0.1 * s for s in scatter])}
    fit = comparisons.blocked_log_ratio(pedals)
    assert fit["ratio"] == pytest.approx(0.5) and fit["high"] < 1 and fit["p"] < 0.01
    # pooled without the block, the pedals' gap would swamp the effect
    mixed = stats.ttest_ind(np.log([e for v in pedals.values() for e in v[0]]),
                            np.log([e for v in pedals.values() for e in v[1]]))
    assert mixed.pvalue > 0.5


def test_the_closed_form_blocked_effect_is_the_least_squares_one():
    pedals = {"a": ([0.004, 0.009], [0.010, 0.030, 0.012]), "b": ([0.2, 0.1, 0.3], [0.5])}
    fit = comparisons.blocked_log_ratio(pedals)
    closed = comparisons.blocked_effect([(np.log(a), np.log(b)) for a, b in pedals.values()])
    assert np.exp(closed) == pytest.approx(fit["ratio"])


def test_the_permutation_p_counts_relabellings_within_pedals():
    # 3 against 3 on each of two pedals, lean always lower: of the 20 x 20 relabellings only the
    # observed one and its mirror image are as extreme
    pedals = {"a": ([1.0, 1.1, 1.2], [2.0, 2.1, 2.2]),
              "b": ([10.0, 11.0, 12.0], [20.0, 21.0, 22.0])}
    assert comparisons.blocked_permutation_p(pedals) == pytest.approx(2 / 400)
    assert comparisons.blocked_permutation_p(pedals, samples=100) < 0.05  # drawn at random
    same = {"a": ([1.0, 2.0], [1.0, 2.0])}
    assert comparisons.blocked_permutation_p(same) == 1.0


def test_a_small_p_is_written_with_its_order_of_magnitude():
    assert comparisons.welch_log_p([0.0230, 0.0240], [0.0059, 0.0072, 0.0054]) == "3e-03"
    assert comparisons.welch_log_p([0.004, 0.009, 0.006], [0.010, 0.030, 0.012]) == "0.09"
    assert comparisons.welch_log_p([0.01], [0.02, 0.03]) == "-"
