"""A look at the store without opening it: whether any project is registered, read with the
standard library's sqlite3 alone.

``Store`` loads sqlite-utils and the pydantic models of the records, most of the start of a
command; ``bench list`` on a state directory where nothing is registered needs neither. The look
never writes (no database is created, no migration applied), and it answers only when it is
sure: anything unusual (no tables yet, a schema older or newer than this version's, a database
it cannot read) is left to ``Store``, which migrates, refuses or reports it as always.
"""

from __future__ import annotations

from pathlib import Path

from benchstone.store.schema import MIGRATION_NAMES, MIGRATION_SET

BUSY_TIMEOUT_SECONDS = 60.0


def nothing_registered(database: Path) -> bool:
    """True when ``database`` is sure to list no registered project: it does not exist yet, or
    it is at this version's schema and every project in it was unregistered (or none was ever
    registered). False whenever only ``Store`` can say."""
    if not database.exists():
        return True
    import sqlite3  # here: a state directory without a database needs no sqlite

    from benchstone.store.database import applied_migrations

    try:
        conn = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True,
                               timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error:
        return False
    try:
        applied = applied_migrations(conn, MIGRATION_SET)
        if sorted(applied) != sorted(MIGRATION_NAMES):
            return False
        (registered,) = conn.execute(
            "SELECT COUNT(*) FROM registrations WHERE id IN "
            "(SELECT MAX(id) FROM registrations GROUP BY project) AND id NOT IN "
            "(SELECT registration_id FROM unregistrations)").fetchone()
        return registered == 0
    except sqlite3.Error:
        return False
    finally:
        conn.close()
