"""Correctness: a benchmark's artifacts at a commit (at every commit of its tree) against its
frozen reference (PASS when every one matches and no run there failed, else FAIL), and the
requirement that a PROMOTE's required correctness benchmarks PASS. Read-only."""

from __future__ import annotations

from benchstone.evaluate.checks import changed_protected, tampered, verdict_for
from benchstone.evaluate.samples import EvaluateOptions
from benchstone.gates.verdict import Verdict, VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.provenance import tree_of
from benchstone.project.references import compare_artifacts, load_artifact
from benchstone.project.registry import Project
from benchstone.run.environment import fingerprint_differences
from benchstone.store import Store
from benchstone.store.records import ReferenceEvent, Run


def apply_requirements(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                       verdict: Verdict, git_sha: str, options: EvaluateOptions) -> Verdict:
    """Faster but wrong is rejected: every required correctness benchmark must PASS here.
    Only a PROMOTE is checked; any other verdict is returned as it is."""
    if verdict.kind != VerdictKind.PROMOTE or not bench.requires:
        return verdict
    for name in bench.requires:
        required = project.benchmark(name)
        check = evaluate_correctness(store, home, project, required, git_sha, options)
        if check.kind == VerdictKind.PASS:
            continue
        if check.kind == VerdictKind.NEEDS_MORE_DATA:
            ran = bool(store.runs_at(project.name, name, git_sha))
            kind, why = VerdictKind.NEEDS_MORE_DATA, (
                f"required correctness benchmark {name} "
                f"{'has no ok run' if ran else 'has not run'} here")
        else:
            kind, why = VerdictKind.REJECT, f"required correctness benchmark {name} says {check.kind}"
        return verdict.model_copy(update={
            "kind": kind, "reason": f"{why} ({check.reason}); the gate alone said: {verdict.reason}",
            "details": [*verdict.details, *check.details],
        })
    return verdict.model_copy(update={
        "details": [*verdict.details, f"required correctness: {', '.join(bench.requires)} PASS"],
    })


def _no_artifact_reason(project: Project, bench: BenchmarkSpec, git_sha: str, every: list,
                        produced: list) -> str:
    if produced:
        return (f"the only ok runs at {git_sha[:10]} were recorded on a dirty tree and are "
                "excluded from gates: commit and run again, or pass --include-dirty")
    if every:
        last = every[-1]
        return (f"no ok run with an artifact at {git_sha[:10]}: its {len(every)} run(s) "
                f"failed, the newest with {last.failure or last.status}"
                f"{': ' + last.message if last.message else ''} "
                f"(bench history {project.name} {bench.name} shows them)")
    return (f"no ok run with an artifact at {git_sha[:10]}: "
            f"run it first (bench run {project.name} {bench.name})")


def _which(reference: ReferenceEvent, candidate: Run) -> str:
    return (f"reference {reference.new_sha256[:12]} (frozen at {reference.git_sha[:10]}), "
            f"candidate {candidate.artifact_sha256[:12]} (run {candidate.id})")


def evaluate_correctness(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                         git_sha: str, options: EvaluateOptions) -> Verdict:
    reference = store.current_reference(project.name, bench.name)
    if reference is None:
        return verdict_for(project, bench, VerdictKind.NO_REFERENCE,
                           f"no reference is frozen (bench run, then bench freeze-reference "
                           f"{project.name} {bench.name})")
    # every commit that holds this tree: an empty commit must not wipe a FAIL for a rerun
    tree = tree_of(project.root, git_sha)
    recorded = store.runs_of(sorted(rs.id for rs in store.run_sets_of_tree(
        project.name, bench.name, tree_sha=tree, git_sha=git_sha)))
    every = [run for run in recorded if options.include_dirty or not run.git_dirty]
    if failed := [run for run in every if run.status != "ok"]:
        # a run that crashed (or timed out) at the commit is a wrong answer too: judging only
        # the runs that produced an artifact would let a program crash rather than FAIL
        last = failed[-1]
        where = (f"at {git_sha[:10]}" if all(run.git_sha == git_sha for run in every)
                 else f"at commits of {git_sha[:10]}'s tree")
        return verdict_for(project, bench, VerdictKind.FAIL, (
            f"{len(failed)} of its {len(every)} run(s) {where} failed, the newest "
            f"with {last.failure or last.status}{': ' + last.message if last.message else ''}"
            f" (bench history {project.name} {bench.name} shows them)"))
    runs = [run for run in every if run.artifact_sha256]
    if not runs:
        produced = [run for run in recorded if run.status == "ok" and run.artifact_sha256]
        return verdict_for(project, bench, VerdictKind.NEEDS_MORE_DATA,
                           _no_artifact_reason(project, bench, git_sha, every, produced))
    # every artifact at the commit is judged, not the newest alone: a program right one time in
    # four would otherwise PASS after a few runs
    reference_run = store.run(reference.run_id)
    reference_set = store.run_set(reference_run.run_set_id) if reference_run else None
    candidate_sets = {set_id: store.run_set(set_id) for set_id in {run.run_set_id for run in runs}}
    for candidate_set in candidate_sets.values():
        if (candidate_set and reference_set
                and candidate_set.protected_hash != reference_set.protected_hash):
            return tampered(project, bench, changed_protected(reference_set, candidate_set),
                            "protected files changed since the reference was frozen",
                            new_baseline_advice=False)
    warnings = []
    if any(run.git_dirty for run in runs):
        warnings.append("the candidate was recorded on a dirty tree (--include-dirty)")
    differences = sorted({difference for candidate_set in candidate_sets.values()
                          if candidate_set and reference_set
                          for difference in fingerprint_differences(reference_set.environment,
                                                                    candidate_set.environment)})
    if differences:
        warnings.append(f"environments differ from the reference's run: {'; '.join(differences)}")
    reference_bytes = None
    judged: dict[str, bool] = {}
    for candidate in runs:
        if candidate.artifact_sha256 == reference.new_sha256 or candidate.artifact_sha256 in judged:
            continue
        if reference_bytes is None:
            reference_bytes = load_artifact(home, project.name, bench.name, reference.new_sha256)
        comparison = compare_artifacts(
            reference_bytes, load_artifact(home, project.name, bench.name,
                                           candidate.artifact_sha256),
            bench.reference_policy)
        judged[candidate.artifact_sha256] = comparison.equal
        if not comparison.equal:
            detail = [_which(reference, candidate)]
            return verdict_for(project, bench, VerdictKind.FAIL,
                               f"the artifact differs from the reference ({bench.reference_policy}): "
                               f"{comparison.detail[0]}"
                               + (f" (run {candidate.id}, {len(runs)} run(s) at this commit)"
                                  if len(runs) > 1 else ""),
                               details=detail + comparison.detail[1:], warnings=warnings)
    newest = runs[-1]
    detail = [_which(reference, newest)]
    if len(runs) > 1:
        detail.append(f"all {len(runs)} artifact(s) at this commit match")
    how = ("byte for byte" if not judged
           else f"under {bench.reference_policy}")
    return verdict_for(project, bench, VerdictKind.PASS,
                       f"the artifact matches the reference {how}", details=detail,
                       warnings=warnings)
