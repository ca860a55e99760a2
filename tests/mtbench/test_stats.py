"""Intervals over seeds and Welch's test, checked against scipy's own routines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from mtbench import stats


def test_t_interval_below_ten_seeds_matches_scipy():
    x = [3.1, 2.4, 4.0, 3.3]
    lo, hi = stats.interval(x)
    want = sp.t.interval(0.95, 3, loc=np.mean(x), scale=np.std(x, ddof=1) / 2)
    assert (lo, hi) == pytest.approx(want, rel=1e-12)


def test_one_seed_has_no_interval_and_nan_is_ignored():
    assert all(math.isnan(v) for v in stats.interval([1.0]))
    assert stats.interval([1.0, math.nan, 3.0]) == pytest.approx(stats.interval([1.0, 3.0]))


def test_bootstrap_from_ten_seeds_is_seeded_and_near_the_t_interval():
    x = np.random.default_rng(1).normal(5, 1, size=30)
    boot = stats.interval(x)
    assert boot == stats.interval(x)  # seeded
    t = sp.t.interval(0.95, 29, loc=x.mean(), scale=x.std(ddof=1) / math.sqrt(30))
    assert boot != pytest.approx(t, rel=1e-9)  # a different method ...
    assert boot == pytest.approx(t, abs=0.15)  # ... with about the same answer


def test_welch_matches_scipy():
    a, b = [1.0, 1.2, 0.9, 1.1], [1.5, 1.9, 1.4, 2.2, 1.6]
    diff, lo, hi, p = stats.welch(a, b)
    ref = sp.ttest_ind(b, a, equal_var=False)
    assert diff == pytest.approx(np.mean(b) - np.mean(a))
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_best_and_ties():
    groups = [[10.0, 10.5, 9.8], [10.2, 9.9, 10.6], [20.0, 21.0, 19.5], [9.0]]
    # lower is better: group 3 (one seed) has the lowest mean, so it is best and untested;
    # nothing can be tested against a single seed, so no other group is tied with it
    assert stats.best_and_ties(groups, higher_is_better=False) == [False, False, False, True]
    assert stats.best_and_ties(groups[:3], higher_is_better=False) == [True, True, False]
    assert stats.best_and_ties(groups[:3], higher_is_better=True) == [False, False, True]
