"""``evaluate``: choose the baseline and candidate samples, check they may be compared, and ask
the gate. Read-only: nothing here writes to the store.

The order of checks is deliberate: a missing baseline first, then which candidate to use, then
tampering with protected files, then whether the two samples ran alike, and only then the
statistics. A verdict that cannot be trusted is never PROMOTE.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchstone.gates.policies import GateSettings, decide
from benchstone.gates.verdict import Sample, Verdict
from benchstone.paths import Home
from benchstone.project.manifest import CALIBRATED_POLICIES, BenchmarkSpec
from benchstone.project.provenance import repository_root, resolve_commit
from benchstone.project.references import compare_artifacts, load_artifact
from benchstone.project.registry import Project
from benchstone.run.environment import fingerprint_differences
from benchstone.stats.basic import mean_se, median
from benchstone.store import Store
from benchstone.store.records import Run, RunSet


@dataclass(frozen=True)
class EvaluateOptions:
    meta_seed: int | None = None
    include_dirty: bool = False
    allow_cross_env: bool = False
    git_sha: str | None = None


def head_sha(project: Project) -> str:
    return resolve_commit(repository_root(project.root), "HEAD")


def _sample(run_set_list: list[RunSet], runs: list[Run], source: str) -> Sample:
    values = [v for run in runs if (v := run.gated_value(source)) is not None]
    mean_value = se = None
    if len(values) >= 2:
        mean_value, se = mean_se(values)
    elif values:
        mean_value = values[0]
    return Sample(
        git_sha=run_set_list[0].git_sha,
        run_set_ids=[rs.id for rs in run_set_list],
        meta_seed=run_set_list[0].meta_seed,
        n=len(values),
        n_errors=sum(1 for run in runs if run.status != "ok"),
        values=values,
        mean=mean_value,
        se=se,
        median=median(values) if values else None,
        dirty=any(rs.git_dirty for rs in run_set_list),
    )


def _base(project: Project, bench: BenchmarkSpec, kind: str, reason: str, **extra) -> Verdict:
    return Verdict(kind=kind, project=project.name, benchmark=bench.name, tier=bench.tier,
                   reason=reason, metric_source=bench.metric_source, **extra)


def select_candidate(store: Store, project: Project, bench: BenchmarkSpec, git_sha: str,
                     options: EvaluateOptions, exclude: set[int]) -> tuple[RunSet | None, str]:
    """The newest run set at ``git_sha`` (or the one with ``meta_seed``); why none, if none."""
    sets = [rs for rs in store.run_sets(project.name, bench.name, git_sha=git_sha,
                                        meta_seed=options.meta_seed, kinds=("run",))
            if rs.id not in exclude]
    if not sets:
        named = f" with meta_seed {options.meta_seed}" if options.meta_seed is not None else ""
        return None, (f"no candidate run set{named} at {git_sha[:10]}: "
                      f"run it first (bench run {project.name} {bench.name})")
    clean = sets if options.include_dirty else [rs for rs in sets if not rs.git_dirty]
    if not clean:
        return None, (f"the only run sets at {git_sha[:10]} were recorded on a dirty tree and "
                      "are excluded from gates: commit and run again, or pass --include-dirty")
    return clean[0], ""


def _changed_protected(before: RunSet, after: RunSet) -> list[str]:
    names = set(before.protected_files) | set(after.protected_files)
    return sorted(name for name in names
                  if before.protected_files.get(name) != after.protected_files.get(name))


def _comparability(baseline: RunSet, candidate: RunSet, bench: BenchmarkSpec,
                   options: EvaluateOptions) -> tuple[str | None, list[str]]:
    """A reason the two run sets must not be compared (or None), and warnings."""
    if baseline.sandbox != candidate.sandbox or baseline.image_id != candidate.image_id:
        return (f"baseline ran in sandbox {baseline.sandbox} (image {baseline.image_id or '-'}), "
                f"candidate in {candidate.sandbox} (image {candidate.image_id or '-'}): samples "
                "from different sandboxes are never compared; establish a new baseline"), []
    differences = fingerprint_differences(baseline.environment, candidate.environment)
    if not differences:
        return None, []
    listed = "; ".join(differences)
    if bench.tier == "performance" and not options.allow_cross_env:
        return (f"baseline and candidate ran in different environments ({listed}); establish "
                "a baseline here, or pass --allow-cross-env"), []
    return None, [f"environments differ: {listed}"]


def evaluate(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
             options: EvaluateOptions | None = None) -> Verdict:
    options = options or EvaluateOptions()
    git_sha = options.git_sha or head_sha(project)
    if bench.tier == "correctness":
        return evaluate_correctness(store, home, project, bench, git_sha, options)
    if bench.gate_policy in CALIBRATED_POLICIES:
        from benchstone.evaluate.cumulative import evaluate_cumulative  # it builds on this module

        return evaluate_cumulative(store, home, project, bench, git_sha, options)
    pointer = store.current_pointer(project.name, bench.name)
    if pointer is None:
        return _base(project, bench, "NO_BASELINE", "no baseline has been established "
                     f"(bench baseline establish {project.name} {bench.name})")
    baseline_set = store.run_set(pointer.run_set_id)
    assert baseline_set is not None
    candidate_set, why_none = select_candidate(store, project, bench, git_sha, options,
                                               exclude={baseline_set.id})
    baseline = _sample([baseline_set], store.runs_of([baseline_set.id]), bench.metric_source)
    common = {"policy": bench.gate_policy, "direction": bench.metric_direction,
              "baseline": baseline}
    if baseline_set.git_dirty and not options.include_dirty:
        return _base(project, bench, "NEEDS_MORE_DATA",
                     f"the baseline ({baseline_set.git_sha[:10]}) was recorded on a dirty tree and "
                     "is excluded from gates: establish it again on a clean tree "
                     f"(bench baseline establish {project.name} {bench.name}), or pass "
                     "--include-dirty", **common)
    if candidate_set is None:
        return _base(project, bench, "NEEDS_MORE_DATA", why_none, **common)
    candidate = _sample([candidate_set], store.runs_of([candidate_set.id]), bench.metric_source)
    common["candidate"] = candidate
    warnings = []
    if baseline_set.git_dirty:
        warnings.append("the baseline was recorded on a dirty tree (--include-dirty)")
    if candidate_set.git_dirty:
        warnings.append("the candidate was recorded on a dirty tree (--include-dirty)")
    if baseline_set.protected_hash != candidate_set.protected_hash:
        changed = _changed_protected(baseline_set, candidate_set)
        return _base(project, bench, "TAMPERED",
                     f"protected files changed since the baseline: {', '.join(changed)}",
                     details=[f"changed: {name}" for name in changed] + [
                         "a new baseline is the deliberate way forward: "
                         f"bench baseline establish {project.name} {bench.name}"],
                     warnings=warnings, **common)
    blocker, env_warnings = _comparability(baseline_set, candidate_set, bench, options)
    warnings.extend(env_warnings)
    if blocker:
        return _base(project, bench, "NEEDS_MORE_DATA", blocker, warnings=warnings, **common)
    if candidate.n_errors:
        warnings.append(f"{candidate.n_errors} of {candidate_set.repetitions} candidate "
                        "repetition(s) failed and are not in the gate")
    settings = GateSettings(
        policy=bench.gate_policy, direction=bench.metric_direction or "minimize",
        promotion_sigma=bench.promotion_sigma, rank_threshold=bench.rank_threshold,
        alpha=bench.alpha, min_effect=bench.min_effect, log_scale=bench.log_scale,
    )
    decision = decide(baseline.values, candidate.values, settings,
                      required_baseline=baseline_set.repetitions,
                      required_candidate=candidate_set.repetitions)
    verdict = _base(
        project, bench, decision.kind, decision.reason, statistic=decision.statistic,
        statistic_name=decision.statistic_name, threshold=decision.threshold,
        p_value=decision.p_value, alpha=None, effect=decision.effect, effect_ci=decision.effect_ci,
        details=decision.details, warnings=warnings,
        sigma=decision.statistic if decision.statistic_name == "sigma" else None,
        baseline_mean=baseline.mean, baseline_se=baseline.se,
        candidate_mean=candidate.mean, candidate_se=candidate.se, **common,
    )
    if verdict.kind == "PROMOTE" and bench.requires:
        verdict = _apply_requirements(store, home, project, bench, verdict, git_sha, options)
    return verdict


def _apply_requirements(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                        verdict: Verdict, git_sha: str, options: EvaluateOptions) -> Verdict:
    """Faster but wrong is rejected: every required correctness benchmark must PASS here."""
    for name in bench.requires:
        required = project.benchmark(name)
        check = evaluate_correctness(store, home, project, required, git_sha, options)
        if check.kind == "PASS":
            continue
        if check.kind == "NEEDS_MORE_DATA":
            ran = bool(store.runs_at(project.name, name, git_sha))
            kind, why = "NEEDS_MORE_DATA", (f"required correctness benchmark {name} "
                                            f"{'has no ok run' if ran else 'has not run'} here")
        else:
            kind, why = "REJECT", f"required correctness benchmark {name} says {check.kind}"
        return verdict.model_copy(update={
            "kind": kind, "reason": f"{why} ({check.reason}); the gate alone said: {verdict.reason}",
            "details": [*verdict.details, *check.details],
        })
    return verdict.model_copy(update={
        "details": [*verdict.details, f"required correctness: {', '.join(bench.requires)} PASS"],
    })


def evaluate_correctness(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                         git_sha: str, options: EvaluateOptions) -> Verdict:
    reference = store.current_reference(project.name, bench.name)
    if reference is None:
        return _base(project, bench, "NO_REFERENCE",
                     f"no reference is frozen (bench run, then bench freeze-reference "
                     f"{project.name} {bench.name})")
    every = store.runs_at(project.name, bench.name, git_sha)
    produced = [run for run in every if run.status == "ok" and run.artifact_sha256]
    runs = [run for run in produced if options.include_dirty or not run.git_dirty]
    if not runs:
        if produced:
            why = (f"the only ok runs at {git_sha[:10]} were recorded on a dirty tree and are "
                   "excluded from gates: commit and run again, or pass --include-dirty")
        elif every:
            last = every[-1]
            why = (f"no ok run with an artifact at {git_sha[:10]}: its {len(every)} run(s) "
                   f"failed, the newest with {last.failure or last.status}"
                   f"{': ' + last.message if last.message else ''} "
                   f"(bench history {project.name} {bench.name} shows them)")
        else:
            why = (f"no ok run with an artifact at {git_sha[:10]}: "
                   f"run it first (bench run {project.name} {bench.name})")
        return _base(project, bench, "NEEDS_MORE_DATA", why)
    candidate = runs[-1]
    reference_run = store.run(reference.run_id)
    candidate_set = store.run_set(candidate.run_set_id)
    reference_set = store.run_set(reference_run.run_set_id) if reference_run else None
    if (candidate_set and reference_set
            and candidate_set.protected_hash != reference_set.protected_hash):
        changed = _changed_protected(reference_set, candidate_set)
        return _base(project, bench, "TAMPERED",
                     f"protected files changed since the reference was frozen: {', '.join(changed)}",
                     details=[f"changed: {name}" for name in changed])
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
        return _base(project, bench, "PASS", "the artifact matches the reference byte for byte",
                     details=detail, warnings=warnings)
    comparison = compare_artifacts(
        load_artifact(home, project.name, bench.name, reference.new_sha256),
        load_artifact(home, project.name, bench.name, candidate.artifact_sha256),
        bench.reference_policy,
    )
    if comparison.equal:
        return _base(project, bench, "PASS",
                     f"the artifact matches the reference under {bench.reference_policy}",
                     details=detail, warnings=warnings)
    return _base(project, bench, "FAIL",
                 f"the artifact differs from the reference ({bench.reference_policy}): "
                 f"{comparison.detail[0]}", details=detail + comparison.detail[1:],
                 warnings=warnings)
