"""Running a dispatched background job in this process, as its worker does: wait in the queue
while it is queued, run it on the cores it was granted, and record how it ended."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchstone.jobs import leases
from benchstone.jobs.dispatch import JobStatus, await_own_event, find_job, read_spec, status_of
from benchstone.paths import Home
from benchstone.project import registry
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.run import baseline, runner
from benchstone.run.runner import Progress, RunRequest, RunSetReport
from benchstone.store import Store

# Runs a ``design = "paired"`` benchmark's job (pairs of the baseline commit and the pinned
# candidate, under the job's lease) and returns the candidate halves' report, if any ran. The
# paired evaluation lives in a room above the jobs, so the caller (the API) supplies it.
PairedRun = Callable[[Store, Home, Project, BenchmarkSpec, RunRequest, Progress | None],
                     RunSetReport | None]
# What runs before a run job's repetitions (fresh baseline runs a PROMOTE calls for: the
# evaluation that knows of them is above the jobs too), on the job's lease.
BeforeRun = Callable[[Store, Home, Project, BenchmarkSpec, RunRequest, Progress | None], None]


def run_job(spec_file: Path, progress: Progress | None = None,
            paired: PairedRun | None = None, before_run: BeforeRun | None = None) -> JobStatus:
    spec = read_spec(spec_file)
    place = Home(Path(spec.home)).ensure()
    store = Store(place.database)
    try:
        job = find_job(store, spec.job_id)
        event = await_own_event(store, job.id)
        notify = progress.on_notice if progress else (lambda message: None)
        with leases.holding(store, job, event, on_wait=notify) as lease:
            project = registry.load_project(store, spec.project)
            bench = project.benchmark(spec.benchmark)
            request = spec.request(lease)
            if spec.kind == "baseline":
                leases.finish_baseline(lease, baseline.establish(store, place, project, bench,
                                                                 request, progress, spec.notes))
            elif bench.is_paired:
                if paired is None:
                    raise RuntimeError("a design = paired job runs through benchstone.api.run_job")
                report = paired(store, place, project, bench, request, progress)
                if report is not None:
                    leases.finish_run(lease, report)
            else:
                if before_run is not None:
                    before_run(store, place, project, bench, request, progress)
                leases.finish_run(lease, runner.execute(store, place, project, bench, request,
                                                        progress))
        return status_of(store, job)
    finally:
        store.close()
