"""The sequential boundaries kept in the state directory: computing one design's boundaries
takes seconds (a Monte Carlo of 100,000 null streams per null family), reading them back a
millisecond. One 0o600 JSON file per design, under ``cache/boundaries``, named by the design
and the code version (``benchstone.stats.sequential.design_key``); a file that is unreadable or
does not fit the design is recomputed and rewritten, never trusted."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from benchstone.paths import Home, write_private
from benchstone.stats import sequential


class StateDirectoryBoundaries:
    """A ``benchstone.stats.sequential.BoundaryStore`` in ``$BENCHSTONE_HOME/cache/boundaries``."""

    def __init__(self, home: Home) -> None:
        self.directory = home.root / "cache" / "boundaries"

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> tuple[float, ...] | None:
        try:
            values = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(values, list) or not all(isinstance(v, float) for v in values):
            return None
        return tuple(values)

    def save(self, key: str, values: tuple[float, ...]) -> None:
        # a read-only state directory only costs the recomputation next time
        with contextlib.suppress(OSError):
            write_private(self._path(key), json.dumps(list(values)))


def keep_boundaries_in(home: Home) -> None:
    """From now on, this process reads and writes boundaries in ``home``'s state directory."""
    sequential.use_store(StateDirectoryBoundaries(home))
