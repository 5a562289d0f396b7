"""A benchmark's history: its newest run sets, newest first, with the baseline moves that
named them. Read-only."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.store import Store
from benchstone.store.records import BaselinePointer, Run, RunSet


class TimelineEntry(BaseModel):
    run_set: RunSet
    runs: list[Run]
    baseline_events: list[BaselinePointer] = Field(default_factory=list)


class Timeline(BaseModel):
    project: str
    benchmark: str
    current_baseline: BaselinePointer | None
    entries: list[TimelineEntry]


def timeline(store: Store, project: Project, bench: BenchmarkSpec, limit: int) -> Timeline:
    sets = store.run_sets(project.name, bench.name, limit=limit)
    runs = store.runs_of([rs.id for rs in sets])
    pointers = store.pointers(project.name, bench.name)
    entries = [
        TimelineEntry(
            run_set=rs, runs=[run for run in runs if run.run_set_id == rs.id],
            baseline_events=[p for p in pointers if p.run_set_id == rs.id],
        )
        for rs in sets
    ]
    return Timeline(project=project.name, benchmark=bench.name,
                    current_baseline=pointers[-1] if pointers else None, entries=entries)


def since_bound(since: str | dt.datetime | dt.date) -> str:
    """``since`` as the rows store times (UTC, ISO 8601 with microseconds), to compare with
    ``started_at``. A date means its midnight; a time without a zone is UTC, as every stored
    time is. Raises ValueError for text that is not an ISO 8601 date or time."""
    if isinstance(since, dt.datetime):
        moment = since
    elif isinstance(since, dt.date):
        moment = dt.datetime.combine(since, dt.time())
    else:
        try:
            moment = dt.datetime.fromisoformat(since.strip())
        except ValueError:
            raise ValueError(f"since must be an ISO 8601 date or time such as 2024-05-01 or "
                             f"2024-05-01T12:00:00+02:00 (got {since!r})") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def runs(store: Store, project: Project, bench: BenchmarkSpec, *, limit: int | None = None,
         git_sha_prefix: str | None = None,
         since: str | dt.datetime | dt.date | None = None) -> list[Run]:
    """A benchmark's rows in id order (oldest first), as the original's ``history`` returns
    them: those at a commit starting with ``git_sha_prefix``, started at or after ``since``;
    with ``limit``, the newest ``limit`` of those."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be at least 0 (got {limit})")
    prefix = git_sha_prefix.strip().lower() if git_sha_prefix else None
    return store.benchmark_runs(project.name, bench.name, git_sha_prefix=prefix,
                                started_since=None if since is None else since_bound(since),
                                limit=limit)
