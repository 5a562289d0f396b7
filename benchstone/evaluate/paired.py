"""Judging recorded pairs: the sequential paired gate over every complete pair of the baseline
commit and a candidate's tree, for ``evaluate`` of a ``design = "paired"`` benchmark and for
``compare`` after each pair it runs (:mod:`benchstone.evaluate.compare`).

The evidence of earlier comparisons of the baseline's tree with the candidate's tree (an empty
or message-only commit holds the same tree) counts: pairs accumulate into one sequential test
(:mod:`benchstone.stats.sequential`) with the manifest's ``max_repetitions`` pairs as its
horizon, so comparing again until green gains nothing. A pair that lost either half counts
against the candidate, and the halves of a comparison that ran on different data are never
paired. Nothing here runs a repetition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchstone.errors import GitError
from benchstone.evaluate.boundary_cache import keep_boundaries_in
from benchstone.evaluate.checks import (
    SAME_COMMIT,
    already_promoted,
    no_baseline,
    sequential_summary,
    settings_for,
    tampered,
    verdict_for,
    withheld_for_failures,
)
from benchstone.evaluate.correctness import apply_requirements
from benchstone.evaluate.samples import EvaluateOptions, still_running
from benchstone.gates.sequential import decide_paired_sequential
from benchstone.gates.verdict import Sample, Verdict
from benchstone.kinds import VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.provenance import protected_files, repository_root, tree_of
from benchstone.project.registry import Project
from benchstone.run.environment import corpus_difference
from benchstone.store import Store
from benchstone.store.records import Comparison, Run, RunSet

SIDES = ("baseline", "candidate")
ALTERNATING = "alternating"  # one half after the other, in random order
DUET = "duet"  # both halves at once, on disjoint cores (benchstone.evaluate.duet)


def complete_pairs(runs: dict[str, list[Run]], source: str) -> list[tuple[float, float]]:
    """(baseline, candidate) values of the pairs where both halves are ok, in pair order."""
    by_index = {side: {run.repetition: run.gated_value(source) for run in runs[side]}
                for side in SIDES}
    pairs = []
    for index in sorted(by_index["baseline"]):
        b, c = by_index["baseline"][index], by_index["candidate"].get(index)
        if b is not None and c is not None:
            pairs.append((b, c))
    return pairs


def incomplete_pairs(runs: dict[str, list[Run]]) -> set[int]:
    """The pairs, by index, that have a row on either side but not two ok halves: a half that
    failed, or one whose other half failed or never ran. Dropping such a pair quietly would let
    a stop (or a crash) between the halves of a pair censor the halves it chose: the slow
    candidate halves, or the fast baseline ones."""
    ok = [{run.repetition for run in runs[side] if run.status == "ok"} for side in SIDES]
    recorded = {run.repetition for side in SIDES for run in runs[side]}
    return recorded - (ok[0] & ok[1])


def candidate_failures(runs: dict[str, list[Run]]) -> int:
    """Pairs that count against the candidate (``incomplete_pairs``): while there are any, the
    gate does not promote."""
    return len(incomplete_pairs(runs))


def failed_baseline_halves(runs: dict[str, list[Run]]) -> int:
    """Pairs whose baseline half has a row that is not ok: counted against the candidate all
    the same, but the advice differs when it is the baseline's commit that fails."""
    return len({run.repetition for run in runs["baseline"] if run.status != "ok"})


@dataclass
class PairsSoFar:
    """What earlier comparisons of the two trees hold: their complete pairs, oldest first, the
    pairs that count against the candidate (``failed``), and how many of those lost their
    baseline half (``baseline_failed``)."""

    pairs: list[tuple[float, float]] = field(default_factory=list)
    failed: int = 0
    baseline_failed: int = 0


def comparisons_of_trees(store: Store, project: Project, bench: BenchmarkSpec,
                         baseline_sha: str, candidate_sha: str) -> list[Comparison]:
    """Every comparison of a commit holding ``baseline_sha``'s tree with a commit holding
    ``candidate_sha``'s, oldest first: an empty or message-only commit, on either side,
    continues the same sequential test (pointing the baseline at another commit of the same
    tree does not start a new one)."""
    root = repository_root(project.root)
    tree = tree_of(root, candidate_sha)
    ids = sorted({rs.comparison_id for rs in store.run_sets_of_tree(
        project.name, bench.name, tree_sha=tree, git_sha=candidate_sha, kinds=("compare",))
        if rs.side == "candidate" and rs.comparison_id is not None})
    found = [c for c in (store.comparison(comparison_id) for comparison_id in ids)
             if c is not None]
    baseline_tree = tree_of(root, baseline_sha)
    trees = {baseline_sha: baseline_tree}
    for sha in {c.baseline_sha for c in found} - set(trees):
        try:
            trees[sha] = tree_of(root, sha)
        except GitError:  # a commit no longer in the repository holds no tree to match
            trees[sha] = ""
    return [c for c in found if trees[c.baseline_sha] == baseline_tree]


def different_data(sets: list[RunSet]) -> str | None:
    """Why the halves of one comparison must not be paired for the data they ran on (a
    harness-owned corpus pointed elsewhere between the two halves' checks), or None."""
    halves = [[rs for rs in sets if rs.side == side] for side in SIDES]
    for baseline in halves[0]:
        for candidate in halves[1]:
            if (why := corpus_difference(baseline.environment, candidate.environment)):
                return why
    return None


def earlier_pairs(store: Store, project: Project, bench: BenchmarkSpec, baseline_sha: str,
                  candidate_sha: str, designs: dict[str, int] | None = None,
                  notes: list[str] | None = None, running: list[int] | None = None
                  ) -> PairsSoFar:
    """The pairs of every earlier comparison of the baseline commit with the candidate's tree
    (``PairsSoFar``: a pair counts against the candidate when a half failed, never finished or
    was left alone). ``designs``, when given, receives the number of complete pairs per
    design; ``notes`` why a comparison was left out (its halves ran on different data);
    ``running`` how many of the pairs counted are of a comparison whose harness still runs
    (in progress, not lost)."""
    so_far = PairsSoFar()
    for comparison in comparisons_of_trees(store, project, bench, baseline_sha, candidate_sha):
        sets = store.run_sets(project.name, bench.name, kinds=("compare",),
                              comparison_id=comparison.id)
        if (why := different_data(sets)) is not None:
            if notes is not None:
                notes.append(f"comparison {comparison.id} is left out: {why}")
            continue
        runs = {side: store.runs_of([rs.id for rs in sets if rs.side == side]) for side in SIDES}
        complete = complete_pairs(runs, bench.metric_source)
        so_far.pairs.extend(complete)
        if designs is not None:
            design = comparison.design or ALTERNATING
            designs[design] = designs.get(design, 0) + len(complete)
        unfinished = {index for rs in sets if rs.side == "candidate"
                      for index in store.unfinished_repetition_indices(rs.id)}
        lost = len(incomplete_pairs(runs) | unfinished)
        so_far.failed += lost
        so_far.baseline_failed += failed_baseline_halves(runs)
        if running is not None and lost and still_running(store, sets):
            running.append(lost)
    return so_far


def design_note(designs: dict[str, int]) -> str | None:
    """Which designs the pairs in the gate ran under, when any ran as a duet."""
    if not designs.get(DUET):
        return None
    return (f"{designs[DUET]} pair(s) ran as duets (both halves at once, on disjoint cores), "
            f"{designs.get(ALTERNATING, 0)} alternating (one half after the other)")


def paired_verdict(project: Project, bench: BenchmarkSpec, pairs: list[tuple[float, float]],
                   shas: tuple[str, str], warnings: list[str], failed: int = 0,
                   running: int = 0, baseline_failed: int = 0) -> Verdict:
    """The sequential paired gate on every complete pair so far; ``failed`` lost pairs (of
    which ``baseline_failed`` lost their baseline half) withhold a PROMOTE."""
    baseline_values = [b for b, _ in pairs]
    candidate_values = [c for _, c in pairs]
    decision = decide_paired_sequential(baseline_values, candidate_values, settings_for(bench),
                                        bench.max_repetitions)
    decision = withheld_for_failures(decision, failed, shas[1], paired=True, running=running,
                                     baseline_failed=baseline_failed)
    summary = sequential_summary(decision)
    samples = [Sample(git_sha=sha, run_set_ids=[], n=len(values), n_errors=errors,
                      values=values, mean=sum(values) / len(values) if values else None)
               for sha, values, errors in zip(shas, (baseline_values, candidate_values),
                                              (0, failed), strict=True)]
    return verdict_for(project, bench, decision.kind, decision.reason, policy=decision.policy,
                       direction=bench.metric_direction, p_value=decision.p_value,
                       threshold=decision.threshold, alpha=bench.alpha, effect=decision.effect,
                       effect_ci=decision.effect_ci, sequential=summary,
                       details=decision.details, warnings=warnings, baseline=samples[0],
                       candidate=samples[1], baseline_mean=samples[0].mean,
                       candidate_mean=samples[1].mean)


def evaluate_paired(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                    git_sha: str) -> Verdict:
    """``evaluate`` under ``design = "paired"``: the sequential paired gate on every pair
    recorded so far of the baseline pointer's commit and ``git_sha``'s tree. Read-only."""
    keep_boundaries_in(home)
    pointer = store.current_pointer(project.name, bench.name)
    if pointer is None:
        return no_baseline(project, bench)
    shas = (pointer.git_sha, git_sha)
    root = repository_root(project.root)
    before, after = (protected_files(root, sha, bench.protected_paths) for sha in shas)
    if before.digest != after.digest:
        return tampered(project, bench, before.changed_from(after),
                        "protected files changed since the baseline")
    designs: dict[str, int] = {}
    left_out: list[str] = []
    running: list[int] = []
    so_far = earlier_pairs(store, project, bench, *shas, designs=designs, notes=left_out,
                           running=running)
    pairs = so_far.pairs
    if not pairs and not so_far.failed:
        return (already_promoted(project, bench, pointer, git_sha)
                or verdict_for(project, bench, VerdictKind.NEEDS_MORE_DATA,
                               f"no pairs of {git_sha[:10]} with the baseline "
                               f"{pointer.git_sha[:10]} yet (design = paired): run them "
                               f"(bench run {project.name} {bench.name})", warnings=left_out))
    warnings = ["design = paired: the baseline commit was measured again, interleaved with "
                f"the candidate ({len(pairs)} complete pair(s))"]
    if (note := design_note(designs)) is not None:
        warnings.append(note)
    warnings.extend(left_out)
    if shas[0] == shas[1]:
        warnings.append(SAME_COMMIT)
    return with_requirements(store, home, project, bench,
                             paired_verdict(project, bench, pairs, shas, warnings,
                                            so_far.failed, running=sum(running),
                                            baseline_failed=so_far.baseline_failed), git_sha)


def with_requirements(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
            verdict: Verdict, candidate_sha: str) -> Verdict:
    """Faster but wrong is still rejected: required correctness benchmarks must PASS."""
    return apply_requirements(store, home, project, bench, verdict, candidate_sha,
                              EvaluateOptions(git_sha=candidate_sha))
