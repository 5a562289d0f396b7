"""A benchmark's history: its newest run sets, newest first, with the baseline moves that
named them. Read-only."""

from __future__ import annotations

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
