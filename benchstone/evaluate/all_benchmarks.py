"""``evaluate --all``: every benchmark of a project at once, and one overall verdict.

Each benchmark is evaluated as on its own. The benchmarks with a calibrated policy (``welch``,
``rank``) form one family whose PROMOTEs are chosen by the Benjamini-Hochberg procedure at
false-discovery rate ``fdr`` (default: the smallest ``alpha`` among them), so that testing many
benchmarks does not multiply false promotions. A benchmark's p-value for that purpose is the
smallest level of the grid ``fdr * k / m`` at which its sequential test promotes.

The overall verdict: REJECT if any benchmark regressed (its test run the other way round is
significant at its own alpha, or the seed gates' statistic is below minus their threshold),
FAILed or was TAMPERED; else PROMOTE if at least one benchmark promotes; else
NEEDS_MORE_DATA if any benchmark lacks data; else REJECT.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from benchstone.errors import InvalidArgument
from benchstone.evaluate.checks import settings_for
from benchstone.evaluate.samples import EvaluateOptions
from benchstone.evaluate.single import evaluate
from benchstone.gates.policies import GateDecision, GateSettings
from benchstone.gates.sequential import decide_paired_sequential, decide_sequential
from benchstone.gates.verdict import Verdict, exit_code_for
from benchstone.kinds import WAITING_KINDS, VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import CALIBRATED_POLICIES, BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.stats.basic import benjamini_hochberg
from benchstone.store import Store


class AllVerdict(BaseModel):
    """The verdict on every benchmark of a project, and the overall one."""

    project: str
    kind: VerdictKind
    reason: str
    fdr: float | None = None
    benchmarks: list[Verdict] = Field(default_factory=list)
    regressed: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.kind)


def _decide(bench: BenchmarkSpec, baseline: list[float], candidate: list[float],
            settings: GateSettings, baseline_first: int | None = None) -> GateDecision:
    """The benchmark's own sequential test: on pairs under ``design = "paired"``, against a
    growing baseline when the verdict's did (``baseline_first``)."""
    if bench.is_paired:
        return decide_paired_sequential(baseline, candidate, settings, bench.max_repetitions)
    return decide_sequential(baseline, candidate, settings, bench.max_repetitions,
                             first_baseline=baseline_first)


def _first(verdict: Verdict) -> int | None:
    return verdict.sequential.baseline_first if verdict.sequential else None


def _gateable(verdict: Verdict, bench: BenchmarkSpec) -> bool:
    """In the Benjamini-Hochberg family: a calibrated policy (or the paired design) with a
    test to repeat."""
    return (bench.is_stochastic and (bench.gate_policy in CALIBRATED_POLICIES or bench.is_paired)
            and verdict.sequential is not None and verdict.baseline is not None
            and verdict.candidate is not None and verdict.candidate.n >= 2
            and verdict.kind in (VerdictKind.PROMOTE, VerdictKind.REJECT, VerdictKind.NEEDS_MORE_DATA))


def _testable(verdict: Verdict, bench: BenchmarkSpec) -> bool:
    """A calibrated policy with two samples of at least two values (an exact verdict, too)."""
    return (bench.is_stochastic and bench.gate_policy in CALIBRATED_POLICIES
            and verdict.baseline is not None and verdict.candidate is not None
            and verdict.baseline.n >= 2 and verdict.candidate.n >= 2
            and verdict.kind in (VerdictKind.PROMOTE, VerdictKind.REJECT))


def _promotes(verdict: Verdict, bench: BenchmarkSpec, level: float) -> bool:
    assert verdict.baseline is not None and verdict.candidate is not None
    decision = _decide(bench, verdict.baseline.values, verdict.candidate.values,
                       settings_for(bench, alpha=level), _first(verdict))
    return decision.kind == VerdictKind.PROMOTE


def grid_p_value(verdict: Verdict, bench: BenchmarkSpec, levels: list[float]) -> float:
    """The smallest level in ``levels`` (ascending) at which the test promotes, else 1.
    Promotion is monotone in the level, so a bisection finds it. Failed candidate repetitions
    withhold PROMOTE at every level."""
    if verdict.failures_withhold_promotion:
        return 1.0
    low, high = 0, len(levels)
    while low < high:
        middle = (low + high) // 2
        if _promotes(verdict, bench, levels[middle]):
            high = middle
        else:
            low = middle + 1
    return levels[low] if low < len(levels) else 1.0


def regressed(verdict: Verdict, bench: BenchmarkSpec) -> bool:
    """Significantly worse than the baseline, at the benchmark's own alpha."""
    if verdict.kind in (VerdictKind.FAIL, VerdictKind.TAMPERED):
        return False
    exact = verdict.sequential is None and (bench.deterministic or bench.resolution > 0)
    if _gateable(verdict, bench) or (exact and _testable(verdict, bench)):
        assert verdict.baseline is not None and verdict.candidate is not None
        flipped = "maximize" if bench.metric_direction == "minimize" else "minimize"
        decision = _decide(bench, verdict.baseline.values, verdict.candidate.values,
                           settings_for(bench, direction=flipped, min_effect=0.0),
                           _first(verdict))
        return decision.kind == VerdictKind.PROMOTE
    if verdict.statistic is not None and verdict.threshold is not None:
        return verdict.statistic <= -verdict.threshold  # the seed gates' z or sigma
    return False


def evaluate_all(store: Store, home: Home, project: Project, options: EvaluateOptions,
                 fdr: float | None = None) -> AllVerdict:
    benches = [project.benchmark(spec.name) for spec in project.manifest.benchmarks]
    verdicts = [evaluate(store, home, project, bench, options) for bench in benches]
    family = [i for i, (v, b) in enumerate(zip(verdicts, benches, strict=True)) if _gateable(v, b)]
    warnings = [f"{b.name}: gate_policy {b.gate_policy} has no p-value, so it is outside the "
                "false-discovery-rate family" for b, v in zip(benches, verdicts, strict=True)
                if b.is_stochastic and b.gate_policy not in CALIBRATED_POLICIES
                and not b.is_paired]
    pinned = min((benches[i].alpha for i in family), default=None)
    if fdr is not None and not 0 < fdr <= 1:  # NaN included
        raise InvalidArgument(f"--fdr {fdr:g} is not a rate above 0 and at most 1",
                              fix="pass an --fdr above 0, at most the benchmarks' alpha")
    if fdr is not None and pinned is not None and fdr > pinned:
        # the manifest pins the error rates, and a caller may only ask for a stricter one
        raise InvalidArgument(
            f"--fdr {fdr:g} is above the alpha the manifest pins ({pinned:g}): a "
            "false-discovery rate may make the gates stricter, never looser",
            fix=f"pass an --fdr above 0 and at most {pinned:g}, or leave it out (the default "
                f"is {pinned:g})")
    q = fdr if fdr is not None else pinned
    if fdr is not None and not family:
        warnings.append(f"--fdr {fdr:g} adjusted nothing: no benchmark has a p-value from a "
                        "calibrated or paired gate to adjust")
    if family and q is not None:
        levels = [q * k / len(family) for k in range(1, len(family) + 1)]
        p_values = [grid_p_value(verdicts[i], benches[i], levels) for i in family]
        for i, significant, p in zip(family, benjamini_hochberg(p_values, q), p_values,
                                     strict=True):
            verdicts[i] = _adjusted(verdicts[i], significant, p, q, len(family))
    worse = [b.name for b, v in zip(benches, verdicts, strict=True) if regressed(v, b)]
    # repetitions that failed at the commit fail the benchmark there, as a FAIL would (a seed
    # gate says NEEDS_MORE_DATA for them; a calibrated one REJECT, or NEEDS_MORE_DATA while
    # they still run, which is not a failure)
    # and so do failed repetitions of its baseline: else failing one would leave a benchmark
    # out of the whole, free to regress
    failed = [f"{b.name} {v.kind}" + (" (failed baseline repetitions)" if v.baseline_failed
                                      else " (failed repetitions)"
                                      if v.failures_withhold_promotion else "")
              for b, v in zip(benches, verdicts, strict=True)
              if v.kind in (VerdictKind.FAIL, VerdictKind.TAMPERED) or v.baseline_failed
              or (v.failures_withhold_promotion and (v.kind == VerdictKind.REJECT
                                                     or _seed_gate(b)))]
    promoted = [b.name for b, v in zip(benches, verdicts, strict=True) if v.kind == VerdictKind.PROMOTE]
    waiting = [b.name for b, v in zip(benches, verdicts, strict=True) if v.kind in WAITING_KINDS]
    if worse or failed:
        kind = VerdictKind.REJECT
        reason = "; ".join([*(f"{name} regressed" for name in worse), *failed])
    elif promoted:
        kind, reason = VerdictKind.PROMOTE, f"improved: {', '.join(promoted)}; nothing regressed or failed"
    elif waiting:
        kind, reason = VerdictKind.NEEDS_MORE_DATA, f"undecided: {', '.join(waiting)}; nothing improved yet"
    else:
        kind, reason = VerdictKind.REJECT, "no benchmark improved"
    return AllVerdict(project=project.name, kind=kind, reason=reason, fdr=q if family else None,
                      benchmarks=verdicts, regressed=worse, warnings=warnings)


def _seed_gate(bench: BenchmarkSpec) -> bool:
    """The original's sigma and mann_whitney gates, judged on one run set."""
    return (bench.is_stochastic and bench.gate_policy not in CALIBRATED_POLICIES
            and not bench.is_paired)


def _adjusted(verdict: Verdict, significant: bool, p: float, q: float, m: int) -> Verdict:
    """A family member's verdict after Benjamini-Hochberg. At a rate no looser than the
    benchmark's alpha it can only withhold a PROMOTE, never grant one the gate alone did not."""
    note = (f"Benjamini-Hochberg across {m} benchmark(s) at false-discovery rate {q:g}: "
            f"{'significant' if significant else 'not significant'} (grid p-value "
            f"{'> ' + format(q, 'g') if p >= 1 else format(p, '.4g')})")
    details = [*verdict.details, note]
    if significant or verdict.kind != VerdictKind.PROMOTE:
        return verdict.model_copy(update={"details": details})
    spent = verdict.sequential is not None and verdict.sequential.runs >= verdict.sequential.horizon
    return verdict.model_copy(update={
        "kind": VerdictKind.REJECT if spent else VerdictKind.NEEDS_MORE_DATA, "details": details,
        "reason": f"significant alone but not after Benjamini-Hochberg across {m} benchmarks; "
                  f"the gate alone said: {verdict.reason}"})
