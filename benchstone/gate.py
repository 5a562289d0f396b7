"""Gates: pure functions from two samples and a benchmark's settings to a decision.

Policies:

- ``sigma`` (the original's): z = directed difference of means / standard error of the
  difference; PROMOTE when z >= ``promotion_sigma``. Not calibrated: at 3 v 3 runs and 2.0 it
  promotes an unchanged program about 6 % of the time.
- ``mann_whitney`` (the original's): the rank z of a normal approximation without tie
  correction; PROMOTE when z >= ``promotion_z``. Cannot promote when the z ceiling at the
  sample sizes is below the threshold (below 4 runs a side at 2.0).
- ``welch``: one-sided Welch t-test (on log values with ``log_scale``); PROMOTE when
  p <= ``alpha`` and the estimated relative improvement >= ``min_effect``.
- ``rank``: one-sided Mann-Whitney test with an exact, tie-aware permutation distribution at
  small samples; PROMOTE when p <= ``alpha`` and the Hodges-Lehmann relative improvement
  >= ``min_effect``.

Every policy first applies the per-side floors: fewer ok runs than required is NEEDS_MORE_DATA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from benchstone.stats import (
    directed_sigma,
    mean,
    median,
    rank_z,
    rank_z_ceiling,
    relative_improvement,
)

if TYPE_CHECKING:
    import numpy as np

MIN_PER_SIDE = 2
EXACT_PERMUTATIONS = 200_000


@dataclass(frozen=True)
class GateSettings:
    policy: str
    direction: str
    promotion_sigma: float = 2.0
    rank_threshold: float = 2.0
    alpha: float = 0.01
    min_effect: float = 0.0
    log_scale: bool = False


@dataclass(frozen=True)
class GateDecision:
    kind: str
    policy: str
    reason: str
    statistic: float | None = None
    statistic_name: str | None = None
    threshold: float | None = None
    p_value: float | None = None
    effect: float | None = None
    effect_ci: tuple[float, float] | None = None
    details: list[str] = field(default_factory=list)


def decide(
    baseline: Sequence[float],
    candidate: Sequence[float],
    settings: GateSettings,
    *,
    required_baseline: int = MIN_PER_SIDE,
    required_candidate: int = MIN_PER_SIDE,
) -> GateDecision:
    """The verdict of ``settings.policy`` on two samples of ok metrics."""
    need_b = max(required_baseline, MIN_PER_SIDE)
    need_c = max(required_candidate, MIN_PER_SIDE)
    if len(baseline) < need_b:
        return GateDecision("NEEDS_MORE_DATA", settings.policy,
                            f"baseline has {len(baseline)} ok run(s), need {need_b}")
    if len(candidate) < need_c:
        return GateDecision("NEEDS_MORE_DATA", settings.policy,
                            f"candidate has {len(candidate)} ok run(s), need {need_c}")
    policies = {"sigma": _sigma, "mann_whitney": _mann_whitney, "welch": _welch, "rank": _rank}
    try:
        policy = policies[settings.policy]
    except KeyError:
        raise ValueError(f"unknown gate policy {settings.policy!r}") from None
    return policy(list(baseline), list(candidate), settings)


def _compare_word(value: float, threshold: float) -> str:
    return ">=" if value >= threshold else "<"


def _sigma(baseline: list[float], candidate: list[float], s: GateSettings) -> GateDecision:
    sigma = directed_sigma(baseline, candidate, s.direction)
    kind = "PROMOTE" if sigma >= s.promotion_sigma else "REJECT"
    reason = (f"sigma={sigma:+.2f} {_compare_word(sigma, s.promotion_sigma)} threshold "
              f"{s.promotion_sigma} (direction={s.direction})")
    return GateDecision(kind, "sigma", reason, statistic=sigma, statistic_name="sigma",
                        threshold=s.promotion_sigma,
                        effect=relative_improvement(mean(baseline), mean(candidate), s.direction))


def _mann_whitney(baseline: list[float], candidate: list[float], s: GateSettings) -> GateDecision:
    ceiling = rank_z_ceiling(len(baseline), len(candidate))
    threshold = s.rank_threshold
    if ceiling < threshold:
        return GateDecision(
            "NEEDS_MORE_DATA", "mann_whitney",
            f"with {len(baseline)} baseline and {len(candidate)} candidate runs the rank z cannot "
            f"exceed {ceiling:.2f}, below the threshold {threshold}: more runs are needed",
            threshold=threshold, statistic_name="z",
        )
    z = rank_z(baseline, candidate, s.direction)
    kind = "PROMOTE" if z >= threshold else "REJECT"
    reason = (f"mann_whitney z={z:+.2f} {_compare_word(z, threshold)} threshold {threshold} "
              f"(direction={s.direction})")
    return GateDecision(kind, "mann_whitney", reason, statistic=z, statistic_name="z",
                        threshold=threshold,
                        effect=relative_improvement(median(baseline), median(candidate),
                                                    s.direction))


def _calibrated(kind_significant: bool, effect: float, s: GateSettings, name: str,
                p_value: float, statistic: float | None, statistic_name: str,
                ci: tuple[float, float] | None) -> GateDecision:
    if not kind_significant:
        kind = "REJECT"
        why = f"p={p_value:.4g} > alpha {s.alpha:g}"
    elif effect < s.min_effect:
        kind = "REJECT"
        why = (f"p={p_value:.4g} <= alpha {s.alpha:g} but the improvement {effect:+.2%} is below "
               f"min_effect {s.min_effect:.2%}")
    else:
        kind = "PROMOTE"
        why = f"p={p_value:.4g} <= alpha {s.alpha:g}, improvement {effect:+.2%}"
    ci_text = f", {1 - 2 * s.alpha:.0%} CI [{ci[0]:+.2%}, {ci[1]:+.2%}]" if ci else ""
    reason = f"{name} {why}{ci_text} (direction={s.direction})"
    return GateDecision(kind, name, reason, statistic=statistic, statistic_name=statistic_name,
                        threshold=s.alpha, p_value=p_value, effect=effect, effect_ci=ci)


def _welch(baseline: list[float], candidate: list[float], s: GateSettings) -> GateDecision:
    import numpy as np  # numpy and scipy load in about a second: only when a gate needs them
    from scipy import stats as scipy_stats

    if s.log_scale and (min(baseline) <= 0 or min(candidate) <= 0):
        return GateDecision("NEEDS_MORE_DATA", "welch",
                            "log_scale needs positive metrics; found a value <= 0")
    b = np.log(baseline) if s.log_scale else np.asarray(baseline, dtype=float)
    c = np.log(candidate) if s.log_scale else np.asarray(candidate, dtype=float)
    sign = -1.0 if s.direction == "minimize" else 1.0
    gain = sign * float(c.mean() - b.mean())  # positive: improvement, in metric (or log) units
    var_b, var_c = float(b.var(ddof=1)) / len(b), float(c.var(ddof=1)) / len(c)
    se = math.sqrt(var_b + var_c)
    if se == 0.0:
        p_value = 0.0 if gain > 0 else 1.0
        t_stat = math.copysign(math.inf, gain) if gain else 0.0
        ci = None
    else:
        t_stat = gain / se
        dof = (var_b + var_c) ** 2 / (var_b**2 / (len(b) - 1) + var_c**2 / (len(c) - 1))
        p_value = float(scipy_stats.t.sf(t_stat, dof))
        half = float(scipy_stats.t.ppf(1 - s.alpha, dof)) * se
        ci = (_to_relative(gain - half, float(b.mean()), s),
              _to_relative(gain + half, float(b.mean()), s))
    effect = _to_relative(gain, float(b.mean()), s)
    return _calibrated(p_value <= s.alpha, effect, s, "welch", p_value, t_stat, "t", ci)


def _to_relative(gain: float, baseline_centre: float, s: GateSettings) -> float:
    """A gain in (log) metric units as a relative improvement over the baseline."""
    if s.log_scale:
        return float(math.expm1(gain)) if s.direction == "maximize" else float(-math.expm1(-gain))
    return gain / abs(baseline_centre) if baseline_centre else 0.0


def _rank(baseline: list[float], candidate: list[float], s: GateSettings) -> GateDecision:
    import numpy as np
    from scipy import stats as scipy_stats

    alternative = "less" if s.direction == "minimize" else "greater"
    n_b, n_c = len(baseline), len(candidate)
    permutations = math.comb(n_b + n_c, n_b)
    if permutations <= EXACT_PERMUTATIONS:
        method = scipy_stats.PermutationMethod(n_resamples=EXACT_PERMUTATIONS)
        smallest = 1 / permutations
        if smallest > s.alpha:
            return GateDecision(
                "NEEDS_MORE_DATA", "rank",
                f"with {n_b} baseline and {n_c} candidate runs the smallest possible p-value is "
                f"{smallest:.3g}, above alpha {s.alpha:g}: more runs are needed",
                threshold=s.alpha, statistic_name="U",
            )
    else:
        method = "asymptotic"
    result = scipy_stats.mannwhitneyu(candidate, baseline, alternative=alternative, method=method)
    p_value = float(result.pvalue)
    differences = np.subtract.outer(np.asarray(candidate), np.asarray(baseline)).ravel()
    shift = float(np.median(differences))
    centre = float(np.median(baseline))
    effect = relative_improvement(centre, centre + shift, s.direction)
    ci = _hodges_lehmann_interval(differences, n_b, n_c, s, centre)
    return _calibrated(p_value <= s.alpha, effect, s, "rank", p_value, float(result.statistic),
                       "U", ci)


def _hodges_lehmann_interval(differences: np.ndarray, n_b: int, n_c: int, s: GateSettings,
                             centre: float) -> tuple[float, float] | None:
    import numpy as np
    from scipy import stats as scipy_stats

    """A distribution-free interval for the shift: order statistics of the pairwise differences
    at the normal-approximation critical rank; None when the samples are too small for it."""
    z = float(scipy_stats.norm.ppf(1 - s.alpha))
    k = math.floor(n_b * n_c / 2 - z * math.sqrt(n_b * n_c * (n_b + n_c + 1) / 12))
    if k < 1:
        return None
    ordered = np.sort(differences)
    low, high = float(ordered[k - 1]), float(ordered[len(ordered) - k])
    bounds = sorted(relative_improvement(centre, centre + value, s.direction) for value in (low, high))
    return bounds[0], bounds[1]
