"""Statistics over seeds for leaderboards and comparisons: 95% intervals and Welch's t-test.

Retraining moves a metric far more than resampling does, so a leaderboard's unit of
replication is the seed. Intervals are Student-t (``mean ± t_{0.975, n-1} s / sqrt(n)``) below
``BOOTSTRAP_FROM`` seeds and percentile-bootstrap (``RESAMPLES`` seeded resamples of the mean)
from there on; differences are tested with Welch's unequal-variance t-test. scipy supplies
the t distribution (``scipy.stats``; already required by scikit-learn), rather than a
hand-written incomplete beta function. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

LEVEL = 0.95
ALPHA = 0.05
BOOTSTRAP_FROM = 10  # seeds from which the interval is a bootstrap one
RESAMPLES = 10_000
TEST_NAME = "Welch's t-test (two-sided, unequal variances)"
NAN = math.nan


def _clean(values: Sequence[float]) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[~np.isnan(a)]


def interval(values: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean over seeds: t below 10 seeds, bootstrap from 10; NaN for 1."""
    a = _clean(values)
    if len(a) < 2:
        return NAN, NAN
    if len(a) >= BOOTSTRAP_FROM:
        return _bootstrap(a, seed)
    from scipy import stats

    half = stats.t.ppf(0.5 + LEVEL / 2, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))
    return float(a.mean() - half), float(a.mean() + half)


def _bootstrap(a: np.ndarray, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = rng.choice(a, size=(RESAMPLES, len(a)), replace=True).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, float]:
    """Mean of ``b`` minus mean of ``a``, its 95% Welch interval and the two-sided p-value;
    NaN where a side has fewer than 2 values."""
    x, y = _clean(a), _clean(b)
    diff = float(y.mean() - x.mean()) if len(x) and len(y) else NAN
    if len(x) < 2 or len(y) < 2:
        return diff, NAN, NAN, NAN
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    if se == 0:
        return diff, diff, diff, 1.0 if diff == 0 else 0.0
    from scipy import stats

    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = stats.t.ppf(0.5 + LEVEL / 2, df) * se
    p = 2 * stats.t.sf(abs(diff) / se, df)
    return diff, diff - half, diff + half, float(p)


def best_and_ties(groups: Sequence[Sequence[float]], higher_is_better: bool) -> list[bool]:
    """Per group: whether it has the best mean or is indistinguishable from it (p >= 0.05).

    A group with fewer than 2 values cannot be tested and is marked only when it is the best.
    """
    means = [float(np.mean(_clean(g))) if len(_clean(g)) else NAN for g in groups]
    valid = [i for i, m in enumerate(means) if not math.isnan(m)]
    if not valid:
        return [False] * len(groups)
    pick = max if higher_is_better else min
    best = pick(valid, key=lambda i: means[i])
    marks = [False] * len(groups)
    for i in valid:
        p = welch(groups[best], groups[i])[3]
        marks[i] = i == best or (not math.isnan(p) and p >= ALPHA)
    return marks
