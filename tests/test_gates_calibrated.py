"""The calibrated gates against scipy, brute-force enumeration and hand-computed values.

Everything here is pure: no store, no sandbox. The small simulations use fixed seeds and run in
well under two seconds; the full calibration tables are in tests/perf/perf_gates.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from benchstone.gates.policies import GateSettings, decide, decide_paired
from benchstone.stats import exact
from benchstone.stats.basic import benjamini_hochberg, directed_sigma, rank_z
from benchstone.stats.calibrated import orient, rank_tests, welch_interval, welch_tests

BASELINE = [10.2, 9.8, 10.1, 10.4, 9.9]
FASTER = [9.5, 9.7, 9.4, 9.85, 9.6, 9.3]


def _alternative(direction: str) -> str:
    return "less" if direction == "minimize" else "greater"


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("log_scale", [False, True])
def test_welch_p_value_is_scipys(direction: str, log_scale: bool) -> None:
    s = GateSettings("welch", direction, alpha=0.05, log_scale=log_scale)
    b, c = (np.log(x) if log_scale else np.asarray(x) for x in (BASELINE, FASTER))
    expected = stats.ttest_ind(c, b, equal_var=False, alternative=_alternative(direction))
    decision = decide(BASELINE, FASTER, s)
    assert decision.p_value == pytest.approx(expected.pvalue, rel=1e-10)
    assert decision.kind == ("PROMOTE" if direction == "minimize" else "REJECT")
    assert decision.policy == "welch" and decision.threshold == 0.05


def test_welch_effect_and_interval_by_hand() -> None:
    decision = decide(BASELINE, FASTER, GateSettings("welch", "minimize", alpha=0.05))
    mean_b, mean_c = sum(BASELINE) / 5, sum(FASTER) / 6
    assert decision.effect == pytest.approx((mean_b - mean_c) / mean_b)
    var_b = np.var(BASELINE, ddof=1) / 5
    var_c = np.var(FASTER, ddof=1) / 6
    df = (var_b + var_c) ** 2 / (var_b**2 / 4 + var_c**2 / 5)
    half = stats.t.isf(0.05, df) * math.sqrt(var_b + var_c)
    low, high = decision.effect_ci
    assert low == pytest.approx((mean_b - mean_c - half) / mean_b)
    assert high == pytest.approx((mean_b - mean_c + half) / mean_b)
    assert "90% CI" in decision.reason  # two-sided 1 - 2 alpha: the one-sided bound of the test


def test_welch_constant_samples_use_the_permutation_p_value() -> None:
    s = GateSettings("welch", "minimize", alpha=0.01)
    better = decide([5.0] * 5, [4.0] * 5, s)
    assert better.p_value == pytest.approx(1 / math.comb(10, 5))  # 1/252 < 0.01
    assert better.kind == "PROMOTE"
    too_few = decide([5.0] * 3, [4.0] * 3, s)
    assert too_few.p_value == pytest.approx(1 / 20) and too_few.kind == "REJECT"
    same = decide([5.0] * 5, [5.0] * 5, s)
    assert same.p_value == 1.0 and same.kind == "REJECT"
    worse = decide([5.0] * 5, [6.0] * 5, s)
    assert worse.p_value == 1.0 and worse.kind == "REJECT"


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # scipy's, about the constant side
def test_welch_one_constant_side_is_an_ordinary_t_test() -> None:
    decision = decide([5.0, 5.0, 5.0], [4.0, 4.2, 3.9], GateSettings("welch", "minimize"))
    expected = stats.ttest_ind([4.0, 4.2, 3.9], [5.0, 5.0, 5.0], equal_var=False,
                               alternative="less")
    assert decision.p_value == pytest.approx(expected.pvalue)


def test_significant_but_below_min_effect_is_rejected() -> None:
    baseline = [100.0, 100.1, 99.9, 100.0, 100.05, 99.95]
    candidate = [99.0, 99.1, 98.9, 99.0, 99.05, 98.95]  # 1 % better, very clearly
    plain = decide(baseline, candidate, GateSettings("welch", "minimize"))
    assert plain.kind == "PROMOTE"
    strict = decide(baseline, candidate, GateSettings("welch", "minimize", min_effect=0.02))
    assert strict.kind == "REJECT" and strict.p_value < 1e-6
    assert "not above min_effect 2.00%" in strict.reason


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_rank_p_value_is_scipys_exact_one(direction: str) -> None:
    decision = decide(BASELINE, FASTER, GateSettings("rank", direction, alpha=0.05))
    expected = stats.mannwhitneyu(FASTER, BASELINE, alternative=_alternative(direction),
                                  method="exact")
    assert decision.p_value == pytest.approx(expected.pvalue, rel=1e-12)


def _brute_force_rank_p(baseline: list[float], candidate: list[float]) -> float:
    """P(mid-rank sum >= observed) over every relabelling, counted one by one."""
    pooled = baseline + candidate
    ranks = exact.midranks(pooled)
    observed = sum(ranks[len(baseline):])
    sums = [sum(ranks[i] for i in chosen)
            for chosen in itertools.combinations(range(len(pooled)), len(candidate))]
    return sum(1 for total in sums if total >= observed - 1e-9) / len(sums)


def test_rank_with_ties_is_the_exact_conditional_distribution() -> None:
    baseline, candidate = [1.0, 2.0, 2.0, 3.0, 3.0], [3.0, 3.0, 4.0, 4.0, 2.0]
    decision = decide(baseline, candidate, GateSettings("rank", "maximize", alpha=0.05))
    assert decision.p_value == pytest.approx(_brute_force_rank_p(baseline, candidate))
    assert decision.p_value == pytest.approx(20 / 210)  # counted by hand from the 252 splits


def test_rank_cannot_promote_when_the_smallest_p_is_above_alpha() -> None:
    decision = decide([3.0, 3.1, 3.2], [1.0, 1.1, 1.2], GateSettings("rank", "minimize"))
    assert decision.kind == "NEEDS_MORE_DATA"
    assert "smallest possible p-value is 0.05" in decision.reason
    enough = decide([3.0, 3.1, 3.2, 3.3], [1.0, 1.1, 1.2, 1.3, 1.4],
                    GateSettings("rank", "minimize"))
    assert enough.p_value == pytest.approx(1 / 126) and enough.kind == "PROMOTE"


def test_rank_hodges_lehmann_shift_and_interval() -> None:
    baseline, candidate = [10.0, 11.0, 12.0, 13.0, 14.0], [8.0, 9.0, 10.0, 11.0, 12.0]
    decision = decide(baseline, candidate, GateSettings("rank", "minimize", alpha=0.05))
    # every pairwise difference is b - c in {-2, ..., 6}: median 2, relative to median 12
    assert decision.effect == pytest.approx(2 / 12)
    # exact P(U >= 21) <= 0.05 for 5 v 5 without ties: 21 of 25 pairs, bounds at the 5th
    critical = exact.mann_whitney_critical(5, 5, 0.05)
    assert critical == 21
    differences = sorted(b - c for b in baseline for c in candidate)
    low, high = decision.effect_ci
    assert low == pytest.approx(differences[25 - critical] / 12)
    assert high == pytest.approx(differences[critical - 1] / 12)


def test_exact_distributions_count_every_case() -> None:
    assert sum(exact.mann_whitney_counts(4, 6)) == math.comb(10, 4)
    assert sum(exact.signed_rank_counts(9)) == pytest.approx(1.0)
    tail = exact.mann_whitney_upper_tail(3, 3)
    assert tail[9] == pytest.approx(1 / 20) and tail[0] == pytest.approx(1.0)


def test_paired_t_is_scipys_on_log_ratios() -> None:
    b = [10.0, 12.0, 9.0, 11.0, 10.5, 9.5, 12.5]
    c = [9.6, 11.4, 8.8, 10.4, 10.1, 9.0, 12.1]
    decision = decide_paired(b, c, GateSettings("welch", "minimize", alpha=0.05))
    expected = stats.ttest_1samp(np.log(c) - np.log(b), 0, alternative="less")
    assert decision.policy == "paired_t"
    assert decision.p_value == pytest.approx(expected.pvalue, rel=1e-10)
    ratio = math.exp(np.mean(np.log(c) - np.log(b)))
    assert decision.effect == pytest.approx(1 - ratio)


def test_signed_rank_is_scipys_and_exact_with_ties() -> None:
    b = [10.0, 12.0, 9.0, 11.0, 10.5, 9.5, 12.5, 11.5]
    c = [9.6, 11.4, 8.8, 10.4, 10.1, 9.0, 12.7, 11.1]
    decision = decide_paired(b, c, GateSettings("rank", "minimize", alpha=0.05))
    expected = stats.wilcoxon(np.log(c) - np.log(b), alternative="less", method="exact")
    assert decision.policy == "signed_rank"
    assert decision.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    differences = [1.0, 1.0, 2.0, -1.0, 3.0, 0.0, 2.0, 2.0]
    w, p, used = exact.signed_rank_tail(differences)
    nonzero = [d for d in differences if d]
    ranks = exact.midranks([abs(d) for d in nonzero])
    flips = [sum(r for r, positive in zip(ranks, signs, strict=True) if positive)
             for signs in itertools.product([True, False], repeat=len(nonzero))]
    assert used == 7 and w == 26.0  # |d| mid-ranks 2, 2, 5, 2, 7, 5, 5; positive: 26
    assert p == pytest.approx(sum(1 for f in flips if f >= w) / len(flips))


def test_paired_constant_ratios_use_the_sign_flip_p_value() -> None:
    b = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98, 1.01]
    c = [0.9 * x for x in b]  # a deterministic 10 % improvement
    decision = decide_paired(b, c, GateSettings("welch", "minimize", alpha=0.01))
    assert decision.p_value == pytest.approx(0.5**9) and decision.kind == "PROMOTE"
    assert decision.effect == pytest.approx(0.1)


def test_signed_rank_needs_enough_pairs() -> None:
    decision = decide_paired([1.0] * 6, [0.9] * 6, GateSettings("rank", "minimize"))
    assert decision.kind == "NEEDS_MORE_DATA" and "0.0156" in decision.reason


def test_benjamini_hochberg_by_hand() -> None:
    # m = 5, q = 0.05: thresholds 0.01 0.02 0.03 0.04 0.05; the largest k with p_(k) <= kq/m
    # is k = 3 (0.029 <= 0.03), so the three smallest are rejected although 0.012 > 0.01
    p = [0.029, 0.2, 0.012, 0.041 + 0.01, 0.009]
    assert benjamini_hochberg(p, 0.05) == [True, False, True, False, True]
    assert benjamini_hochberg([0.5, 0.6], 0.05) == [False, False]
    assert benjamini_hochberg([], 0.05) == []


def test_the_seed_gates_are_unchanged() -> None:
    b, c = [1.0, 1.1, 0.9], [0.8, 0.85, 0.75]
    sigma = decide(b, c, GateSettings("sigma", "minimize", promotion_sigma=2.0))
    assert sigma.statistic == pytest.approx(directed_sigma(b, c, "minimize"))
    se = math.sqrt(0.01 / 3 + 0.0025 / 3)
    assert sigma.statistic == pytest.approx(0.2 / se) and sigma.kind == "PROMOTE"
    mw = decide([1.0] * 5, [0.5] * 5, GateSettings("mann_whitney", "minimize",
                                                   rank_threshold=2.0))
    assert mw.statistic == pytest.approx(rank_z([1.0] * 5, [0.5] * 5, "minimize"))
    assert decide(b, c, GateSettings("mann_whitney", "minimize")).kind == "NEEDS_MORE_DATA"


def test_calibration_holds_in_a_small_simulation() -> None:
    """20,000 unchanged programs with 3 % log-normal noise: the false-promote rate of each test
    stays within Monte Carlo error of its level (the full table is in tests/perf)."""
    rng = np.random.default_rng(2024)
    sigma = math.sqrt(math.log1p(0.03**2))
    trials, alpha = 20_000, 0.05
    for n in (3, 5):
        b = orient(np.exp(rng.normal(0, sigma, (trials, n))), "minimize", False)
        c = orient(np.exp(rng.normal(0, sigma, (trials, n))), "minimize", False)
        limit = alpha + 3 * math.sqrt(alpha * (1 - alpha) / trials)
        assert (welch_tests(b, c)[3] <= alpha).mean() <= limit
        assert (rank_tests(b, c)[1] <= alpha).mean() <= limit


@pytest.mark.parametrize(("df", "level"), [(1.5, 0.005), (7.0, 0.0125), (30.0, 0.05)])
def test_welch_interval_is_the_t_interval(df: float, level: float) -> None:
    # computed with scipy.special (quick to import); scipy.stats is the reference
    low, high = welch_interval(0.2, 0.1, df, level)
    expected = stats.t.interval(1 - 2 * level, df, loc=0.2, scale=0.1)
    assert (low, high) == pytest.approx(expected, rel=1e-12)
