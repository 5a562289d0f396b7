"""``explain``: why the gate said what it said, for a person at a terminal.

Pure functions from a verdict (which carries both samples) and the benchmark's settings to
lines of text: a strip plot of the two samples on one axis, the test and what it assumes, and
the power the current sample sizes give. Only the CLI prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field

from benchstone.gates.verdict import Verdict
from benchstone.project.manifest import BenchmarkSpec
from benchstone.stats.basic import median
from benchstone.stats.distributions import normal_sf, student_t_quantile

PLOT_WIDTH = 56
STACK_MARKS = ".oO@"  # 1, 2, 3, 4 or more runs in one column
TARGET_POWER = 0.8


class Explanation(BaseModel):
    verdict: Verdict
    plot: list[str] = Field(default_factory=list)
    test: list[str] = Field(default_factory=list)
    power: list[str] = Field(default_factory=list)
    power_at_min_effect: float | None = None
    detectable_effect: float | None = None


def strip_plot(samples: Sequence[tuple[str, Sequence[float]]], direction: str | None,
               width: int = PLOT_WIDTH) -> list[str]:
    """One row per sample on a shared axis: a mark per run (stacked runs get a bigger mark)
    and '|' at the median."""
    values = [v for _, sample in samples for v in sample]
    if not values:
        return ["(no values to plot)"]
    low, high = min(values), max(values)
    span = high - low or abs(high) or 1.0

    def column(value: float) -> int:
        return min(width - 1, max(0, round((value - low) / span * (width - 1))))

    label_width = max(len(name) for name, _ in samples)
    lines = [f"{'':<{label_width}}  {_number(low):<{width // 2}}{_number(high):>{width - width // 2}}"]
    for name, sample in samples:
        counts = [0] * width
        for value in sample:
            counts[column(value)] += 1
        row = [STACK_MARKS[min(c, len(STACK_MARKS)) - 1] if c else " " for c in counts]
        if sample:
            middle = column(median(sample))
            row[middle] = "|" if counts[middle] == 0 else row[middle]
        centre = f"median {_number(median(sample))}" if sample else "no runs"
        lines.append(f"{name:<{label_width}} [{''.join(row)}] n={len(sample)} {centre}")
    if direction:
        better = "<- better" if direction == "minimize" else "better ->"
        lines.append(f"{'':<{label_width}}  {better:^{width}} ({direction})")
    return lines


def _number(value: float) -> str:
    return f"{value:.5g}"


TEST_TEXT = {
    "welch": ["one-sided Welch t-test of the means{scale}",
              "assumes: independent runs with roughly normal{noise} noise; unequal variances are "
              "allowed (the boundaries hold for a spread ratio of 1/4 to 4); tied values are "
              "judged by the rank test; a crossing promotes only when the exact rank test of "
              "the same look confirms it, which holds the level for any noise shape (bimodal "
              "included) that is the same on both sides"],
    "rank": ["one-sided Mann-Whitney rank test (exact distribution; ties count as not better "
             "in the sequential looks, which only makes it stricter)",
             "assumes: independent runs; no assumption about the shape of the noise (the "
             "boundaries also hold when the spreads differ, by a ratio of 1/4 to 4)"],
    "sigma": ["the original benchstone's sigma gate: difference of means over its standard "
              "error, compared with promotion_sigma",
              "not calibrated: at 3 v 3 runs and 2.0 it promotes an unchanged program about 6% "
              "of the time; use gate_policy welch or rank for a stated error rate"],
    "mann_whitney": ["the original benchstone's rank gate: normal-approximation rank z, "
                     "compared with promotion_z",
                     "not calibrated at small samples, and cannot promote below 4 runs a side"],
}

PAIRED_TEXT = ("design = paired: the baseline commit is measured again, interleaved with the "
               "candidate pair by pair on one lease and with one seed per pair, and the test "
               "(signed-rank for rank or mann_whitney, else a t-test on log ratios) is on the "
               "pairs, so a machine or a clock that drifts moves both halves alike")


def method_lines(verdict: Verdict, bench: BenchmarkSpec) -> list[str]:
    if bench.tier == "correctness":
        return [f"the candidate's artifact is compared with the frozen reference "
                f"({bench.reference_policy}); no statistics"]
    policy = bench.gate_policy
    scale = " of log values (log_scale)" if bench.log_scale else ""
    noise = " (log-normal)" if bench.log_scale else ""
    lines = [line.format(scale=scale, noise=noise) for line in TEST_TEXT.get(policy, [policy])]
    if bench.is_paired:
        lines = [PAIRED_TEXT]
    sequential = verdict.sequential
    if sequential is not None:
        boundary = (f"boundary p <= {sequential.boundary:.4g}" if sequential.boundary
                    else "no promotion possible at this look")
        lines.append(
            f"sequential: the test is repeated after every run up to {sequential.horizon} "
            f"(max_repetitions); alpha {bench.alpha:g} is spent across the looks, so the "
            f"false-promote rate stays <= {bench.alpha:g} however often it is run and asked; "
            f"now at look {sequential.look} of {sequential.runs} run(s), {boundary}")
    elif bench.gate_policy in ("welch", "rank"):
        lines.append(f"false-promote rate <= alpha = {bench.alpha:g}")
    if bench.min_effect:
        lines.append(f"PROMOTE also needs an estimated improvement >= min_effect "
                     f"{bench.min_effect:.2%}")
    return lines


def power_of(effect: float, spread: float, n_b: int, n_c: int, level: float,
             rank: bool = False) -> float:
    """Approximate power of the one-sided two-sample test at ``level`` to detect a relative
    improvement ``effect`` when runs vary with relative spread ``spread`` (the coefficient of
    variation): a noncentral t; a rank test counts as 3/pi of the runs (its efficiency under
    normal noise)."""
    from scipy import special  # the noncentral t; not scipy.stats, seconds to import

    if level <= 0 or spread <= 0 or n_b < 2 or n_c < 2:
        return 0.0
    efficiency = 3 / math.pi if rank else 1.0
    se = spread * math.sqrt(1 / (n_b * efficiency) + 1 / (n_c * efficiency))
    df = max(n_b + n_c - 2, 1)
    critical = -student_t_quantile(level, df)
    return 1.0 - float(special.nctdtr(df, math.log1p(effect) / se, critical))


def detectable_effect(spread: float, n_b: int, n_c: int, level: float, rank: bool = False,
                      target: float = TARGET_POWER) -> float | None:
    """The smallest relative improvement detected with power ``target`` (bisection)."""
    if power_of(4.0, spread, n_b, n_c, level, rank) < target:
        return None
    low, high = 0.0, 4.0
    for _ in range(60):
        middle = (low + high) / 2
        if power_of(middle, spread, n_b, n_c, level, rank) >= target:
            high = middle
        else:
            low = middle
    return high


def _relative_spread(*samples: Sequence[float]) -> float | None:
    """The pooled within-sample standard deviation of log values (about the coefficient of
    variation), so that a shift between the samples does not count as noise."""
    if any(len(s) < 2 or min(s) <= 0 for s in samples):
        return None
    squares, df = 0.0, 0
    for sample in samples:
        logs = [math.log(v) for v in sample]
        centre = sum(logs) / len(logs)
        squares += sum((x - centre) ** 2 for x in logs)
        df += len(logs) - 1
    return math.sqrt(squares / df)


def _level(verdict: Verdict, bench: BenchmarkSpec) -> tuple[float, str]:
    """The one-sided level the gate applies now, and how to say it."""
    if verdict.sequential is not None:
        return verdict.sequential.boundary or 0.0, "at this look's boundary"
    if bench.gate_policy in ("welch", "rank"):
        return bench.alpha, f"at alpha {bench.alpha:g}"
    threshold = bench.promotion_sigma if bench.gate_policy == "sigma" else bench.rank_threshold
    nominal = normal_sf(threshold)
    return nominal, f"at threshold {threshold:g} (nominally {nominal:.1%})"


def explain(verdict: Verdict, bench: BenchmarkSpec) -> Explanation:
    b = verdict.baseline.values if verdict.baseline else []
    c = verdict.candidate.values if verdict.candidate else []
    plot = strip_plot([("baseline", b), ("candidate", c)], bench.metric_direction)
    explanation = Explanation(verdict=verdict, plot=plot, test=method_lines(verdict, bench))
    spread = _relative_spread(b, c)
    if not bench.is_stochastic:
        return explanation
    if spread is None:
        explanation.power = ["power: needs at least 2 positive values on each side"]
        return explanation
    level, where = _level(verdict, bench)
    rank = bench.gate_policy in ("rank", "mann_whitney")
    lines = [f"noise: runs vary by about {spread:.2%} (coefficient of variation within each side)"]
    if bench.min_effect > 0:
        power = power_of(bench.min_effect, spread, len(b), len(c), level, rank)
        explanation.power_at_min_effect = power
        lines.append(f"power to detect min_effect {bench.min_effect:.2%} with {len(b)} v "
                     f"{len(c)} runs {where}: {power:.0%}")
    smallest = detectable_effect(spread, len(b), len(c), level, rank)
    explanation.detectable_effect = smallest
    if smallest is None:
        lines.append(f"no improvement is detectable with {TARGET_POWER:.0%} power with "
                     f"{len(b)} v {len(c)} runs {where}")
    else:
        lines.append(f"smallest improvement detected with {TARGET_POWER:.0%} power with "
                     f"{len(b)} v {len(c)} runs {where}: {smallest:.2%}")
    if len(b) < 10:
        lines.append(f"the baseline has {len(b)} run(s); its own noise bounds what any number "
                     "of candidate runs can show (a larger baseline_seeds helps)")
    explanation.power = lines
    return explanation


def explanation_lines(explanation: Explanation) -> list[str]:
    verdict = explanation.verdict
    lines = [f"verdict: {verdict.kind}  {verdict.reason}".rstrip(), ""]
    lines.extend(explanation.plot)
    lines.append("")
    lines.extend(f"test: {line}" for line in explanation.test)
    lines.extend(explanation.power)
    lines.extend(f"warning: {w}" for w in verdict.warnings)
    return lines
