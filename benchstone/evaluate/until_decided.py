"""``run --until-decided``: candidate repetitions one at a time, the sequential gate asked after
each, until it decides or the horizon is reached. Baseline repetitions (the pointer's commit, on
secret seeds, as ``baseline establish`` runs it) come first when the gate needs them: after a
PROMOTE (the promoted sample is never the next baseline), and before each candidate repetition
whose look needs one more when the baseline grows (``baseline_grows``)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from benchstone.errors import NotSequential
from benchstone.evaluate.samples import EvaluateOptions, baseline_evidence
from benchstone.evaluate.single import evaluate
from benchstone.gates.verdict import Verdict, VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import CALIBRATED_POLICIES, BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.run.runner import RunSetReport
from benchstone.store import Store

StopRule = Callable[[RunSetReport], bool]
# Runs ``planned`` candidate repetitions, calling the stop rule after each; the caller supplies
# it so that the repetitions run under its lease.
Execute = Callable[[int, StopRule], RunSetReport]
# Runs that many repetitions of the baseline pointer's commit (a run set of kind ``baseline``).
ExecuteBaseline = Callable[[int], RunSetReport]


class UntilDecidedResult(BaseModel):
    """A run that stopped as soon as the sequential gate decided, and that decision."""

    # the last candidate run set (a growing baseline's interleaving makes one a repetition)
    report: RunSetReport | None
    verdict: Verdict
    repetitions: int  # candidate repetitions run by this call, in every run set
    total: int  # ok candidate runs the verdict is based on
    baseline_repetitions: int = 0  # baseline repetitions run by this call


def require_sequential(project: Project, bench: BenchmarkSpec) -> None:
    if bench.gate_policy not in CALIBRATED_POLICIES or not bench.is_stochastic:
        raise NotSequential(
            f"{project.name}/{bench.name} uses gate_policy {bench.gate_policy}, which is not "
            "valid under repeated looks",
            fix="set gate_policy = \"welch\" or \"rank\" in the manifest and register it")


def _is_decided(verdict: Verdict) -> bool:
    return verdict.kind != VerdictKind.NEEDS_MORE_DATA or verdict.failures_withhold_promotion


def baseline_needed(store: Store, project: Project, bench: BenchmarkSpec,
                    candidate_runs: int) -> int:
    """How many baseline repetitions the looks up to ``candidate_runs`` still need: those a
    promoted baseline misses (fresh runs of the promoted commit), or, for a growing baseline,
    enough for look m to use max(first, m) of them. 0 for a seed policy or a paired design."""
    if bench.gate_policy not in CALIBRATED_POLICIES or bench.is_paired or not bench.is_stochastic:
        return 0
    pointer = store.current_pointer(project.name, bench.name)
    if pointer is None:
        return 0
    evidence = baseline_evidence(store, project, bench, pointer)
    if evidence.missing or evidence.first is None:
        return evidence.missing
    return max(max(evidence.first, candidate_runs) - len(evidence.runs), 0)


def baseline_wanted(store: Store, project: Project, bench: BenchmarkSpec,
                    verdict: Verdict) -> int:
    """How many baseline repetitions to run before the next candidate repetition (for a growing
    baseline, one when the next look needs it: one of each, interleaved, once past first)."""
    done = verdict.candidate.n if verdict.candidate else 0
    return baseline_needed(store, project, bench, done + 1)


def run_until_decided(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                      options: EvaluateOptions, max_repetitions: int | None,
                      execute: Execute,
                      execute_baseline: ExecuteBaseline | None = None) -> UntilDecidedResult:
    require_sequential(project, bench)
    verdict = evaluate(store, home, project, bench, options)
    done = verdict.sequential.runs if verdict.sequential else 0
    room = max(bench.max_repetitions - done, 0)
    planned = min(room, max_repetitions) if max_repetitions is not None else room
    if _is_decided(verdict) or verdict.baseline is None or planned == 0:
        return UntilDecidedResult(report=None, verdict=verdict, repetitions=0, total=done)
    latest: list[Verdict] = [verdict]

    def decided(_report: RunSetReport) -> bool:
        latest[0] = evaluate(store, home, project, bench, options)
        return _is_decided(latest[0]) or (execute_baseline is not None
                                          and baseline_wanted(store, project, bench, latest[0]) > 0)

    report = None
    candidate_runs = baseline_runs = 0
    while candidate_runs < planned:
        wanted = baseline_wanted(store, project, bench, latest[0]) if execute_baseline else 0
        if wanted:
            baseline_report = execute_baseline(wanted)
            baseline_runs += len(baseline_report.runs)
            latest[0] = evaluate(store, home, project, bench, options)
            if not baseline_report.ok or _is_decided(latest[0]):
                break
            continue
        report = execute(planned - candidate_runs, decided)
        candidate_runs += len(report.runs)
        if _is_decided(latest[0]) or not report.runs:
            break
    final = latest[0]
    total = final.sequential.runs if final.sequential else (report.ok if report else 0)
    return UntilDecidedResult(report=report, verdict=final, repetitions=candidate_runs,
                              total=total, baseline_repetitions=baseline_runs)
