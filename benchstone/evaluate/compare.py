"""``compare``: the baseline tree and the candidate tree run side by side, pair by pair; and the
``design = "paired"`` benchmarks, whose ``run`` and ``promote`` are these pairs.

Each pair runs both trees with the same fresh seed, each in a fresh sandbox, in an order drawn
at random (from the comparison's meta seed, so it can be replayed). A shared machine that
drifts, or a seed that makes one input harder, moves both halves of a pair alike, and the
paired test (Wilcoxon signed-rank or a t-test on log ratios) cancels it. With ``--duet`` the
two halves run at the same time instead, on disjoint cores (``benchstone.evaluate.duet``).
The pairs are judged, with those of earlier comparisons of the same trees, by
:mod:`benchstone.evaluate.paired`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from benchstone.errors import CompareError, DirtyTreeError, Interrupted
from benchstone.evaluate.boundary_cache import keep_boundaries_in
from benchstone.evaluate.checks import SAME_COMMIT, tampered
from benchstone.evaluate.duet import duet_plan, run_together, split_cores
from benchstone.evaluate.paired import (
    ALTERNATING,
    DUET,
    SIDES,
    PairsSoFar,
    candidate_failures,
    complete_pairs,
    design_note,
    different_data,
    earlier_pairs,
    failed_baseline_halves,
    paired_verdict,
    with_requirements,
)
from benchstone.evaluate.samples import head_sha
from benchstone.gates.verdict import Verdict
from benchstone.kinds import VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.provenance import is_dirty, protected_files, repository_root, resolve_commit
from benchstone.project.registry import Project
from benchstone.run.environment import derive_seeds, new_meta_seed
from benchstone.run.runlist import RunList
from benchstone.run.runner import Progress, RunRequest, RunSetReport, RunSetSession, check_commit
from benchstone.sandbox import choose_backend, pins_cores
from benchstone.store import Store
from benchstone.store.records import Run, RunSet


@dataclass(frozen=True)
class CompareRequest:
    against: str | None = None  # None or "baseline": the baseline pointer's commit
    pairs: int | None = None  # pairs to run now (default: the manifest's repetitions)
    until_decided: bool = False
    sandbox: str | None = None
    cpuset: str | None = None  # granted by the scheduler to the comparison's lease
    gpus: tuple[int, ...] = ()
    job_id: str | None = None
    # the candidate commit, pinned when the work was requested (a background job, an evaluator's
    # scratch commit); None: HEAD, which must be clean
    candidate: str | None = None
    # both halves of a pair at once, on two disjoint halves of ``cpuset`` (evaluate/duet.py)
    duet: bool = False


class CompareResult(BaseModel):
    comparison_id: int | None
    baseline_sha: str
    candidate_sha: str
    meta_seed: int | None
    pairs_run: int
    pairs_total: int
    first_sides: list[str] = Field(default_factory=list)  # alternating: who ran first
    design: str = ALTERNATING
    # duet: the cores (baseline's, candidate's) of each pair
    duet_cores: list[tuple[str, str]] = Field(default_factory=list)
    baseline: RunSetReport | None = None
    candidate: RunSetReport | None = None
    verdict: Verdict


def _baseline_sha(store: Store, project: Project, bench: BenchmarkSpec,
                  against: str | None) -> str:
    root = repository_root(project.root)
    if against in (None, "baseline"):
        pointer = store.current_pointer(project.name, bench.name)
        if pointer is None:
            raise CompareError(
                f"{project.name}/{bench.name} has no baseline pointer to compare against",
                fix=f"establish one: bench baseline establish {project.name} {bench.name} "
                "(bench compare also takes --against SHA)")
        return pointer.git_sha
    return resolve_commit(root, against)


def compare(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
            request: CompareRequest, progress: Callable[[str], Progress] | None = None,
            budget: int | None = None,
            stop: Callable[[RunSetReport], bool] | None = None) -> CompareResult:
    """Run pairs of the baseline commit and HEAD (or ``request.candidate``), alternately (or
    at once with ``request.duet``), and gate them paired.

    ``progress`` makes the callbacks for one side; ``budget`` caps the pairs of an
    ``until_decided`` comparison (default: up to the horizon); ``stop``, asked with the
    candidate's report after every pair, may end it early."""
    if not bench.is_stochastic:
        raise CompareError(f"{bench.name} is a correctness benchmark: there is nothing to "
                           "compare statistically", fix=f"bench evaluate {project.name} "
                           f"{bench.name}")
    keep_boundaries_in(home)
    if request.duet:
        duet_sets(bench, request)  # refused before anything is recorded
    baseline_sha = _baseline_sha(store, project, bench, request.against)
    root = repository_root(project.root)
    candidate_sha = (resolve_commit(root, request.candidate) if request.candidate
                     else head_sha(project))
    shas = (baseline_sha, candidate_sha)
    if request.candidate is None and is_dirty(root):  # checked before anything is recorded
        raise DirtyTreeError(f"{root} has uncommitted changes",
                             fix="commit or stash them: the pairs measure the committed HEAD")
    before, after = (protected_files(root, sha, bench.protected_paths) for sha in shas)
    warnings = [] if baseline_sha != candidate_sha else [SAME_COMMIT]
    if not bench.is_paired:
        warnings.append("design = classic: these pairs decide this comparison only; bench "
                        "promote judges the run sets of bench run (with design = \"paired\", "
                        "run, evaluate and promote use these pairs)")
    designs: dict[str, int] = {}
    so_far = earlier_pairs(store, project, bench, baseline_sha, candidate_sha, designs,
                           notes=warnings)
    pairs = so_far.pairs
    if before.digest != after.digest:
        changed = before.changed_from(after)
        verdict = tampered(project, bench, changed, "protected files differ between the two commits",
                           new_baseline_advice=False, warnings=warnings)
        return CompareResult(comparison_id=None, baseline_sha=baseline_sha,
                             candidate_sha=candidate_sha, meta_seed=None, pairs_run=0,
                             pairs_total=len(pairs), verdict=verdict)
    if pairs:
        warnings.append(f"{len(pairs)} pair(s) from earlier comparisons of these commits count")
        if (note := design_note(designs)) is not None:
            warnings.append(f"of those, {note}")
    room = max(bench.max_repetitions - len(pairs), 0)
    planned = min(room, budget or room) if request.until_decided else (
        request.pairs or bench.run_repetitions)
    verdict = paired_verdict(project, bench, pairs, shas, warnings, so_far.failed,
                             baseline_failed=so_far.baseline_failed)
    if planned <= 0 or (request.until_decided and (verdict.kind != VerdictKind.NEEDS_MORE_DATA
                                                   or verdict.failures_withhold_promotion)):
        verdict = with_requirements(store, home, project, bench, verdict, candidate_sha)
        return CompareResult(comparison_id=None, baseline_sha=baseline_sha,
                             candidate_sha=candidate_sha, meta_seed=None, pairs_run=0,
                             pairs_total=len(pairs), verdict=verdict)
    return _run_pairs(store, home, project, bench, request, progress, shas, so_far, planned,
                      warnings, stop)


def _run_pairs(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
               request: CompareRequest, progress: Callable[[str], Progress] | None,
               shas: tuple[str, str], so_far: PairsSoFar, planned: int,
               warnings: list[str],
               stop: Callable[[RunSetReport], bool] | None = None) -> CompareResult:
    check_commit(store, home, project, bench, shas[0], allow_dirty=False)  # before any row
    meta_seed = new_meta_seed()
    seeds = derive_seeds(meta_seed, planned)
    order = random.Random(meta_seed)  # replayable: the order follows from the meta seed
    design = DUET if request.duet else ALTERNATING
    sets = duet_sets(bench, request) if request.duet else None
    # drawn only for a duet, so an alternating comparison's order stays what its seed gave
    plan = duet_plan(sets, planned, order) if sets is not None else None
    comparison = store.add_comparison(project=project.name, benchmark=bench.name,
                                      baseline_sha=shas[0], candidate_sha=shas[1], pairs=planned,
                                      design=design)
    if sets is not None:
        warnings = [*warnings, f"design: duet, both halves of each new pair at once on cores "
                    f"{sets[0]} and {sets[1]}, swapped within every two pairs"]
    sessions: dict[str, RunSetSession] = {}
    first_sides: list[str] = []
    duet_cores: list[tuple[str, str]] = []
    ran = 0
    pairs = so_far.pairs
    new_pairs: list[tuple[float, float]] = []
    new_failed = new_baseline_failed = 0
    verdict: Verdict | None = None
    try:
        for side, revision in zip(SIDES, (shas[0], request.candidate), strict=True):
            sessions[side] = RunSetSession(
                store, home, project, bench,
                RunRequest(kind="compare", revision=revision, meta_seed=meta_seed, seeds=seeds,
                           seeds_from="harness",
                           sandbox=request.sandbox, comparison_id=comparison.id, side=side,
                           cpuset=request.cpuset, gpus=request.gpus, job_id=request.job_id,
                           cores_per_repetition=request.duet),
                progress(side) if progress else None)
        opened = [session.run_set for session in sessions.values() if session.run_set]
        # the candidate's session reads HEAD again (its dirty check needs the working tree):
        # a HEAD moved since would run one commit's halves under the other's name
        moved_to = next((rs.git_sha for rs in opened if rs.side == "candidate"
                         and rs.git_sha != shas[1]), None)
        if moved_to is not None:
            raise CompareError(f"HEAD moved from {shas[1][:10]} to {moved_to[:10]} while the "
                               "comparison began, so neither is compared",
                               fix="run again once the working tree stays at one commit")
        if (why := different_data(opened)) is not None:  # the corpus moved between the checks
            raise CompareError(f"the two halves would run on different data: {why}",
                               fix="compare again once the corpus stays put")
        for index in range(planned):
            if plan is not None:
                cores = plan[index]
                duet_cores.append((cores["baseline"], cores["candidate"]))
                ran += 1
                run_together(sessions, cores, store.path)
            else:
                sides = list(SIDES)
                order.shuffle(sides)
                first_sides.append(sides[0])
                ran += 1
                for side in sides:
                    sessions[side].repeat()
            runs = {side: sessions[side].runs for side in SIDES}
            new_pairs = complete_pairs(runs, bench.metric_source)
            new_failed = candidate_failures(runs)
            new_baseline_failed = failed_baseline_halves(runs)
            if request.until_decided:
                verdict = paired_verdict(project, bench, pairs + new_pairs, shas, warnings,
                                         so_far.failed + new_failed,
                                         baseline_failed=so_far.baseline_failed + new_baseline_failed)
                if verdict.kind != VerdictKind.NEEDS_MORE_DATA or verdict.failures_withhold_promotion:
                    break  # decided, or a failed candidate half: no pair can promote now
            if stop is not None and stop(sessions["candidate"].report()):
                break
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: {ran} pair(s) of comparison "
                          f"{comparison.id} were recorded and kept") from None
    finally:
        for session in sessions.values():
            session.close()
    if verdict is None or not request.until_decided:
        verdict = paired_verdict(project, bench, pairs + new_pairs, shas, warnings,
                                 so_far.failed + new_failed,
                                 baseline_failed=so_far.baseline_failed + new_baseline_failed)
    return CompareResult(
        comparison_id=comparison.id, baseline_sha=shas[0], candidate_sha=shas[1],
        meta_seed=meta_seed, pairs_run=ran, pairs_total=len(pairs + new_pairs),
        first_sides=first_sides, design=design, duet_cores=duet_cores,
        baseline=sessions["baseline"].report(),
        candidate=sessions["candidate"].report(),
        verdict=with_requirements(store, home, project, bench, verdict, shas[1]))


def require_pinning(bench: BenchmarkSpec, sandbox: str | None) -> None:
    """CompareError naming the fix when the sandbox a duet would use cannot pin a half to its
    cores: unpinned, the halves would share cores and measure each other."""
    backend = choose_backend(sandbox, bench.sandbox)
    if not pins_cores(backend):
        raise CompareError(f"--duet needs a sandbox that pins each half to cores of its own; "
                           f"the {backend} sandbox cannot pin here",
                           fix="use the docker sandbox (--sandbox docker), or run without --duet")


def duet_sets(bench: BenchmarkSpec, request: CompareRequest) -> tuple[str, str]:
    """The two disjoint core sets of a duet inside the lease's cpuset; CompareError naming the
    fix when the sandbox cannot pin a half to its cores or the lease is too small."""
    require_pinning(bench, request.sandbox)
    return split_cores(request.cpuset or "", bench.threads)


class PairedRuns(RunList):
    """Under ``design = "paired"``: the candidate halves' rows, in order, with the whole
    comparison (both halves and the verdict on every pair so far) as ``.comparison`` and
    ``.model``. Empty when no pair ran (protected files differ: ``evaluate`` says TAMPERED)."""

    def __init__(self, comparison: CompareResult) -> None:
        list.__init__(self, comparison.candidate.runs if comparison.candidate else [])
        self.report = comparison.candidate  # type: ignore[assignment]
        self.comparison = comparison

    @property
    def model(self) -> CompareResult:  # type: ignore[override]
        return self.comparison

    @property
    def run_set(self) -> RunSet | None:  # type: ignore[override]
        return self.report.run_set if self.report else None

    @property
    def runs(self) -> list[Run]:
        return self.report.runs if self.report else []

    @property
    def ok(self) -> int:
        return self.report.ok if self.report else 0

    def __repr__(self) -> str:
        return (f"PairedRuns(comparison={self.comparison.comparison_id}, runs={len(self)}, "
                f"ok={self.ok}, verdict={self.comparison.verdict.kind})")
