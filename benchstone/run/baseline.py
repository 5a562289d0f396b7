"""``baseline establish``: run the baseline seeds and point the baseline at the run set, when
at least one repetition succeeded."""

from __future__ import annotations

from pydantic import BaseModel

from benchstone.errors import BaselineIsAdministrators, InvalidSetting
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.run import runner
from benchstone.run.runner import Progress, RunRequest, RunSetReport
from benchstone.store import Store
from benchstone.store.records import BaselinePointer
from benchstone.system.host import served_caller


class BaselineResult(BaseModel):
    report: RunSetReport
    pointer: BaselinePointer | None


def require_seeds(project: Project, bench: BenchmarkSpec) -> None:
    """A baseline needs seeds to run: an empty ``baseline_seeds`` is refused before anything runs."""
    if not bench.baseline_seeds:
        raise InvalidSetting(
            f"{project.name}/{bench.name} has no baseline_seeds: a baseline has nothing to run",
            fix="list at least 2 seeds, e.g. baseline_seeds = [1, 2, 3, 4, 5], in "
                "bench/manifest.toml, commit it, then bench register again")


def require_may_establish(store: Store, project: Project, bench: BenchmarkSpec) -> None:
    """Under the harness service, establishing a baseline moves it without the gate: a caller
    who is not an administrator may set the first baseline of a benchmark of a project they
    registered, and no other. Else an agent could point another's baseline, or its own once set,
    at a commit made slow on purpose, and have an unchanged program promoted against it."""
    asking = served_caller()
    if asking is None:
        return
    registrations = store.registrations(project.name)
    owner = registrations[-1].caller if registrations else None
    fix = "ask an administrator of the benchstone service (bench baseline establish)"
    if owner not in (None, asking):
        raise BaselineIsAdministrators(
            f"{project.name} was registered by {owner}: through the benchstone service only "
            f"they (for its first baseline) or an administrator may point its baselines", fix=fix)
    if store.current_pointer(project.name, bench.name) is not None:
        raise BaselineIsAdministrators(
            f"{project.name}/{bench.name} has a baseline: through the benchstone service moving "
            "it without the gate is for its administrators (bench promote moves it through "
            "the gate)", fix=fix)


def establish(store: Store, place: Home, project: Project, bench: BenchmarkSpec,
              request: RunRequest, progress: Progress | None,
              notes: str | None = None) -> BaselineResult:
    report = runner.execute(store, place, project, bench, request, progress)
    pointer = None
    if report.ok:
        # asked again as the pointer is added: another establishment (a background job
        # dispatched beside this one) may have set the first baseline while this one ran
        with store.exclusive():
            require_may_establish(store, project, bench)
            pointer = store.add_pointer(
                project=project.name, benchmark=bench.name, run_set_id=report.run_set.id,
                git_sha=report.run_set.git_sha, meta_seed=report.run_set.meta_seed,
                action="establish", notes=notes,
            )
    return BaselineResult(report=report, pointer=pointer)

