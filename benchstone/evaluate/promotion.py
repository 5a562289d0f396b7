"""``promote``: move the baseline pointer to the candidate run set the gate promoted (or, with
``force``, recorded as forced, whatever it said, except TAMPERED and NO_BASELINE)."""

from __future__ import annotations

from pydantic import BaseModel

from benchstone.errors import AmbiguousRunSet, NothingToPromote
from benchstone.evaluate.paired import comparisons_of_trees
from benchstone.evaluate.samples import EvaluateOptions, head_sha
from benchstone.evaluate.single import evaluate
from benchstone.gates.verdict import Verdict, VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import CALIBRATED_POLICIES, BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.store import Store
from benchstone.store.records import BaselinePointer, RunSet


class PromoteResult(BaseModel):
    pointer: BaselinePointer
    verdict: Verdict


def _candidates(store: Store, project: Project, bench: BenchmarkSpec, git_sha: str,
                meta_seed: int | None, include_dirty: bool) -> list[RunSet]:
    """The run sets at ``git_sha`` the pointer could move to, newest first."""
    pointer = store.current_pointer(project.name, bench.name)
    exclude = {pointer.run_set_id} if pointer else set()
    candidates = [rs for rs in store.run_sets(project.name, bench.name, git_sha=git_sha,
                                              meta_seed=meta_seed, kinds=("run",))
                  if rs.id not in exclude and (include_dirty or not rs.git_dirty)
                  and not rs.caller_seeds]  # a reproduction is never gate evidence
    calibrated = bench.gate_policy in CALIBRATED_POLICIES
    if meta_seed is None and len(candidates) > 1 and not calibrated:
        seeds = ", ".join(str(rs.meta_seed) for rs in candidates)
        raise AmbiguousRunSet(
            f"{len(candidates)} candidate run sets at {git_sha[:10]} (meta_seed {seeds}): "
            "benchstone will not choose silently",
            fix="pass --meta-seed N to name the one to promote",
        )
    return candidates


def _paired_candidates(store: Store, project: Project, bench: BenchmarkSpec, git_sha: str,
                       meta_seed: int | None) -> list[RunSet]:
    """Under ``design = "paired"``: the candidate halves at ``git_sha`` of comparisons with the
    baseline pointer's commit, newest first. The pointer then moves to the candidate commit,
    and the next ``bench run`` measures that commit again as the baseline: no sample of a
    sequential test that stopped is reused."""
    if meta_seed is not None:
        raise AmbiguousRunSet(f"{bench.name} has design = paired: promote moves the pointer to "
                              "the commit its pairs judged, not to one run set (--meta-seed)",
                              fix=f"bench promote {project.name} {bench.name}")
    pointer = store.current_pointer(project.name, bench.name)
    if pointer is None or pointer.git_sha == git_sha:
        return []
    judged = {c.id for c in comparisons_of_trees(store, project, bench, pointer.git_sha, git_sha)}
    return [rs for rs in store.run_sets(project.name, bench.name, git_sha=git_sha,
                                        kinds=("compare",))
            if rs.side == "candidate" and rs.comparison_id in judged]


def promote(store: Store, home: Home, project: Project, bench: BenchmarkSpec, *,
            meta_seed: int | None, force: bool, include_dirty: bool,
            notes: str | None = None) -> PromoteResult:
    if not bench.is_stochastic:
        raise NothingToPromote(
            f"{project.name}/{bench.name} is a correctness benchmark: it has a reference, not a "
            "baseline (bench replace-reference)")
    git_sha = head_sha(project)
    if bench.is_paired:
        candidates = _paired_candidates(store, project, bench, git_sha, meta_seed)
    else:
        candidates = _candidates(store, project, bench, git_sha, meta_seed, include_dirty)
    if not candidates:
        pointer = store.current_pointer(project.name, bench.name)
        if pointer is not None and pointer.git_sha == git_sha:
            raise NothingToPromote(
                f"{git_sha[:10]} is the baseline of {project.name}/{bench.name} already (run set "
                f"{pointer.run_set_id}): nothing new to promote",
                fix=f"commit a change, then bench run {project.name} {bench.name}")
        compared = "" if bench.is_paired or not store.run_sets(
            project.name, bench.name, git_sha=git_sha, kinds=("compare",)) else (
            " (its bench compare pairs do not count: under design = classic promote judges "
            "the run sets of bench run)")
        raise NothingToPromote(f"no candidate run set at {git_sha[:10]} to promote{compared}",
                               fix=f"run it first: bench run {project.name} {bench.name}")
    # a calibrated verdict uses every clean run set, a paired one every pair; the pointer
    # names the newest
    chosen_seed = (None if bench.gate_policy in CALIBRATED_POLICIES or bench.is_paired
                   else meta_seed)
    # at the commit read once: a HEAD moved in between would have the verdict of one commit
    # move the pointer to the run sets of another
    verdict = evaluate(store, home, project, bench,
                       EvaluateOptions(meta_seed=chosen_seed, include_dirty=include_dirty,
                                       git_sha=git_sha))
    if verdict.kind == VerdictKind.TAMPERED:
        raise NothingToPromote(f"the gate says TAMPERED: {verdict.reason}",
                               fix=f"establish a new baseline deliberately: "
                               f"bench baseline establish {project.name} {bench.name}")
    if verdict.kind == VerdictKind.NO_BASELINE:
        raise NothingToPromote(f"the gate says NO_BASELINE: {verdict.reason}")
    if verdict.kind != VerdictKind.PROMOTE and not force:
        raise NothingToPromote(f"the gate says {verdict.kind}: {verdict.reason}",
                               fix="pass --force to promote anyway (recorded as forced)")
    chosen = candidates[0]
    new_pointer = store.add_pointer(
        project=project.name, benchmark=bench.name, run_set_id=chosen.id,
        git_sha=chosen.git_sha, meta_seed=chosen.meta_seed, action="promote",
        forced=verdict.kind != VerdictKind.PROMOTE, verdict=verdict.kind, notes=notes,
    )
    return PromoteResult(pointer=new_pointer, verdict=verdict)
