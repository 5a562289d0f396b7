"""The append-only store: ``$BENCHSTONE_HOME/bench.db`` through sqlite3, its schema and records."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchstone.store.store import Store, host_name, now

__all__ = ["Store", "host_name", "now"]


def __getattr__(name: str) -> Any:
    # The Store loads sqlite-utils and the records' pydantic models, so it loads on first use:
    # a look that needs neither (store/peek.py, for `bench list` on an empty state directory)
    # must not pay for them by importing this package.
    if name in __all__:
        from benchstone.store import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
