"""Running a dispatched background job in this process, as its worker does: wait in the queue
while it is queued, run it on the cores it was granted, and record how it ended."""

from __future__ import annotations

from pathlib import Path

from benchstone.jobs import leases
from benchstone.jobs.dispatch import JobStatus, await_own_event, find_job, read_spec, status_of
from benchstone.paths import Home
from benchstone.project import registry
from benchstone.run import baseline, runner
from benchstone.run.runner import Progress
from benchstone.store import Store


def run_job(spec_file: Path, progress: Progress | None = None) -> JobStatus:
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
            else:
                leases.finish_run(lease, runner.execute(store, place, project, bench, request,
                                                        progress))
        return status_of(store, job)
    finally:
        store.close()
