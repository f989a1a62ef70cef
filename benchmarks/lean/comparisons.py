"""How the tables compare sets of seeds: the mean with its 95% interval, Welch's t-test on log
ESR, and lean against dense pooled over pedals with the pedal as a block (least squares, and a
permutation test that assumes nothing of how log ESR scatters).

Intervals: mean over seeds +- t(0.975, n-1) * sd / sqrt(n) (Student's t), shown only with 2 or
more seeds.
"""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
from scipy import stats


def interval(values: list[float]) -> tuple[float, float | None]:
    """(mean, half-width of the 95% t-interval; None for a single value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, half


def welch_log_p(a: list[float], b: list[float]) -> str:
    """Welch's t-test of two sets of ESRs on log ESR (ESR spreads over decades across seeds, so
    its logarithm is the scale on which seeds scatter evenly); "-" below 2 values a side."""
    if len(a) < 2 or len(b) < 2:
        return "-"
    p = stats.ttest_ind(np.log(a), np.log(b), equal_var=False).pvalue
    return f"{p:.2f}" if p >= 0.01 else f"{p:.0e}"  # "0.00" would read as no chance at all


def fmt_interval(values: list[float]) -> str:
    mean, half = interval(values)
    return f"{mean:.4f}" if half is None else f"{mean:.4f} ± {half:.4f}"


def blocked_log_ratio(pedals: dict[str, tuple[list[float], list[float]]]) -> dict | None:
    """Lean against dense over several pedals, pedal as a block: least squares on
        log ESR = pedal's own level + b * [lean model]
    with one residual variance (Student's t, n - pedals - 1 degrees of freedom). exp(b) is the
    lean / dense ratio of geometric means within a pedal, with its 95% interval; on one pedal
    this is Student's two-sample t-test. `pedals`: name -> (lean ESRs, dense ESRs). None when
    no degree of freedom is left."""
    names = sorted(pedals)
    y, design = [], []
    for i, name in enumerate(names):
        for is_lean, esrs in ((1.0, pedals[name][0]), (0.0, pedals[name][1])):
            for esr in esrs:
                y.append(math.log(esr))
                design.append([1.0 if j == i else 0.0 for j in range(len(names))] + [is_lean])
    x, y = np.array(design), np.array(y)
    dof = len(y) - x.shape[1]
    if dof < 1:
        return None
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual_variance = float(np.sum((y - x @ coef) ** 2)) / dof
    se = math.sqrt(residual_variance * np.linalg.inv(x.T @ x)[-1, -1])
    b, t_crit = float(coef[-1]), float(stats.t.ppf(0.975, dof))
    if se == 0:  # every group without scatter: only a made-up grid
        p = 1.0 if b == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(b) / se, dof))
    return {"ratio": math.exp(b), "low": math.exp(b - t_crit * se),
            "high": math.exp(b + t_crit * se), "p": p, "dof": dof}


def blocked_effect(pedals: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """`blocked_log_ratio`'s b in closed form: the pedals' differences of mean log ESR (lean
    minus dense), weighted by n_lean * n_dense / n (least squares with a level per pedal)."""
    weights = [len(a) * len(b) / (len(a) + len(b)) for a, b in pedals]
    diffs = [a.mean() - b.mean() for a, b in pedals]
    return float(np.dot(weights, diffs) / sum(weights))


def blocked_permutation_p(pedals: dict[str, tuple[list[float], list[float]]],
                          samples: int = 20000) -> float:
    """Two-sided p of `blocked_effect` when the lean/dense labels are shuffled within each pedal
    (no assumption on how log ESR scatters: the seeds' two basins make it far from normal).
    Every relabelling when there are at most `samples`, else that many drawn at random."""
    logs = [np.log(np.array([*lean, *dense])) for lean, dense in pedals.values()]
    sizes = [len(lean) for lean, _ in pedals.values()]
    observed = abs(blocked_effect([(v[:n], v[n:]) for v, n in zip(logs, sizes, strict=True)]))
    choices = [list(itertools.combinations(range(len(values)), n))
               for values, n in zip(logs, sizes, strict=True)]  # fmt: skip
    total = math.prod(len(c) for c in choices)
    if total <= samples:
        labellings = itertools.product(*choices)
    else:
        rng = np.random.default_rng(0)
        labellings = ([c[rng.integers(len(c))] for c in choices] for _ in range(samples))
    hits = count = 0
    for labelling in labellings:
        split = []
        for values, lean in zip(logs, labelling, strict=True):
            mask = np.zeros(len(values), bool)
            mask[list(lean)] = True
            split.append((values[mask], values[~mask]))
        hits += abs(blocked_effect(split)) >= observed - 1e-12
        count += 1
    return hits / count
