"""Statistics and gates against values computed by hand (the arithmetic is in each test)."""

from __future__ import annotations

import math

import pytest

from benchstone.gates.policies import GateSettings, decide
from benchstone.stats.basic import (
    directed_sigma,
    mean,
    mean_se,
    median,
    rank_u,
    rank_z,
    rank_z_ceiling,
    relative_improvement,
    sample_variance,
)

# ---- basic statistics ------------------------------------------------------------------------------


def test_mean_variance_and_standard_error() -> None:
    xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    # mean = 40 / 8 = 5; squared deviations 9+1+1+1+0+0+4+16 = 32; s^2 = 32 / 7
    assert mean(xs) == 5.0
    assert sample_variance(xs) == pytest.approx(32 / 7)
    centre, se = mean_se(xs)
    assert (centre, se) == (5.0, pytest.approx(math.sqrt(32 / 7 / 8)))
    assert median(xs) == 4.5 and median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        sample_variance([1.0])


# ---- sigma ---------------------------------------------------------------------------------------


def test_sigma_by_hand() -> None:
    baseline = [1.0, 2.0, 3.0]  # mean 2, s^2 = (1+0+1)/2 = 1, se^2 = 1/3
    candidate = [4.0, 5.0, 6.0]  # mean 5, s^2 = 1, se^2 = 1/3
    expected = (5 - 2) / math.sqrt(1 / 3 + 1 / 3)  # 3 / 0.8165 = 3.6742
    assert directed_sigma(baseline, candidate, "maximize") == pytest.approx(expected)
    assert directed_sigma(baseline, candidate, "minimize") == pytest.approx(-expected)
    assert expected == pytest.approx(3.6742, abs=1e-4)


def test_sigma_with_unequal_variances_and_sizes() -> None:
    baseline = [10.0, 12.0, 14.0, 16.0]  # mean 13, s^2 = (9+1+1+9)/3 = 20/3, se^2 = 20/12 = 5/3
    candidate = [9.0, 10.0]  # mean 9.5, s^2 = 0.5, se^2 = 0.25
    # minimize: improvement is 13 - 9.5 = 3.5 over sqrt(5/3 + 1/4) = sqrt(23/12) = 1.3844
    assert directed_sigma(baseline, candidate, "minimize") == pytest.approx(3.5 / math.sqrt(23 / 12))


def test_sigma_with_zero_variance() -> None:
    assert directed_sigma([5.0, 5.0], [5.0, 5.0, 5.0], "minimize") == 0.0
    assert directed_sigma([5.0, 5.0], [5.0, 5.0, 5.0], "maximize") == 0.0
    assert directed_sigma([5.0, 5.0], [4.0, 4.0], "minimize") == math.inf
    assert directed_sigma([5.0, 5.0], [4.0, 4.0], "maximize") == -math.inf
    assert directed_sigma([5.0, 5.0], [6.0, 6.0], "maximize") == math.inf
    assert directed_sigma([5.0, 5.0], [6.0, 6.0], "minimize") == -math.inf


def test_direction_must_be_known() -> None:
    with pytest.raises(ValueError, match="direction"):
        directed_sigma([1.0, 2.0], [1.0, 2.0], "up")


def sigma_gate(threshold: float = 2.0, direction: str = "minimize") -> GateSettings:
    return GateSettings(policy="sigma", direction=direction, promotion_sigma=threshold)


def test_sigma_gate_promotes_at_or_above_the_threshold() -> None:
    baseline, candidate = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]  # sigma +3.674 for maximize
    decision = decide(baseline, candidate, sigma_gate(3.674, "maximize"))
    assert (decision.kind, decision.statistic_name) == ("PROMOTE", "sigma")
    assert decision.statistic == pytest.approx(3.6742, abs=1e-4)
    assert decide(baseline, candidate, sigma_gate(3.675, "maximize")).kind == "REJECT"
    assert decide(baseline, candidate, sigma_gate(2.0, "minimize")).kind == "REJECT"  # worse
    exact = 3 / math.sqrt(2 / 3)
    assert decide(baseline, candidate, sigma_gate(exact, "maximize")).kind == "PROMOTE"  # >=


def test_sigma_gate_reason_and_effect() -> None:
    decision = decide([10.0, 10.0, 10.0], [8.0, 8.0, 8.0], sigma_gate())
    assert decision.kind == "PROMOTE" and decision.statistic == math.inf
    assert decision.effect == pytest.approx(0.2)  # (10 - 8) / 10
    assert "direction=minimize" in decision.reason
    unchanged = decide([3.0, 3.0], [3.0, 3.0], sigma_gate())
    assert (unchanged.kind, unchanged.statistic) == ("REJECT", 0.0)


# ---- Mann-Whitney ----------------------------------------------------------------------------------


def test_rank_u_counts_ties_as_half() -> None:
    baseline = [1.0, 2.0, 3.0, 4.0]
    candidate = [3.0, 4.0, 5.0, 6.0]
    # maximize, pairs where c > b (ties 1/2):
    #   c=3: b=1,2 -> 2, tie with 3 -> 0.5   = 2.5
    #   c=4: b=1,2,3 -> 3, tie with 4 -> 0.5 = 3.5
    #   c=5: 4;  c=6: 4                     -> U = 14
    assert rank_u(baseline, candidate, "maximize") == 14.0
    # minimize: the complement, 16 - 14 = 2 (c=3 beats b=4: 1, plus ties 0.5 + 0.5)
    assert rank_u(baseline, candidate, "minimize") == 2.0
    # z = (U - n_b n_c / 2) / sqrt(n_b n_c (n_b + n_c + 1) / 12) = (14 - 8) / sqrt(16*9/12) = 6/sqrt(12)
    assert rank_z(baseline, candidate, "maximize") == pytest.approx(6 / math.sqrt(12))
    assert rank_z(baseline, candidate, "minimize") == pytest.approx(-6 / math.sqrt(12))


def test_rank_z_all_ties_is_zero() -> None:
    assert rank_u([2.0, 2.0], [2.0, 2.0, 2.0], "minimize") == 3.0  # 6 pairs x 1/2
    assert rank_z([2.0, 2.0], [2.0, 2.0, 2.0], "minimize") == 0.0


def test_rank_z_ceiling() -> None:
    assert rank_z_ceiling(3, 3) == pytest.approx(math.sqrt(27 / 7))  # 1.9640
    assert rank_z_ceiling(4, 4) == pytest.approx(math.sqrt(48 / 9))  # 2.3094
    assert rank_z_ceiling(5, 5) == pytest.approx(math.sqrt(75 / 11))  # 2.6112
    # the ceiling is the z of complete separation
    assert rank_z([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0], "minimize") == pytest.approx(
        rank_z_ceiling(4, 4))


def mann_whitney(threshold: float = 2.0, direction: str = "minimize") -> GateSettings:
    return GateSettings(policy="mann_whitney", direction=direction, rank_threshold=threshold)


def test_mann_whitney_three_a_side_cannot_reach_two() -> None:
    # complete separation at 3 v 3: z = (9 - 4.5) / sqrt(9 * 7 / 12) = 4.5 / 2.2913 = 1.964 < 2.0
    decision = decide([10.0, 11.0, 12.0], [1.0, 2.0, 3.0], mann_whitney(2.0))
    assert decision.kind == "NEEDS_MORE_DATA"
    assert "cannot exceed 1.96" in decision.reason


def test_mann_whitney_four_a_side_can_promote() -> None:
    # complete separation at 4 v 4: z = (16 - 8) / sqrt(16 * 9 / 12) = 8 / 3.4641 = 2.309 >= 2.0
    decision = decide([10.0, 11.0, 12.0, 13.0], [1.0, 2.0, 3.0, 4.0], mann_whitney(2.0))
    assert decision.kind == "PROMOTE"
    assert decision.statistic == pytest.approx(8 / math.sqrt(12))
    # one overlap (5 > 4.5): U = 4 + 4 + 4 + 3 = 15, z = 7 / 3.4641 = 2.021: still promotes
    one = decide([4.5, 11.0, 12.0, 13.0], [1.0, 2.0, 3.0, 5.0], mann_whitney())
    assert (one.kind, one.statistic) == ("PROMOTE", pytest.approx(7 / math.sqrt(12)))
    # more overlap: U = 4 + 4 + 3 + 2 = 13, z = 5 / 3.4641 = 1.443: rejects
    more = decide([2.5, 4.5, 12.0, 13.0], [1.0, 2.0, 3.0, 5.0], mann_whitney())
    assert (more.kind, more.statistic) == ("REJECT", pytest.approx(5 / math.sqrt(12)))


def test_mann_whitney_direction() -> None:
    low, high = [1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0, 13.0]
    assert decide(low, high, mann_whitney(direction="maximize")).kind == "PROMOTE"
    assert decide(low, high, mann_whitney(direction="minimize")).kind == "REJECT"


# ---- floors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["sigma", "mann_whitney", "welch", "rank"])
def test_fewer_than_two_runs_a_side_is_needs_more_data(policy: str) -> None:
    settings = GateSettings(policy=policy, direction="minimize")
    assert decide([1.0], [0.1, 0.1, 0.1], settings).kind == "NEEDS_MORE_DATA"
    assert decide([1.0, 1.1, 1.2], [0.1], settings).kind == "NEEDS_MORE_DATA"
    assert decide([], [], settings).kind == "NEEDS_MORE_DATA"


@pytest.mark.parametrize("policy", ["sigma", "mann_whitney", "welch", "rank"])
def test_fewer_ok_runs_than_required_is_needs_more_data(policy: str) -> None:
    settings = GateSettings(policy=policy, direction="minimize")
    baseline = [10.0, 10.1, 9.9, 10.2, 9.8]
    candidate = [5.0, 5.1, 4.9, 5.2]  # 4 ok runs of a 5-repetition run set
    decision = decide(baseline, candidate, settings, required_baseline=5, required_candidate=5)
    assert decision.kind == "NEEDS_MORE_DATA"
    assert decision.reason == "candidate has 4 ok run(s), need 5"
    decision = decide(baseline[:3], candidate, settings, required_baseline=5, required_candidate=4)
    assert decision.reason == "baseline has 3 ok run(s), need 5"


def test_unknown_policy_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown gate policy"):
        decide([1.0, 2.0], [1.0, 2.0], GateSettings(policy="vibes", direction="minimize"))


# ---- welch and rank ------------------------------------------------------------------------------

CLEAR_BASELINE = [10.0, 10.1, 9.9, 10.05, 9.95]
CLEAR_CANDIDATE = [8.0, 8.1, 7.9, 8.05, 7.95]


def test_welch_by_hand() -> None:
    # both samples: mean 10 (8), deviations 0, .1, -.1, .05, -.05 -> s^2 = 0.025 / 4 = 0.00625
    # se^2 = 0.00625 / 5 = 0.00125 each; se = sqrt(0.0025) = 0.05; t = 2.0 / 0.05 = 40
    # Welch dof = (0.0025)^2 / (2 * 0.00125^2 / 4) = 8
    from scipy import stats

    decision = decide(CLEAR_BASELINE, CLEAR_CANDIDATE, GateSettings(policy="welch",
                                                                    direction="minimize"))
    assert decision.kind == "PROMOTE"
    assert decision.statistic == pytest.approx(40.0)
    assert decision.p_value == pytest.approx(stats.t.sf(40.0, 8))
    assert decision.effect == pytest.approx(0.2)  # 2 / 10


def test_welch_no_difference_rejects() -> None:
    decision = decide(CLEAR_BASELINE, list(reversed(CLEAR_BASELINE)),
                      GateSettings(policy="welch", direction="minimize"))
    assert decision.kind == "REJECT"
    assert decision.statistic == pytest.approx(0.0)
    assert decision.p_value == pytest.approx(0.5)


def test_welch_worse_candidate_rejects_and_direction_matters() -> None:
    settings = GateSettings(policy="welch", direction="maximize")
    assert decide(CLEAR_BASELINE, CLEAR_CANDIDATE, settings).kind == "REJECT"
    assert decide(CLEAR_CANDIDATE, CLEAR_BASELINE, settings).kind == "PROMOTE"


def test_welch_min_effect() -> None:
    settings = GateSettings(policy="welch", direction="minimize", min_effect=0.25)
    decision = decide(CLEAR_BASELINE, CLEAR_CANDIDATE, settings)  # 20 % better, 25 % required
    assert decision.kind == "REJECT" and "min_effect 25.00%" in decision.reason


def test_welch_log_scale_needs_positive_values() -> None:
    settings = GateSettings(policy="welch", direction="minimize", log_scale=True)
    assert decide([1.0, 0.0], [1.0, 2.0], settings).kind == "NEEDS_MORE_DATA"
    # constant samples: the exact permutation p-value is 1 / C(n_b + n_c, n_b)
    assert decide([10.0] * 3, [5.0] * 3, settings).kind != "PROMOTE"  # 1/20 = 0.05 > 0.01
    promoted = decide([10.0] * 5, [5.0] * 5, settings)  # 1/252 < 0.01
    assert promoted.kind == "PROMOTE" and promoted.effect == pytest.approx(0.5)  # halved


def test_rank_three_a_side_at_alpha_001_is_needs_more_data() -> None:
    # the smallest one-sided p at 3 v 3 is 1 / C(6, 3) = 1/20 = 0.05 > 0.01
    decision = decide([10.0, 11.0, 12.0], [1.0, 2.0, 3.0],
                      GateSettings(policy="rank", direction="minimize", alpha=0.01))
    assert decision.kind == "NEEDS_MORE_DATA"
    assert "0.05" in decision.reason


def test_rank_clear_improvement_promotes_with_the_exact_p_value() -> None:
    # complete separation at 5 v 5: exact p = 1 / C(10, 5) = 1/252 = 0.00397 <= 0.01
    decision = decide(CLEAR_BASELINE, CLEAR_CANDIDATE,
                      GateSettings(policy="rank", direction="minimize", alpha=0.01))
    assert decision.kind == "PROMOTE"
    assert decision.p_value == pytest.approx(1 / 252)
    # Hodges-Lehmann shift: median of the 25 differences c - b, here -2.0, relative 0.2
    assert decision.effect == pytest.approx(0.2)


def test_rank_no_difference_rejects() -> None:
    decision = decide(CLEAR_BASELINE, list(CLEAR_BASELINE),
                      GateSettings(policy="rank", direction="minimize", alpha=0.01))
    assert decision.kind == "REJECT"
    assert decision.p_value > 0.4


def test_relative_improvement() -> None:
    assert relative_improvement(10.0, 8.0, "minimize") == pytest.approx(0.2)
    assert relative_improvement(10.0, 12.0, "maximize") == pytest.approx(0.2)
    assert relative_improvement(-10.0, -8.0, "maximize") == pytest.approx(0.2)
    assert relative_improvement(0.0, 0.0, "minimize") == 0.0
    assert relative_improvement(0.0, -1.0, "minimize") == math.inf
