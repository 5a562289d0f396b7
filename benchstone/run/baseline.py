"""``baseline establish``: run the baseline seeds and point the baseline at the run set, when
at least one repetition succeeded."""

from __future__ import annotations

from pydantic import BaseModel

from benchstone.errors import InvalidSetting
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.run import runner
from benchstone.run.runner import Progress, RunRequest, RunSetReport
from benchstone.store import Store
from benchstone.store.records import BaselinePointer


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


def establish(store: Store, place: Home, project: Project, bench: BenchmarkSpec,
              request: RunRequest, progress: Progress | None,
              notes: str | None = None) -> BaselineResult:
    report = runner.execute(store, place, project, bench, request, progress)
    pointer = None
    if report.ok:
        pointer = store.add_pointer(
            project=project.name, benchmark=bench.name, run_set_id=report.run_set.id,
            git_sha=report.run_set.git_sha, meta_seed=report.run_set.meta_seed,
            action="establish", notes=notes,
        )
    return BaselineResult(report=report, pointer=pointer)

