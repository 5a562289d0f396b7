"""``evaluate`` for the calibrated policies (``welch``, ``rank``): every clean candidate run at
the commit, in the order recorded, through the sequential procedure.

A script that keeps calling ``bench run`` until it sees PROMOTE only adds looks to one
sequential test whose boundaries already account for every look, so it gains nothing. The
baseline is every establishment of the pointer's tree in its environment (pooled with fresh
baseline runs when ``baseline_grows``);
after a PROMOTE, fresh baseline runs of the promoted commit, never the promoted sample that
stopped when it looked good (``benchstone.evaluate.samples.baseline_evidence``). Read-only.
"""

from __future__ import annotations

from benchstone.errors import SingleRunSetRefused
from benchstone.evaluate.boundary_cache import keep_boundaries_in
from benchstone.evaluate.checks import (
    already_promoted,
    changed_protected,
    comparability,
    no_baseline,
    same_commit,
    sequential_summary,
    settings_for,
    tampered,
    verdict_for,
    withheld_for_baseline_failures,
    withheld_for_failures,
)
from benchstone.evaluate.correctness import apply_requirements
from benchstone.evaluate.samples import (
    BaselineEvidence,
    EvaluateOptions,
    baseline_evidence,
    candidate_sets,
    sample_of,
    still_running,
)
from benchstone.gates.sequential import decide_sequential
from benchstone.gates.verdict import Verdict, VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.store import Store


def evaluate_cumulative(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                        git_sha: str, options: EvaluateOptions) -> Verdict:
    if options.meta_seed is not None:
        raise SingleRunSetRefused(f"gate_policy {bench.gate_policy} does not evaluate a single "
                                  "run set (--meta-seed)")
    keep_boundaries_in(home)
    pointer = store.current_pointer(project.name, bench.name)
    if pointer is None:
        return no_baseline(project, bench)
    evidence = baseline_evidence(store, project, bench, pointer)
    if evidence.missing:
        return (already_promoted(project, bench, pointer, git_sha)
                or _needs_fresh_baseline(store, project, bench, evidence))
    base_sets = evidence.sets
    baseline = sample_of(base_sets, evidence.runs, bench.metric_source)
    if pointer.action != "promote":  # pooled establishments, named by the commit pointed at
        baseline = baseline.model_copy(update={"git_sha": pointer.git_sha,
                                               "meta_seed": pointer.meta_seed})
    common = {"policy": bench.gate_policy, "direction": bench.metric_direction,
              "baseline": baseline}
    warnings = same_commit(pointer, git_sha)
    sets = candidate_sets(store, project, bench.name, git_sha, options,
                          exclude={rs.id for rs in base_sets + (evidence.stopped or [])},
                          notes=warnings)
    if not sets:
        if verdict := already_promoted(project, bench, pointer, git_sha, **common):
            return verdict
        return verdict_for(project, bench, VerdictKind.NEEDS_MORE_DATA, "no clean candidate run "
                           f"set at {git_sha[:10]}: run it first (bench run {project.name} "
                           f"{bench.name})", warnings=warnings, **common)
    reference = base_sets[0]
    changed_sets = [rs for rs in sets if rs.protected_hash != reference.protected_hash]
    if changed_sets:
        return tampered(project, bench, changed_protected(reference, changed_sets[0]),
                        "protected files changed since the baseline", **common)
    usable = []
    for rs in sets:
        blocker, env_warnings = comparability(reference, rs, bench, options)
        if blocker:
            warnings.append(f"run set {rs.id} is left out: {blocker}")
        else:
            usable.append(rs)
            warnings.extend(w for w in env_warnings if w not in warnings)
    if any(rs.git_dirty for rs in usable):
        warnings.append("some candidate runs were recorded on a dirty tree (--include-dirty)")
    if not usable:
        return verdict_for(project, bench, VerdictKind.NEEDS_MORE_DATA,
                           warnings[0].split(": ", 1)[1], warnings=warnings, **common)
    runs = store.runs_of([rs.id for rs in usable])
    candidate = sample_of(usable, runs, bench.metric_source,
                          unfinished=store.unfinished_repetitions([rs.id for rs in usable]))
    # only asked when something is missing: most evaluations have no unfinished repetition
    running = (store.unfinished_repetitions(sorted(still_running(store, usable)))
               if candidate.n_errors else 0)
    common["candidate"] = candidate
    if candidate.n_errors > running:
        warnings.append(f"{candidate.n_errors - running} candidate repetition(s) failed and are "
                        "not in the gate")
    decision = decide_sequential(baseline.values, candidate.values, settings_for(bench),
                                 bench.max_repetitions, first_baseline=evidence.first)
    decision = withheld_for_failures(decision, candidate.n_errors, git_sha, running=running)
    decision = withheld_for_baseline_failures(decision, evidence.failed, pointer.git_sha)
    if evidence.failed:
        warnings.append(f"{evidence.failed} baseline repetition(s) failed or never finished: "
                        "nothing is promoted against this baseline's tree")
    summary = sequential_summary(decision, evidence.first)
    verdict = verdict_for(
        project, bench, decision.kind, decision.reason, p_value=decision.p_value,
        threshold=decision.threshold, alpha=bench.alpha, effect=decision.effect,
        effect_ci=decision.effect_ci, sequential=summary, details=decision.details,
        warnings=warnings, baseline_mean=baseline.mean, baseline_se=baseline.se,
        candidate_mean=candidate.mean, candidate_se=candidate.se, **common,
    )
    return apply_requirements(store, home, project, bench, verdict, git_sha, options)


def _needs_fresh_baseline(store: Store, project: Project, bench: BenchmarkSpec,
                          evidence: BaselineEvidence) -> Verdict:
    """After a PROMOTE: the promoted sample stopped because it looked good, so it is shown but
    never the next comparison's baseline; fresh runs of the promoted commit are."""
    stopped = evidence.stopped or []
    baseline = sample_of(stopped, store.runs_of([rs.id for rs in stopped]), bench.metric_source)
    return verdict_for(
        project, bench, VerdictKind.NEEDS_MORE_DATA,
        f"the baseline {baseline.git_sha[:10]} was promoted on a sample that stopped when it "
        f"looked good (biased toward looking good): it needs {evidence.missing} fresh baseline "
        f"run(s) first (bench run {project.name} {bench.name} runs them before its own)",
        policy=bench.gate_policy, direction=bench.metric_direction, baseline=baseline)
