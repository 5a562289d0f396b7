"""``evaluate`` for the calibrated policies (``welch``, ``rank``): every clean candidate run at
the commit, in the order recorded, through the sequential procedure.

A script that keeps calling ``bench run`` until it sees PROMOTE only adds looks to one
sequential test whose boundaries already account for every look, so it gains nothing. The
baseline is the pointer's run set, or, for a pointer that a calibrated verdict promoted, every
clean candidate run set that verdict used. Read-only.
"""

from __future__ import annotations

from dataclasses import replace

from benchstone.errors import BenchstoneError
from benchstone.evaluate.single import (
    EvaluateOptions,
    _apply_requirements,
    _base,
    _changed_protected,
    _comparability,
    _sample,
)
from benchstone.gates.policies import GateDecision, GateSettings
from benchstone.gates.sequential import decide_sequential
from benchstone.gates.verdict import SequentialSummary, Verdict
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.store import Store
from benchstone.store.records import BaselinePointer, RunSet


class SingleRunSetRefused(BenchstoneError):
    """A calibrated policy gates all the evidence at a commit, never one chosen run set."""

    fix = "leave out --meta-seed: every clean candidate run at the commit is used"


def baseline_sets(store: Store, bench: BenchmarkSpec, pointer: BaselinePointer) -> list[RunSet]:
    """The run sets whose runs form the baseline, oldest first."""
    first = store.run_set(pointer.run_set_id)
    assert first is not None
    if pointer.action != "promote":
        return [first]
    sets = [rs for rs in store.run_sets(pointer.project, pointer.benchmark,
                                        git_sha=pointer.git_sha, kinds=("run",))
            if rs.id <= pointer.run_set_id and not rs.git_dirty]
    return sorted(sets, key=lambda rs: rs.id) or [first]


def candidate_sets(store: Store, project: Project, bench: BenchmarkSpec, git_sha: str,
                   options: EvaluateOptions, exclude: set[int]) -> list[RunSet]:
    """Every candidate run set at ``git_sha`` the gate may use, oldest first."""
    sets = [rs for rs in store.run_sets(project.name, bench.name, git_sha=git_sha, kinds=("run",))
            if rs.id not in exclude and (options.include_dirty or not rs.git_dirty)]
    return sorted(sets, key=lambda rs: rs.id)


def settings_for(bench: BenchmarkSpec) -> GateSettings:
    return GateSettings(
        policy=bench.gate_policy, direction=bench.metric_direction or "minimize",
        promotion_sigma=bench.promotion_sigma, rank_threshold=bench.rank_threshold,
        alpha=bench.alpha, min_effect=bench.min_effect, log_scale=bench.log_scale,
    )


def evaluate_cumulative(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                        git_sha: str, options: EvaluateOptions) -> Verdict:
    if options.meta_seed is not None:
        raise SingleRunSetRefused(f"gate_policy {bench.gate_policy} does not evaluate a single "
                                  "run set (--meta-seed)")
    pointer = store.current_pointer(project.name, bench.name)
    if pointer is None:
        return _base(project, bench, "NO_BASELINE", "no baseline has been established "
                     f"(bench baseline establish {project.name} {bench.name})")
    base_sets = baseline_sets(store, bench, pointer)
    baseline = _sample(base_sets, store.runs_of([rs.id for rs in base_sets]), bench.metric_source)
    common = {"policy": bench.gate_policy, "direction": bench.metric_direction,
              "baseline": baseline}
    sets = candidate_sets(store, project, bench, git_sha, options,
                          exclude={rs.id for rs in base_sets})
    if not sets:
        return _base(project, bench, "NEEDS_MORE_DATA", f"no clean candidate run set at "
                     f"{git_sha[:10]}: run it first (bench run {project.name} {bench.name})",
                     **common)
    reference = base_sets[0]
    tampered = [rs for rs in sets if rs.protected_hash != reference.protected_hash]
    if tampered:
        changed = _changed_protected(reference, tampered[0])
        return _base(project, bench, "TAMPERED",
                     f"protected files changed since the baseline: {', '.join(changed)}",
                     details=[f"changed: {name}" for name in changed] + [
                         "a new baseline is the deliberate way forward: "
                         f"bench baseline establish {project.name} {bench.name}"], **common)
    warnings: list[str] = []
    usable = []
    for rs in sets:
        blocker, env_warnings = _comparability(reference, rs, bench, options)
        if blocker:
            warnings.append(f"run set {rs.id} is left out: {blocker}")
        else:
            usable.append(rs)
            warnings.extend(w for w in env_warnings if w not in warnings)
    if any(rs.git_dirty for rs in usable):
        warnings.append("some candidate runs were recorded on a dirty tree (--include-dirty)")
    if not usable:
        return _base(project, bench, "NEEDS_MORE_DATA", warnings[0].split(": ", 1)[1],
                     warnings=warnings, **common)
    runs = store.runs_of([rs.id for rs in usable])
    candidate = _sample(usable, runs, bench.metric_source)
    common["candidate"] = candidate
    if candidate.n_errors:
        warnings.append(f"{candidate.n_errors} candidate repetition(s) failed and are not in "
                        "the gate")
    decision = decide_sequential(baseline.values, candidate.values, settings_for(bench),
                                 bench.max_repetitions)
    decision = withheld_for_failures(decision, candidate.n_errors, git_sha)
    summary = sequential_summary(decision)
    verdict = _base(
        project, bench, decision.kind, decision.reason, p_value=decision.p_value,
        threshold=decision.threshold, alpha=bench.alpha, effect=decision.effect,
        effect_ci=decision.effect_ci, sequential=summary, details=decision.details,
        warnings=warnings, baseline_mean=baseline.mean, baseline_se=baseline.se,
        candidate_mean=candidate.mean, candidate_se=candidate.se, **common,
    )
    if verdict.kind == "PROMOTE" and bench.requires:
        verdict = _apply_requirements(store, home, project, bench, verdict, git_sha, options)
    return verdict


def withheld_for_failures(decision: GateDecision, failed: int, git_sha: str) -> GateDecision:
    """No PROMOTE while candidate repetitions at the commit failed: the gate never judges the
    survivors, since making the slow runs fail would otherwise pay. The failed rows stay at the
    commit, so the way forward is a fixed commit. A REJECT stands (failures cannot help)."""
    if not failed or decision.kind == "REJECT":
        return decision
    return replace(decision, kind="NEEDS_MORE_DATA", reason=(
        f"{failed} candidate repetition(s) at {git_sha[:10]} failed, and a gate that judged "
        "only the runs that succeeded could be gamed by failing the slow ones: fix the failure "
        f"and commit; the runs that succeeded alone say: {decision.reason}"))


def sequential_summary(decision: GateDecision) -> SequentialSummary | None:
    """What a verdict says of the sequential procedure behind ``decision``, if there was one."""
    outcome = decision.sequential
    if outcome is None:
        return None
    return SequentialSummary(
        test=decision.policy, look=outcome.look, runs=outcome.looks, horizon=outcome.horizon,
        boundary=outcome.boundary if outcome.boundary > 0 else None,
        conditional_power=outcome.conditional_power)
