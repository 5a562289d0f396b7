"""The ``welch`` and ``rank`` gates over all the evidence at a commit: the sequential procedure
of :mod:`benchstone.stats.sequential` wrapped as a :class:`~benchstone.gates.policies.GateDecision`.

``decide_sequential`` compares the candidate's runs, in the order they were recorded, with a
fixed baseline; ``decide_paired_sequential`` does the same for ``compare``'s pairs. Both are
pure: the caller brings the values and the horizon (the manifest's ``max_repetitions``).
"""

from __future__ import annotations

from collections.abc import Sequence

from benchstone.gates.policies import (
    MIN_PER_SIDE,
    GateDecision,
    GateSettings,
    log_scale_problem,
    paired_differences,
    paired_test_name,
)
from benchstone.gates.wording import confidence, percent
from benchstone.kinds import VerdictKind
from benchstone.stats.basic import mean, median
from benchstone.stats.calibrated import orient, to_relative
from benchstone.stats.looks import FIRST_LOOK
from benchstone.stats.sequential import Design, SequentialOutcome, assess, futility_shift


def _describe(name: str, outcome: SequentialOutcome, effect: float | None,
              ci: tuple[float, float] | None, s: GateSettings) -> GateDecision:
    details = [f"alpha {s.alpha:g} is spent over looks at every repetition up to the horizon "
               f"of {outcome.horizon}; re-running and re-evaluating cannot raise it"]
    if outcome.look < FIRST_LOOK:
        return GateDecision(outcome.kind, name, f"{name} (sequential): {outcome.why}",
                            details=details, sequential=outcome)
    look = f"look {outcome.look} of at most {outcome.horizon}"
    if outcome.boundary > 0:
        compare = "<=" if outcome.p_value <= outcome.boundary else ">"
        test = f"p={outcome.p_value:.4g} {compare} boundary {outcome.boundary:.4g}"
    else:
        test = f"p={outcome.p_value:.4g}, no promotion possible at this look"
    improvement = f", improvement {effect:+.2%}" if effect is not None else ""
    ci_text = ""
    if ci is not None:
        ci_text = (f", {confidence(outcome.boundary)} CI "
                   f"[{percent(ci[0])}, {percent(ci[1])}]")
    reason = (f"{name} (sequential, {look}): {outcome.why}; {test}{improvement}{ci_text} "
              f"(alpha {s.alpha:g}, direction={s.direction})")
    if outcome.looks > outcome.horizon:
        details.append(f"{outcome.looks - outcome.horizon} value(s) beyond the horizon are not "
                       "used")
    return GateDecision(outcome.kind, name, reason, statistic=None, statistic_name=None,
                        threshold=outcome.boundary if outcome.boundary > 0 else None,
                        p_value=outcome.p_value, effect=effect, effect_ci=ci, details=details,
                        sequential=outcome)


def _relative_interval(outcome: SequentialOutcome, relative) -> tuple[float, float] | None:
    if outcome.interval is None:
        return None
    low, high = sorted(relative(bound) for bound in outcome.interval)
    return low, high


def decide_sequential(baseline: Sequence[float], candidate: Sequence[float],
                      settings: GateSettings, horizon: int) -> GateDecision:
    """The policy's one-sided test repeated at every candidate run, boundaries spending alpha."""
    import numpy as np

    s = settings
    if len(baseline) < MIN_PER_SIDE:
        return GateDecision(VerdictKind.NEEDS_MORE_DATA, s.policy, f"baseline has {len(baseline)} ok "
                            f"run(s), need {MIN_PER_SIDE}")
    if problem := log_scale_problem(s.policy, s, baseline, candidate):
        return problem
    b = orient(np.asarray(baseline, dtype=float), s.direction, s.log_scale)
    c = orient(np.asarray(candidate, dtype=float), s.direction, s.log_scale)
    centre = mean(baseline) if s.policy == "welch" else median(baseline)

    def relative(shift: float) -> float:
        return to_relative(shift, centre, s.direction, s.log_scale)

    design = Design(s.policy, horizon, s.alpha, len(baseline))
    outcome = assess(design, c, b, relative, s.min_effect,
                     futility_shift(s.min_effect, s.direction, s.log_scale, centre))
    effect = relative(outcome.shift) if np.isfinite(outcome.shift) else None
    return _describe(s.policy, outcome, effect, _relative_interval(outcome, relative), s)


def decide_paired_sequential(baseline: Sequence[float], candidate: Sequence[float],
                             settings: GateSettings, horizon: int) -> GateDecision:
    """The paired test (signed-rank or t on log ratios) repeated at every pair."""
    import numpy as np

    s = settings
    d, log_scale = paired_differences(baseline, candidate, s.direction)
    centre = mean(baseline) if baseline else 0.0

    def relative(shift: float) -> float:
        return to_relative(shift, centre, s.direction, log_scale)

    name = paired_test_name(s.policy)
    design = Design(name, horizon, s.alpha)
    outcome = assess(design, d, None, relative, s.min_effect,
                     futility_shift(s.min_effect, s.direction, log_scale, centre))
    effect = relative(outcome.shift) if np.isfinite(outcome.shift) else None
    decision = _describe(name, outcome, effect, _relative_interval(outcome, relative), s)
    scale = "log ratios" if log_scale else "differences"
    decision.details.append(f"{len(d)} pair(s), test on {scale}")
    return decision
