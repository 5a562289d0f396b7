"""The store's connection: the standard library's sqlite3, and sqlite-utils for migrations only.

A command that reads or appends rows needs nothing but sqlite3: loading sqlite-utils (its
plugins, parsers and the regular expressions it compiles) took a sixth of a warm ``bench
evaluate``. Its ``Migrations`` still apply the schema (``store/schema.py``), loaded only when a
store has a migration pending, over the same connection.

The connection is in autocommit mode: each statement outside an explicit ``BEGIN`` commits on
its own, as sqlite-utils' ``execute`` did; ``Store.exclusive`` and the migrations open explicit
transactions. Recursive triggers are on, as sqlite-utils set them: an ``INSERT OR REPLACE``
then fires the append-only tables' delete trigger too.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

MIGRATIONS_TABLE = "_sqlite_migrations"  # sqlite-utils' name: stores written before keep theirs


class Database:
    """One sqlite3 connection with the few operations the store uses."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA recursive_triggers = ON")

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, parameters)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, parameters)
        keys = [column[0] for column in cursor.description or ()]
        return [dict(zip(keys, row, strict=True)) for row in cursor]

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Append ``row`` to ``table``; its rowid."""
        columns = ", ".join(f'"{column}"' for column in row)
        marks = ", ".join("?" for _ in row)
        cursor = self.conn.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})',
                                   list(row.values()))
        return int(cursor.lastrowid or 0)

    def for_migrations(self) -> Any:
        """sqlite-utils' ``Database`` over this connection, for ``Migrations``."""
        return sqlite_utils().Database(self.conn)

    def close(self) -> None:
        self.conn.close()


def applied_migrations(conn: sqlite3.Connection, migration_set: str) -> list[str]:
    """The names of the set's applied migrations, in the order they were applied (none before
    the first migration made the table)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                          [MIGRATIONS_TABLE]).fetchone()
    if not exists:
        return []
    return [name for (name,) in conn.execute(
        f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid",
        [migration_set])]


_UNNEEDED = frozenset({"numpy", "pandas"})


class _DeclineUnneeded(importlib.abc.MetaPathFinder):
    """sqlite-utils imports numpy and pandas whenever they are installed, only to map their
    scalar types to column types when it infers a table's schema; the migrations create every
    table in SQL. The import it makes is declined, in the importing thread only and only while
    sqlite-utils loads."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in _UNNEEDED and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def sqlite_utils() -> ModuleType:
    """The sqlite_utils module, loaded without numpy and pandas on first use."""
    if "sqlite_utils" not in sys.modules:
        finder = _DeclineUnneeded()
        sys.meta_path.insert(0, finder)
        try:
            importlib.import_module("sqlite_utils")
        finally:
            sys.meta_path.remove(finder)
    return sys.modules["sqlite_utils"]
