"""A benchmark's history: its newest run sets, newest first, with the baseline moves and the
reference events that named them. Read-only."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pydantic import BaseModel, Field

from benchstone.errors import InvalidArgument
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.store import Store
from benchstone.store.records import BaselinePointer, ReferenceEvent, Run, RunSet
from benchstone.system.host import TIME_FORMATS, stored_time


class TimelineEntry(BaseModel):
    run_set: RunSet
    runs: list[Run]
    baseline_events: list[BaselinePointer] = Field(default_factory=list)
    reference_events: list[ReferenceEvent] = Field(default_factory=list)


class Timeline(BaseModel):
    project: str
    benchmark: str
    current_baseline: BaselinePointer | None
    entries: list[TimelineEntry]
    git_sha_prefix: str | None = None  # the filters it was read with, if any
    since: str | None = None
    metric_source: str = "runner"  # what the gate reads of each run


@dataclass(frozen=True)
class Filters:
    """Which run sets a history shows: a commit prefix, and a time (``since``) they were recorded
    at or after (any form :data:`benchstone.system.host.TIME_FORMATS` names)."""

    git_sha_prefix: str | None = None
    since: str | None = None

    def checked(self) -> Filters:
        """These filters in the store's terms; raises InvalidArgument for a bad one."""
        prefix = self.git_sha_prefix
        if prefix is not None and not re.fullmatch(r"[0-9a-fA-F]{1,40}", prefix):
            raise InvalidArgument(f"--git-sha takes a commit's hex prefix (got {prefix!r})")
        since = self.since
        if since is not None:
            try:
                since = stored_time(since)
            except ValueError:
                raise InvalidArgument(f"--since: cannot read {since!r} as an ISO 8601 date or time",
                                      fix=f"write it as one of: {TIME_FORMATS}") from None
        return Filters(prefix.lower() if prefix else None, since)


def timeline(store: Store, project: Project, bench: BenchmarkSpec, limit: int,
             filters: Filters = Filters()) -> Timeline:
    filters = filters.checked()
    sets = store.run_sets(project.name, bench.name, limit=limit,
                          git_sha_prefix=filters.git_sha_prefix, since=filters.since)
    runs = store.runs_of([rs.id for rs in sets])
    pointers = store.pointers(project.name, bench.name)
    references = store.reference_events(project.name, bench.name)
    entries = []
    for rs in sets:
        own = [run for run in runs if run.run_set_id == rs.id]
        ids = {run.id for run in own}
        entries.append(TimelineEntry(
            run_set=rs, runs=own, baseline_events=[p for p in pointers if p.run_set_id == rs.id],
            reference_events=[event for event in references if event.run_id in ids]))
    return Timeline(project=project.name, benchmark=bench.name,
                    current_baseline=pointers[-1] if pointers else None, entries=entries,
                    git_sha_prefix=filters.git_sha_prefix, since=filters.since,
                    metric_source=bench.metric_source)



def runs(store: Store, project: Project, bench: BenchmarkSpec, *, limit: int | None = None,
         git_sha_prefix: str | None = None,
         since: str | dt.datetime | dt.date | None = None) -> list[Run]:
    """A benchmark's rows in id order (oldest first), as the original's ``history`` returns
    them: those at a commit starting with ``git_sha_prefix``, started at or after ``since``;
    with ``limit``, the newest ``limit`` of those."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be at least 0 (got {limit})")
    if isinstance(since, dt.date) and not isinstance(since, dt.datetime):
        since = dt.datetime.combine(since, dt.time())  # a date means its midnight
    filters = Filters(git_sha_prefix.strip() if git_sha_prefix else None,
                      since.isoformat() if isinstance(since, dt.datetime) else since).checked()
    return store.benchmark_runs(project.name, bench.name, git_sha_prefix=filters.git_sha_prefix,
                                started_since=filters.since, limit=limit)
