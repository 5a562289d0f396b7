"""The sequential procedure: boundaries, looks, decisions and their error rate.

Pure functions only. The simulations use fixed seeds and few streams; the full figures
(200,000 trials, an agent re-running up to 20 times) are in tests/perf/perf_gates.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from benchstone.gates.policies import GateSettings
from benchstone.gates.sequential import decide_paired_sequential, decide_sequential
from benchstone.stats import sequential as sq
from benchstone.stats.calibrated import orient, to_relative, welch_tests
from benchstone.stats.looks import look_p_values, reverse_p_values

SIGMA = math.sqrt(math.log1p(0.03**2))


def test_boundaries_are_reproducible_and_spend_at_most_alpha() -> None:
    design = sq.Design("welch", 12, 0.01, 5)
    first = sq.boundaries(design)
    sq.boundaries.cache_clear()
    assert sq.boundaries(design) == first
    assert first[0] == -1.0  # no test on one value
    assert all(b < 0.01 for b in first)
    looser = sq.boundaries(sq.Design("welch", 12, 0.02, 5))
    assert all(loose >= strict for loose, strict in zip(looser, first, strict=True))


def test_look_p_values_repeat_the_fixed_tests_on_each_prefix() -> None:
    rng = np.random.default_rng(7)
    b = rng.normal(0, 1, (1, 6))
    c = rng.normal(0.5, 1, (1, 9))
    p = look_p_values("welch", c, b)
    for m in (2, 5, 9):
        assert p[0, m - 1] == pytest.approx(welch_tests(b, c[:, :m])[3][0])
    rank = look_p_values("rank", c, b)
    for m in (3, 9):
        expected = stats.mannwhitneyu(c[0, :m], b[0], alternative="greater", method="exact")
        assert rank[0, m - 1] == pytest.approx(expected.pvalue)
    d = rng.normal(0.3, 1, (1, 12))
    paired = look_p_values("paired_t", d)
    signed = look_p_values("signed_rank", d)
    for m in (4, 12):
        t = stats.ttest_1samp(d[0, :m], 0, alternative="greater")
        w = stats.wilcoxon(d[0, :m], alternative="greater", method="exact")
        assert paired[0, m - 1] == pytest.approx(t.pvalue)
        assert signed[0, m - 1] == pytest.approx(w.pvalue)


def test_ties_only_make_the_rank_looks_stricter() -> None:
    b = np.array([[1.0, 2.0, 2.0, 3.0, 3.0]])
    c = np.array([[3.0, 3.0, 2.0, 4.0, 3.0, 2.0]])
    strict = look_p_values("rank", c, b)[0]
    for m in range(2, 7):
        midrank = stats.mannwhitneyu(c[0, :m], b[0], alternative="greater",
                                     method="asymptotic", use_continuity=False).pvalue
        assert strict[m - 1] >= min(midrank, 1.0) - 0.05  # never far below the mid-rank test
    assert (look_p_values("rank", np.full((1, 8), 2.0), np.full((1, 5), 2.0)) == 1).all()
    assert (look_p_values("signed_rank", np.zeros((1, 10))) == 1).all()


def test_the_false_promote_rate_holds_over_every_look() -> None:
    """4,000 unchanged programs looked at after every run up to the horizon: the rate of
    ever crossing stays within Monte Carlo error of alpha."""
    rng = np.random.default_rng(99)
    alpha, streams = 0.05, 4000
    for test, n_b in (("welch", 5), ("rank", 5)):
        design = sq.Design(test, 15, alpha, n_b)
        c = rng.normal(0, SIGMA, (streams, 15))
        b = rng.normal(0, SIGMA, (streams, n_b)) if n_b else None
        p = look_p_values(test, c, b)
        crossed = (p <= np.asarray(sq.boundaries(design))).any(axis=1).mean()
        assert crossed <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / streams), test


def test_a_clear_improvement_is_promoted_early_and_stays_promoted() -> None:
    rng = np.random.default_rng(3)
    baseline = list(np.exp(rng.normal(0, SIGMA, 10)))
    candidate = list(np.exp(rng.normal(math.log(0.9), SIGMA, 20)))
    settings = GateSettings("welch", "minimize", alpha=0.01, log_scale=True)
    kinds = [decide_sequential(baseline, candidate[:m], settings, 20).kind for m in range(1, 21)]
    first = kinds.index("PROMOTE")
    assert first < 10 and kinds[:2] == ["NEEDS_MORE_DATA"] * 2
    assert set(kinds[first:]) == {"PROMOTE"}  # once crossed, later runs do not undo it
    decision = decide_sequential(baseline, candidate, settings, 20)
    assert decision.sequential.look == first + 1 and decision.sequential.looks == 20
    assert decision.effect == pytest.approx(0.1, abs=0.04)
    low, high = decision.effect_ci
    assert low < decision.effect < high


def test_worse_and_hopeless_candidates_are_rejected_before_the_horizon() -> None:
    rng = np.random.default_rng(4)
    baseline = list(np.exp(rng.normal(0, SIGMA, 10)))
    worse = list(np.exp(rng.normal(math.log(1.1), SIGMA, 12)))
    settings = GateSettings("rank", "minimize", alpha=0.01)
    decision = decide_sequential(baseline, worse, settings, 20)
    assert decision.kind == "REJECT" and decision.sequential.look < 20
    unchanged = list(np.exp(rng.normal(0, SIGMA, 20)))
    at_horizon = decide_sequential(baseline, unchanged, settings, 20)
    assert at_horizon.kind == "REJECT"


def test_the_horizon_is_final() -> None:
    baseline = [1.0, 1.01, 0.99, 1.0, 1.02]
    unchanged = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01]
    decision = decide_sequential(baseline, unchanged, GateSettings("welch", "minimize"), 6)
    assert decision.kind == "REJECT" and "horizon of 6" in decision.reason
    assert "2 value(s) beyond the horizon" in decision.details[-1]


def test_min_effect_blocks_promotion_and_stops_the_run() -> None:
    rng = np.random.default_rng(8)
    baseline = list(np.exp(rng.normal(0, 0.005, 10)))
    small = list(np.exp(rng.normal(math.log(0.985), 0.005, 20)))  # a clear 1.5 % improvement
    plain = decide_sequential(baseline, small, GateSettings("welch", "minimize",
                                                            log_scale=True), 20)
    assert plain.kind == "PROMOTE"
    settings = GateSettings("welch", "minimize", log_scale=True, min_effect=0.05)
    kinds = [decide_sequential(baseline, small[:m], settings, 20) for m in range(2, 21)]
    stop = next(d for d in kinds if d.kind != "NEEDS_MORE_DATA")  # where --until-decided stops
    assert stop.kind == "REJECT" and "below min_effect" in stop.reason
    assert stop.sequential.look < 20


def test_reverse_p_values_test_the_shifted_opposite_hypothesis() -> None:
    b = np.array([[0.0, 0.1, -0.1, 0.05, -0.05]])
    c = b[:, :4] + 0.02
    shift = 0.5  # far above what the data show: "improvement >= 0.5" is clearly rejected
    assert reverse_p_values("welch", c, b, shift)[0, -1] < 1e-3
    assert reverse_p_values("welch", c, b, 0.0)[0, -1] > 0.5


def test_paired_sequential_reports_pairs() -> None:
    b = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98, 1.01, 1.03, 0.97]
    c = [0.9 * x for x in b]
    decision = decide_paired_sequential(b, c, GateSettings("welch", "minimize"), 20)
    assert decision.kind == "PROMOTE" and decision.policy == "paired_t"
    # equal log ratios are ties: the signed-rank design judges them, its p-value the sign-flip's
    bounds = sq.boundaries(sq.Design("signed_rank", 20, 0.01))
    first = next(m for m in range(2, 21) if 0.5**m <= bounds[m - 1])
    assert decision.sequential.look == first and decision.p_value == pytest.approx(0.5**first)
    assert decision.details[-1] == "11 pair(s), test on log ratios"


def test_relative_effects_follow_the_direction() -> None:
    assert to_relative(math.log(1.05), 1.0, "maximize", True) == pytest.approx(0.05)
    assert to_relative(-math.log(0.95), 1.0, "minimize", True) == pytest.approx(0.05)
    oriented = orient(np.array([2.0, 4.0]), "minimize", False)
    assert list(oriented) == [-2.0, -4.0]


def test_a_welch_crossing_needs_the_rank_test_to_confirm_it() -> None:
    """A baseline whose runs all fell in the upper mode of a bimodal metric, against a candidate
    that is the same mixture: the Welch look crosses its boundary (the baseline's spread is the
    within-mode one), but the exact rank test of the same look does not, so nothing is
    promoted; a candidate below every baseline run is."""
    settings = GateSettings("welch", "minimize", alpha=0.01)
    baseline = [110.0, 110.3, 109.8, 110.1, 109.9]
    mixture = [100.2, 110.2, 99.9, 110.4, 100.1, 109.7, 99.8, 100.3, 110.0, 100.0,
               99.7, 110.1, 100.4, 99.6, 109.9, 100.2]
    b = orient(np.array(baseline), "minimize", False)
    c = orient(np.array(mixture), "minimize", False)
    design = sq.Design("welch", 20, 0.01, len(baseline))
    welch_p = look_p_values("welch", c[None, :], b[None, :])[0]
    assert (welch_p <= np.asarray(sq.boundaries(design))[: len(c)]).any()
    assert not sq.confirmed_looks(design, c[None, :], b[None, :])[0].any()
    decision = decide_sequential(baseline, mixture, settings, 20)
    assert decision.kind == "NEEDS_MORE_DATA"
    assert "does not confirm" in decision.reason
    better = [99.0 + 0.1 * (i % 5) for i in range(12)]
    assert decide_sequential(baseline, better, settings, 20).kind == "PROMOTE"


def test_confirmation_boundaries_are_the_exchangeable_rank_boundaries() -> None:
    """The rank test's boundaries for the confirmation: computed under the exchangeable null
    alone, so never stricter than the rank design's own (which also covers unequal spread)."""
    design = sq.Design("welch", 20, 0.01, 5)
    confirming = sq.confirmation_boundaries(design)
    own = sq.boundaries(sq.Design("rank", 20, 0.01, 5))
    assert len(confirming) == 20 and all(c <= 0.01 for c in confirming)
    assert all(c >= o for c, o in zip(confirming, own, strict=True))
    assert sq.can_promote(design)


def test_a_growing_baseline_counts_every_pair_of_each_look() -> None:
    rng = np.random.default_rng(7)
    candidate, baseline = rng.normal(size=(40, 12)), rng.normal(size=(40, 15))
    sizes = np.maximum(np.arange(1, 13), 5)
    p = look_p_values("rank", candidate, baseline, baseline_sizes=sizes)
    for look in range(3, 13):  # look m: candidate runs 1..m against baseline runs 1..n_m
        n_b = int(sizes[look - 1])
        expected = [stats.mannwhitneyu(candidate[t, :look], baseline[t, :n_b],
                                       alternative="greater", method="exact").pvalue
                    for t in range(len(candidate))]
        assert p[:, look - 1] == pytest.approx(expected)


@pytest.mark.slow  # a horizon of 100 is seconds of Monte Carlo for its boundaries
@pytest.mark.parametrize("policy", ["welch", "rank"])
def test_more_values_than_the_exact_rank_distribution_holds(policy: str) -> None:
    """30 baseline runs and a horizon of 100: past 120 values the rank test (and the rank
    confirmation of a Welch crossing) uses the normal approximation instead of failing."""
    rng = np.random.default_rng(3)
    baseline = list(100 + rng.normal(size=30))
    settings = GateSettings(policy=policy, direction="minimize", alpha=0.01)
    unchanged = decide_sequential(baseline, list(100 + rng.normal(size=95)), settings, 100)
    assert unchanged.kind == "REJECT" and unchanged.sequential.look == 95
    faster = decide_sequential(baseline, list(95 + rng.normal(size=95)), settings, 100)
    assert faster.kind == "PROMOTE"
