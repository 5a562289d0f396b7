"""``baseline establish``: run the baseline seeds and point the baseline at the run set, when
at least one repetition succeeded."""

from __future__ import annotations

from pydantic import BaseModel

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


def establish(store: Store, place: Home, project: Project, bench: BenchmarkSpec,
              request: RunRequest, progress: Progress | None) -> BaselineResult:
    report = runner.execute(store, place, project, bench, request, progress)
    pointer = None
    if report.ok:
        pointer = store.add_pointer(
            project=project.name, benchmark=bench.name, run_set_id=report.run_set.id,
            git_sha=report.run_set.git_sha, meta_seed=report.run_set.meta_seed,
            action="establish",
        )
    return BaselineResult(report=report, pointer=pointer)

