"""``bench gc``: what a benchstone process that is gone left behind, removed."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from benchstone.paths import Home


class Leftovers(BaseModel):
    """What one collection removed: short container ids and work directories."""

    containers: list[str]
    workdirs: list[Path]
    snapshots: list[str] = []


def collect_leftovers(*, include_live: bool = False, home: Home | None = None) -> Leftovers:
    """Remove orphaned sandbox containers (all of this host's with ``include_live``), then the
    work directories whose harness is gone, then (given ``home``) the corpus snapshots no live
    run set uses."""
    from benchstone.project.snapshots import collect_snapshots
    from benchstone.sandbox.docker.cleanup import collect_orphans
    from benchstone.system.workdirs import collect_workdirs

    containers = collect_orphans(include_live=include_live)
    snapshots = collect_snapshots(home) if home is not None else []
    return Leftovers(containers=containers, workdirs=collect_workdirs(), snapshots=snapshots)
