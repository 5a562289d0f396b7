"""``run --until-decided``: candidate repetitions one at a time, the sequential gate asked after
each, until it decides or the horizon is reached."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from benchstone.errors import NotSequential
from benchstone.evaluate.samples import EvaluateOptions
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


class UntilDecidedResult(BaseModel):
    """A run that stopped as soon as the sequential gate decided, and that decision."""

    report: RunSetReport | None
    verdict: Verdict
    repetitions: int  # run by this call
    total: int  # ok candidate runs the verdict is based on


def require_sequential(project: Project, bench: BenchmarkSpec) -> None:
    if bench.gate_policy not in CALIBRATED_POLICIES or not bench.is_stochastic:
        raise NotSequential(
            f"{project.name}/{bench.name} uses gate_policy {bench.gate_policy}, which is not "
            "valid under repeated looks",
            fix="set gate_policy = \"welch\" or \"rank\" in the manifest and register it")


def _is_decided(verdict: Verdict) -> bool:
    return verdict.kind != VerdictKind.NEEDS_MORE_DATA or verdict.failures_withhold_promotion


def run_until_decided(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                      options: EvaluateOptions, max_repetitions: int | None,
                      execute: Execute) -> UntilDecidedResult:
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
        return _is_decided(latest[0])

    report = execute(planned, decided)
    final = latest[0]
    total = final.sequential.runs if final.sequential else report.ok
    return UntilDecidedResult(report=report, verdict=final, repetitions=len(report.runs),
                              total=total)
