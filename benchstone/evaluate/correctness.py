"""Correctness: a benchmark's newest artifact at a commit against its frozen reference (PASS or
FAIL), and the requirement that a PROMOTE's required correctness benchmarks PASS. Read-only."""

from __future__ import annotations

from benchstone.evaluate.checks import changed_protected, tampered, verdict_for
from benchstone.evaluate.samples import EvaluateOptions
from benchstone.gates.verdict import Verdict, VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.references import compare_artifacts, load_artifact
from benchstone.project.registry import Project
from benchstone.run.environment import fingerprint_differences
from benchstone.store import Store


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


def evaluate_correctness(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                         git_sha: str, options: EvaluateOptions) -> Verdict:
    reference = store.current_reference(project.name, bench.name)
    if reference is None:
        return verdict_for(project, bench, VerdictKind.NO_REFERENCE,
                           f"no reference is frozen (bench run, then bench freeze-reference "
                           f"{project.name} {bench.name})")
    every = store.runs_at(project.name, bench.name, git_sha)
    produced = [run for run in every if run.status == "ok" and run.artifact_sha256]
    runs = [run for run in produced if options.include_dirty or not run.git_dirty]
    if not runs:
        return verdict_for(project, bench, VerdictKind.NEEDS_MORE_DATA,
                           _no_artifact_reason(project, bench, git_sha, every, produced))
    candidate = runs[-1]
    reference_run = store.run(reference.run_id)
    candidate_set = store.run_set(candidate.run_set_id)
    reference_set = store.run_set(reference_run.run_set_id) if reference_run else None
    if (candidate_set and reference_set
            and candidate_set.protected_hash != reference_set.protected_hash):
        return tampered(project, bench, changed_protected(reference_set, candidate_set),
                        "protected files changed since the reference was frozen", new_baseline_advice=False)
    detail = [f"reference {reference.new_sha256[:12]} (frozen at {reference.git_sha[:10]}), "
              f"candidate {candidate.artifact_sha256[:12]} (run {candidate.id})"]
    warnings = []
    if candidate.git_dirty:
        warnings.append("the candidate was recorded on a dirty tree (--include-dirty)")
    if candidate_set and reference_set:
        differences = fingerprint_differences(reference_set.environment, candidate_set.environment)
        if differences:
            warnings.append(f"environments differ from the reference's run: {'; '.join(differences)}")
    if candidate.artifact_sha256 == reference.new_sha256:
        return verdict_for(project, bench, VerdictKind.PASS,
                           "the artifact matches the reference byte for byte",
                           details=detail, warnings=warnings)
    comparison = compare_artifacts(
        load_artifact(home, project.name, bench.name, reference.new_sha256),
        load_artifact(home, project.name, bench.name, candidate.artifact_sha256),
        bench.reference_policy,
    )
    if comparison.equal:
        return verdict_for(project, bench, VerdictKind.PASS,
                           f"the artifact matches the reference under {bench.reference_policy}",
                           details=detail, warnings=warnings)
    return verdict_for(project, bench, VerdictKind.FAIL,
                       f"the artifact differs from the reference ({bench.reference_policy}): "
                       f"{comparison.detail[0]}", details=detail + comparison.detail[1:],
                       warnings=warnings)
