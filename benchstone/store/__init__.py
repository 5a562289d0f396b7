"""The append-only store: ``$BENCHSTONE_HOME/bench.db`` through sqlite-utils, its schema and records."""

from benchstone.store.store import Store, host_name, now

__all__ = ["Store", "host_name", "now"]
