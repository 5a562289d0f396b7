"""Gates: pure functions from two samples and a benchmark's settings to a decision.

Policies:

- ``sigma`` (the original's): z = directed difference of means / standard error of the
  difference; PROMOTE when z >= ``promotion_sigma``. Not calibrated: at 3 v 3 runs and 2.0 it
  promotes an unchanged program about 6 % of the time.
- ``mann_whitney`` (the original's): the rank z of a normal approximation without tie
  correction; PROMOTE when z >= ``promotion_z``. Cannot promote when the z ceiling at the
  sample sizes is below the threshold (below 4 runs a side at 2.0).
- ``welch``: one-sided Welch t-test (on log values with ``log_scale``); PROMOTE when
  p <= ``alpha`` and the estimated relative improvement is above 0 and >= ``min_effect``.
  False-promote rate <= ``alpha`` for roughly normal (log-normal) noise.
- ``rank``: one-sided Mann-Whitney test with the exact, tie-aware distribution of the rank sum;
  PROMOTE when p <= ``alpha`` and the Hodges-Lehmann relative improvement is above 0 and
  >= ``min_effect``. False-promote rate <= ``alpha`` for any noise.

The effect interval of ``welch`` and ``rank`` is two-sided at 1 - 2 alpha, so its lower end is
the one-sided bound that matches the test. ``decide_paired`` is the paired counterpart used by
``compare``; ``benchstone.stats.sequential`` repeats these tests over looks.

Every policy first applies the per-side floors: fewer ok runs than required is NEEDS_MORE_DATA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from benchstone.gates.wording import confidence, signed_percent
from benchstone.kinds import VerdictKind
from benchstone.stats.basic import (
    directed_sigma,
    mean,
    median,
    rank_z,
    rank_z_ceiling,
    relative_improvement,
)
from benchstone.stats.calibrated import (
    hodges_lehmann,
    orient,
    paired_t_tests,
    rank_interval,
    rank_tests,
    signed_rank_interval,
    signed_rank_tests,
    to_relative,
    welch_interval,
    welch_tests,
)
from benchstone.stats.exact import walsh_averages

if TYPE_CHECKING:
    import numpy as np

    from benchstone.stats.sequential import SequentialOutcome

MIN_PER_SIDE = 2


@dataclass(frozen=True)
class GateSettings:
    policy: str
    direction: str
    promotion_sigma: float = 2.0
    rank_threshold: float = 2.0
    alpha: float = 0.01
    min_effect: float = 0.0
    log_scale: bool = False
    # exact data: a relative spread at or below ``resolution`` is no spread; ``deterministic``
    # declares that a side never varies beyond it (see benchstone.gates.exact)
    resolution: float = 0.0
    deterministic: bool = False


@dataclass(frozen=True)
class GateDecision:
    kind: VerdictKind
    policy: str
    reason: str
    statistic: float | None = None
    statistic_name: str | None = None
    threshold: float | None = None
    p_value: float | None = None
    effect: float | None = None
    effect_ci: tuple[float, float] | None = None
    details: list[str] = field(default_factory=list)
    sequential: SequentialOutcome | None = None


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
        return GateDecision(VerdictKind.NEEDS_MORE_DATA, settings.policy,
                            f"baseline has {len(baseline)} ok run(s), need {need_b}")
    if len(candidate) < need_c:
        return GateDecision(VerdictKind.NEEDS_MORE_DATA, settings.policy,
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
    kind = VerdictKind.PROMOTE if sigma >= s.promotion_sigma else VerdictKind.REJECT
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
            VerdictKind.NEEDS_MORE_DATA, "mann_whitney",
            f"with {len(baseline)} baseline and {len(candidate)} candidate runs the rank z cannot "
            f"exceed {ceiling:.2f}, below the threshold {threshold}: more runs are needed",
            threshold=threshold, statistic_name="z",
        )
    z = rank_z(baseline, candidate, s.direction)
    kind = VerdictKind.PROMOTE if z >= threshold else VerdictKind.REJECT
    reason = (f"mann_whitney z={z:+.2f} {_compare_word(z, threshold)} threshold {threshold} "
              f"(direction={s.direction})")
    return GateDecision(kind, "mann_whitney", reason, statistic=z, statistic_name="z",
                        threshold=threshold,
                        effect=relative_improvement(median(baseline), median(candidate),
                                                    s.direction))


def _calibrated(significant: bool, effect: float, s: GateSettings, name: str, p_value: float,
                statistic: float | None, statistic_name: str, ci: tuple[float, float] | None,
                level: float, threshold: float | None = None,
                details: list[str] | None = None) -> GateDecision:
    """PROMOTE needs significance AND an estimated improvement above 0 and >= min_effect."""
    threshold = s.alpha if threshold is None else threshold
    if not significant:
        kind, why = VerdictKind.REJECT, f"p={p_value:.4g} > {_threshold_name(threshold, s)}"
    elif effect <= 0 or effect < s.min_effect:
        kind = VerdictKind.REJECT
        why = (f"p={p_value:.4g} <= {_threshold_name(threshold, s)} but the improvement "
               f"{signed_percent(effect)} is not above min_effect {s.min_effect:.2%}")
    else:
        kind = VerdictKind.PROMOTE
        why = f"p={p_value:.4g} <= {_threshold_name(threshold, s)}, improvement {signed_percent(effect)}"
    ci_text = f", {confidence(level)} CI [{signed_percent(ci[0])}, {signed_percent(ci[1])}]" if ci else ""
    reason = f"{name} {why}{ci_text} (direction={s.direction})"
    return GateDecision(kind, name, reason, statistic=statistic, statistic_name=statistic_name,
                        threshold=threshold, p_value=p_value, effect=effect, effect_ci=ci,
                        details=list(details or []))


def _threshold_name(threshold: float, s: GateSettings) -> str:
    return f"alpha {s.alpha:g}" if threshold == s.alpha else f"boundary {threshold:.4g}"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def log_scale_problem(name: str, s: GateSettings, *samples: Sequence[float]) -> GateDecision | None:
    """NEEDS_MORE_DATA when ``log_scale`` meets a value that has no logarithm."""
    if s.log_scale and any(len(sample) and min(sample) <= 0 for sample in samples):
        return GateDecision(VerdictKind.NEEDS_MORE_DATA, name,
                            "log_scale needs positive metrics; found a value <= 0")
    return None


def _relative_interval(interval: tuple[float, float] | None, centre: float,
                       s: GateSettings, log_scale: bool) -> tuple[float, float] | None:
    if interval is None:
        return None
    low, high = (to_relative(bound, centre, s.direction, log_scale) for bound in interval)
    return (low, high) if low <= high else (high, low)


def _welch(baseline: list[float], candidate: list[float], s: GateSettings,
           level: float | None = None) -> GateDecision:
    """One-sided Welch t-test at ``level`` (alpha unless a sequential boundary is given)."""
    import numpy as np

    level = s.alpha if level is None else level
    if problem := log_scale_problem("welch", s, baseline, candidate):
        return problem
    b = orient(np.asarray([baseline], dtype=float), s.direction, s.log_scale)
    c = orient(np.asarray([candidate], dtype=float), s.direction, s.log_scale)
    gain, se, df, p = (float(x[0]) for x in welch_tests(b, c))
    centre = mean(baseline)
    effect = to_relative(gain, centre, s.direction, s.log_scale)
    ci = _relative_interval(welch_interval(gain, se, df, level), centre, s, s.log_scale)
    t_stat = _finite(gain / se) if se else None
    return _calibrated(p <= level, effect, s, "welch", p, t_stat, "t", ci, level,
                       threshold=level)


def _rank(baseline: list[float], candidate: list[float], s: GateSettings,
          level: float | None = None) -> GateDecision:
    """One-sided Mann-Whitney test, exact and tie-aware, with the Hodges-Lehmann shift."""
    import numpy as np

    level = s.alpha if level is None else level
    n_b, n_c = len(baseline), len(candidate)
    smallest = 1 / math.comb(n_b + n_c, n_b)
    if smallest > level:
        return GateDecision(
            VerdictKind.NEEDS_MORE_DATA, "rank",
            f"with {n_b} baseline and {n_c} candidate runs the smallest possible p-value is "
            f"{smallest:.3g}, above {_threshold_name(level, s)}: more runs are needed",
            threshold=level, statistic_name="U",
        )
    if problem := log_scale_problem("rank", s, baseline, candidate):
        return problem
    b = orient(np.asarray([baseline], dtype=float), s.direction, s.log_scale)
    c = orient(np.asarray([candidate], dtype=float), s.direction, s.log_scale)
    u, p = (float(x[0]) for x in rank_tests(b, c))
    shift = float(hodges_lehmann(b, c)[0])
    centre = median(baseline)
    effect = to_relative(shift, centre, s.direction, s.log_scale)
    ci = _relative_interval(rank_interval(b[0], c[0], level), centre, s, s.log_scale)
    return _calibrated(p <= level, effect, s, "rank", p, u, "U", ci, level, threshold=level)


def paired_test_name(policy: str) -> str:
    """The paired test a policy uses in ``compare``: ranks for the rank policies, else t."""
    return "signed_rank" if policy in ("rank", "mann_whitney") else "paired_t"


def paired_differences(baseline: Sequence[float], candidate: Sequence[float],
                       direction: str) -> tuple[np.ndarray, bool]:
    """Oriented per-pair differences: log ratios when every value is positive (then the effect
    is relative by construction), else plain differences. Returns (d, on_log_scale)."""
    import numpy as np

    b = np.asarray(baseline, dtype=float)
    c = np.asarray(candidate, dtype=float)
    log_scale = bool(len(b) and min(b.min(), c.min()) > 0)
    d = orient(c, direction, log_scale) - orient(b, direction, log_scale)
    # Differences below 1e-12 of the values are rounding, not measurement: snapping them
    # lets a deterministic benchmark's equal ratios count as equal (and zeros as zeros).
    scale = 1.0 if log_scale else max(float(np.abs(b).max(initial=0)),
                                      float(np.abs(c).max(initial=0)), 1e-300)
    return np.round(d / scale, 12) * scale, log_scale


def decide_paired(baseline: Sequence[float], candidate: Sequence[float], settings: GateSettings,
                  level: float | None = None) -> GateDecision:
    """A paired one-sided test on pairs (baseline[i], candidate[i]) run side by side: Wilcoxon
    signed-rank for the rank policies, else a t-test on the log ratios."""
    import numpy as np

    s = settings
    level = s.alpha if level is None else level
    name = paired_test_name(s.policy)
    n = len(baseline)
    if n != len(candidate):
        raise ValueError("paired samples must have the same length")
    if n < MIN_PER_SIDE:
        return GateDecision(VerdictKind.NEEDS_MORE_DATA, name, f"{n} complete pair(s), need {MIN_PER_SIDE}")
    d, log_scale = paired_differences(baseline, candidate, s.direction)
    centre = mean(baseline)
    if name == "signed_rank":
        if 0.5**n > level:
            return GateDecision(
                VerdictKind.NEEDS_MORE_DATA, name,
                f"with {n} pairs the smallest possible p-value is {0.5**n:.3g}, above "
                f"{_threshold_name(level, s)}: more pairs are needed",
                threshold=level, statistic_name="W+")
        w, p = (float(x[0]) for x in signed_rank_tests(d[None, :]))
        shift = float(np.median(walsh_averages(d.tolist())))
        interval = signed_rank_interval(d, level)
        statistic, statistic_name = w, "W+"
    else:
        mean_d, se, df, p_array = paired_t_tests(d[None, :])
        shift, p = float(mean_d[0]), float(p_array[0])
        interval = welch_interval(shift, float(se[0]), float(df[0]), level)
        statistic, statistic_name = (_finite(shift / float(se[0])) if se[0] else None), "t"
    effect = to_relative(shift, centre, s.direction, log_scale)
    ci = _relative_interval(interval, centre, s, log_scale)
    scale = "log ratios" if log_scale else "differences"
    return _calibrated(p <= level, effect, s, name, p, statistic, statistic_name, ci, level,
                       threshold=level, details=[f"{n} pairs, test on {scale}"])
