"""``bench gc``: what a benchstone process that is gone left behind, removed."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class Leftovers(BaseModel):
    """What one collection removed: short container ids and work directories."""

    containers: list[str]
    workdirs: list[Path]


def collect_leftovers(*, include_live: bool = False) -> Leftovers:
    """Remove orphaned sandbox containers (all of this host's with ``include_live``), then the
    work directories whose harness is gone."""
    from benchstone.sandbox.docker.cleanup import collect_orphans
    from benchstone.system.workdirs import collect_workdirs

    containers = collect_orphans(include_live=include_live)
    return Leftovers(containers=containers, workdirs=collect_workdirs())
