"""The append-only store: ``$BENCHSTONE_HOME/bench.db``.

All SQL of benchstone lives in this package. Rows are only ever inserted; the schema's triggers
make UPDATE and DELETE fail. Several processes may write at once (WAL mode, a busy timeout, and
a retry on the rare lock error that SQLite reports without waiting).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel

from benchstone.errors import StoreError
from benchstone.paths import FILE_MODE, private_dir
from benchstone.store.database import Database, applied_migrations
from benchstone.store.records import (
    BaselinePointer,
    Comparison,
    Corpus,
    Job,
    JobEvent,
    ReferenceEvent,
    Registration,
    Run,
    RunSet,
    Unregistration,
)
from benchstone.store.schema import HISTORY_TABLES, MIGRATION_NAMES, MIGRATION_SET, migrations
from benchstone.system.host import caller_name, host_name, now, user_name

__all__ = ["HISTORY_TABLES", "Store", "host_name", "now", "user_name"]

BUSY_TIMEOUT_SECONDS = 60.0
_JSON_COLUMNS = {"seeds", "environment", "protected_files", "metric_components", "metadata"}
_BOOL_COLUMNS = {"git_dirty", "forced", "caller_seeds"}
R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")
P = ParamSpec("P")


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def _retry_locked(function: Callable[P, T]) -> Callable[P, T]:
    """``function`` again, after a random and growing pause, while SQLite reports a lock it did
    not wait for (for up to twice the busy timeout); any other error at once."""

    @functools.wraps(function)
    def retried(*args: P.args, **kwargs: P.kwargs) -> T:
        give_up = time.monotonic() + BUSY_TIMEOUT_SECONDS * 2
        attempt = 0
        while True:
            try:
                return function(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _is_lock_error(exc) or time.monotonic() >= give_up:
                    raise
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
            attempt += 1

    return retried


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS & out.keys():
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    for key in _BOOL_COLUMNS & out.keys():
        out[key] = bool(out[key])
    return out


class Store:
    """One connection to the database. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        try:
            self.db = Database(path, BUSY_TIMEOUT_SECONDS)
            self._set_wal()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from None
        for suffix in ("", "-wal", "-shm"):
            sidecar = Path(f"{path}{suffix}")
            if sidecar.exists() and sidecar.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(sidecar, FILE_MODE)

    @_retry_locked
    def _set_wal(self) -> None:
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")

    @_retry_locked
    def _migrate(self) -> None:
        applied = set(applied_migrations(self.db.conn, MIGRATION_SET))
        unknown = applied - set(MIGRATION_NAMES)
        if unknown:
            raise StoreError(
                f"{self.path} was written by a newer benchstone (schema {sorted(unknown)[-1]})",
                fix="upgrade benchstone from its repository (the package index's benchstone is "
                "another project)",
            )
        if applied >= set(MIGRATION_NAMES):
            return
        migrating = self.db.for_migrations()
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            migrations().apply(migrating)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- generic helpers -------------------------------------------------------------------

    @_retry_locked
    def _insert(self, table: str, row: dict[str, Any]) -> int:
        payload = {
            key: (json.dumps(value, sort_keys=True) if key in _JSON_COLUMNS and value is not None
                  else int(value) if isinstance(value, bool) else value)
            for key, value in row.items()
        }
        payload["caller"] = caller_name()
        return self.db.insert(table, payload)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [_decode(row) for row in self.db.query(sql, list(params))]

    def _one(self, model: type[R], sql: str, params: Sequence[Any] = ()) -> R | None:
        rows = self._rows(sql, params)
        return model.model_validate(rows[0]) if rows else None

    def _many(self, model: type[R], sql: str, params: Sequence[Any] = ()) -> list[R]:
        return [model.model_validate(row) for row in self._rows(sql, params)]

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Store]:
        """A write transaction taken up front (BEGIN IMMEDIATE), for read-then-write decisions."""
        conn = self.db.conn
        _retry_locked(conn.execute)("BEGIN IMMEDIATE")
        try:
            yield self
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    # ---- registrations ---------------------------------------------------------------------

    def add_registration(self, **fields: Any) -> Registration:
        row_id = self._insert("registrations", {**fields, "registered_at": now(),
                                                "host": host_name(), "user": user_name()})
        return self._one(Registration, "SELECT * FROM registrations WHERE id = ?", [row_id])  # type: ignore[return-value]

    def latest_registration(self, project: str) -> Registration | None:
        return self._one(
            Registration,
            "SELECT * FROM registrations WHERE project = ? ORDER BY id DESC LIMIT 1",
            [project],
        )

    def registrations(self, project: str | None = None) -> list[Registration]:
        """Every registration of ``project`` (oldest first), or the latest one of each project."""
        if project is not None:
            return self._many(
                Registration, "SELECT * FROM registrations WHERE project = ? ORDER BY id", [project]
            )
        return self._many(
            Registration,
            "SELECT * FROM registrations WHERE id IN "
            "(SELECT MAX(id) FROM registrations GROUP BY project) ORDER BY project",
        )

    def add_unregistration(self, registration: Registration) -> Unregistration:
        row_id = self._insert("unregistrations", {
            "project": registration.project, "registration_id": registration.id, "at": now(),
            "host": host_name(), "user": user_name()})
        return self._one(Unregistration, "SELECT * FROM unregistrations WHERE id = ?",  # type: ignore[return-value]
                         [row_id])

    def unregistered(self) -> dict[str, Unregistration]:
        """The projects whose latest registration was ended by ``unregister``, by name."""
        found = self._many(
            Unregistration,
            "SELECT * FROM unregistrations WHERE registration_id IN "
            "(SELECT MAX(id) FROM registrations GROUP BY project) ORDER BY id",
        )
        return {record.project: record for record in found}

    # ---- run sets and runs -----------------------------------------------------------------

    def add_run_set(self, **fields: Any) -> RunSet:
        row_id = self._insert("run_sets", {**fields, "created_at": now(),
                                           "host": host_name(), "user": user_name()})
        return self.run_set(row_id)  # type: ignore[return-value]

    def run_set(self, run_set_id: int) -> RunSet | None:
        return self._one(RunSet, "SELECT * FROM run_sets WHERE id = ?", [run_set_id])

    def run_sets(
        self,
        project: str,
        benchmark: str,
        *,
        git_sha: str | None = None,
        meta_seed: int | None = None,
        kinds: Sequence[str] = ("run", "baseline", "compare"),
        comparison_id: int | None = None,
        limit: int | None = None,
        git_sha_prefix: str | None = None,
        since: str | None = None,
    ) -> list[RunSet]:
        """Run sets of one benchmark, newest first, optionally narrowed (``since``: recorded at
        or after this UTC time, in the form :func:`now` writes)."""
        clauses = ["project = ?", "benchmark = ?", f"kind IN ({', '.join('?' for _ in kinds)})"]
        params: list[Any] = [project, benchmark, *kinds]
        if git_sha is not None:
            clauses.append("git_sha = ?")
            params.append(git_sha)
        if git_sha_prefix is not None:
            clauses.append("substr(git_sha, 1, ?) = ?")
            params += [len(git_sha_prefix), git_sha_prefix.lower()]
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since)
        if meta_seed is not None:
            clauses.append("meta_seed = ?")
            params.append(meta_seed)
        if comparison_id is not None:
            clauses.append("comparison_id = ?")
            params.append(comparison_id)
        sql = f"SELECT * FROM run_sets WHERE {' AND '.join(clauses)} ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._many(RunSet, sql, params)

    def add_repetition_start(self, run_set_id: int, repetition: int, seed: int) -> None:
        """Put a repetition on record before it runs: one that never gets its row is unfinished."""
        self._insert("repetition_starts", {
            "run_set_id": run_set_id, "repetition": repetition, "seed": seed,
            "started_at": now(), "host": host_name(), "pid": os.getpid()})

    def unfinished_repetitions(self, run_set_ids: Sequence[int]) -> int:
        """How many repetitions of these run sets started and have no row: still running,
        interrupted, or their harness killed."""
        if not run_set_ids:
            return 0
        marks = ", ".join("?" for _ in run_set_ids)
        rows = self._rows(
            "SELECT COUNT(*) AS n FROM (SELECT DISTINCT s.run_set_id, s.repetition "
            f"FROM repetition_starts s WHERE s.run_set_id IN ({marks}) AND NOT EXISTS ("
            "SELECT 1 FROM runs r WHERE r.run_set_id = s.run_set_id "
            "AND r.repetition = s.repetition))", list(run_set_ids))
        return int(rows[0]["n"])

    def latest_starters(self, run_set_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
        """The host and process id of the harness that started the newest repetition of each
        of these run sets (those with any start)."""
        if not run_set_ids:
            return {}
        marks = ", ".join("?" for _ in run_set_ids)
        rows = self._rows(
            "SELECT s.run_set_id AS run_set_id, s.host AS host, s.pid AS pid FROM "
            "repetition_starts s WHERE s.id IN (SELECT MAX(id) FROM repetition_starts "
            f"WHERE run_set_id IN ({marks}) GROUP BY run_set_id)", list(run_set_ids))
        return {int(row["run_set_id"]): (str(row["host"]), int(row["pid"])) for row in rows}

    def unfinished_repetition_indices(self, run_set_id: int) -> set[int]:
        """The repetitions of one run set that started and have no row."""
        rows = self._rows(
            "SELECT DISTINCT s.repetition AS repetition FROM repetition_starts s "
            "WHERE s.run_set_id = ? AND NOT EXISTS (SELECT 1 FROM runs r WHERE "
            "r.run_set_id = s.run_set_id AND r.repetition = s.repetition)", [run_set_id])
        return {int(row["repetition"]) for row in rows}

    def run_sets_of_tree(self, project: str, benchmark: str, *, tree_sha: str, git_sha: str,
                         kinds: Sequence[str] = ("run",)) -> list[RunSet]:
        """Run sets whose commit holds the tree ``tree_sha`` (or, recorded before trees were,
        at ``git_sha`` itself), newest first."""
        kind_marks = ", ".join("?" for _ in kinds)
        return self._many(
            RunSet,
            "SELECT * FROM run_sets WHERE project = ? AND benchmark = ? "
            f"AND kind IN ({kind_marks}) AND (tree_sha = ? OR (tree_sha IS NULL AND git_sha = ?)) "
            "ORDER BY id DESC",
            [project, benchmark, *kinds, tree_sha, git_sha])

    def add_run(self, **fields: Any) -> Run:
        row_id = self._insert("runs", {**fields, "host": host_name()})
        return self._one(Run, "SELECT * FROM runs WHERE id = ?", [row_id])  # type: ignore[return-value]

    def runs_of(self, run_set_ids: Sequence[int]) -> list[Run]:
        """Rows of the given run sets, in insertion order."""
        if not run_set_ids:
            return []
        marks = ", ".join("?" for _ in run_set_ids)
        return self._many(
            Run, f"SELECT * FROM runs WHERE run_set_id IN ({marks}) ORDER BY id", list(run_set_ids)
        )

    def runs_at(self, project: str, benchmark: str, git_sha: str) -> list[Run]:
        return self._many(
            Run,
            "SELECT * FROM runs WHERE project = ? AND benchmark = ? AND git_sha = ? ORDER BY id",
            [project, benchmark, git_sha],
        )

    def benchmark_runs(self, project: str, benchmark: str, *, git_sha_prefix: str | None = None,
                       started_since: str | None = None, limit: int | None = None) -> list[Run]:
        """Rows of one benchmark in id order: those whose commit starts with ``git_sha_prefix``
        and that started at or after ``started_since`` (a UTC time as the rows store it); with
        ``limit``, only the newest ``limit`` of them."""
        clauses = ["project = ?", "benchmark = ?"]
        params: list[Any] = [project, benchmark]
        if git_sha_prefix:
            clauses.append("substr(git_sha, 1, ?) = ?")
            params += [len(git_sha_prefix), git_sha_prefix]
        if started_since is not None:
            clauses.append("started_at >= ?")
            params.append(started_since)
        sql = f"SELECT * FROM runs WHERE {' AND '.join(clauses)} ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._many(Run, sql, params)[::-1]

    def run(self, run_id: int) -> Run | None:
        return self._one(Run, "SELECT * FROM runs WHERE id = ?", [run_id])

    def count_all_runs(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    # ---- baseline pointers -----------------------------------------------------------------

    def add_pointer(self, **fields: Any) -> BaselinePointer:
        row_id = self._insert("baseline_pointers", {**fields, "created_at": now(),
                                                    "host": host_name(), "user": user_name()})
        return self._one(BaselinePointer, "SELECT * FROM baseline_pointers WHERE id = ?",  # type: ignore[return-value]
                         [row_id])

    def current_pointer(self, project: str, benchmark: str) -> BaselinePointer | None:
        return self._one(
            BaselinePointer,
            "SELECT * FROM baseline_pointers WHERE project = ? AND benchmark = ? "
            "ORDER BY id DESC LIMIT 1",
            [project, benchmark],
        )

    def pointers(self, project: str, benchmark: str) -> list[BaselinePointer]:
        return self._many(
            BaselinePointer,
            "SELECT * FROM baseline_pointers WHERE project = ? AND benchmark = ? ORDER BY id",
            [project, benchmark],
        )

    # ---- references ------------------------------------------------------------------------

    def add_reference_event(self, **fields: Any) -> ReferenceEvent:
        row_id = self._insert("reference_events", {**fields, "created_at": now(),
                                                   "host": host_name(), "user": user_name()})
        return self._one(ReferenceEvent, "SELECT * FROM reference_events WHERE id = ?",  # type: ignore[return-value]
                         [row_id])

    def current_reference(self, project: str, benchmark: str) -> ReferenceEvent | None:
        return self._one(
            ReferenceEvent,
            "SELECT * FROM reference_events WHERE project = ? AND benchmark = ? "
            "ORDER BY id DESC LIMIT 1",
            [project, benchmark],
        )

    def reference_events(self, project: str, benchmark: str) -> list[ReferenceEvent]:
        return self._many(
            ReferenceEvent,
            "SELECT * FROM reference_events WHERE project = ? AND benchmark = ? ORDER BY id",
            [project, benchmark],
        )

    # ---- jobs ------------------------------------------------------------------------------

    def add_job(self, **fields: Any) -> Job:
        self._insert("jobs", {**fields, "created_at": now(), "host": host_name(),
                              "user": user_name()})
        return self.job(fields["id"])  # type: ignore[return-value]

    def job(self, job_id: str) -> Job | None:
        return self._one(Job, "SELECT * FROM jobs WHERE id = ?", [job_id])

    def jobs(self, limit: int | None = None, *, with_foreground: bool = True) -> list[Job]:
        """Jobs, newest first; without foreground ones (those have no spec file) if asked."""
        where = "" if with_foreground else "WHERE spec_path != '' "
        sql = f"SELECT * FROM jobs {where}ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._many(Job, sql)

    def add_job_event(self, **fields: Any) -> JobEvent:
        row_id = self._insert("job_events", {**fields, "at": now()})
        return self._one(JobEvent, "SELECT * FROM job_events WHERE id = ?", [row_id])  # type: ignore[return-value]

    def add_cancel_request(self, job_id: str) -> None:
        """``bench cancel`` asked to stop ``job_id``: on record, with who asked, before the
        job is signalled."""
        self._insert("cancel_requests", {"job_id": job_id, "at": now(), "host": host_name()})

    def cancel_requests(self, job_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM cancel_requests WHERE job_id = ? ORDER BY id",
                          [job_id])

    def job_events(self, job_id: str) -> list[JobEvent]:
        return self._many(JobEvent, "SELECT * FROM job_events WHERE job_id = ? ORDER BY id",
                          [job_id])

    def open_job_events(self, since: int = 0) -> list[JobEvent]:
        """The newest event of every job whose newest event is queued or running and has an id of
        at least ``since`` (see :meth:`job_mark`), oldest first."""
        return self._many(
            JobEvent,
            "SELECT * FROM job_events AS e WHERE e.id >= ? AND e.state IN ('queued', 'running') "
            "AND NOT EXISTS (SELECT 1 FROM job_events AS later "
            "WHERE later.job_id = e.job_id AND later.id > e.id) ORDER BY e.id",
            [since],
        )

    def job_mark(self) -> int:
        """The low-water mark: every job whose newest event id is below it has ended."""
        row = self.db.execute("SELECT event_id FROM job_marks ORDER BY id DESC LIMIT 1").fetchone()
        return int(row[0]) if row else 0

    def add_job_mark(self, event_id: int) -> None:
        self._insert("job_marks", {"event_id": event_id, "at": now()})

    def last_job_event_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM job_events").fetchone()[0])

    def jobs_by_prefix(self, prefix: str) -> list[Job]:
        """Jobs whose id starts with ``prefix``."""
        return self._many(Job, "SELECT * FROM jobs WHERE substr(id, 1, ?) = ? ORDER BY id",
                          [len(prefix), prefix])

    def runs_of_job(self, job_id: str) -> list[Run]:
        return self._many(
            Run,
            "SELECT runs.* FROM runs JOIN run_sets ON runs.run_set_id = run_sets.id "
            "WHERE run_sets.job_id = ? ORDER BY runs.id",
            [job_id],
        )

    # ---- comparisons -----------------------------------------------------------------------

    def add_comparison(self, **fields: Any) -> Comparison:
        row_id = self._insert("comparisons", {**fields, "created_at": now()})
        return self._one(Comparison, "SELECT * FROM comparisons WHERE id = ?", [row_id])  # type: ignore[return-value]

    def comparison(self, comparison_id: int) -> Comparison | None:
        return self._one(Comparison, "SELECT * FROM comparisons WHERE id = ?", [comparison_id])

    def comparisons(self, project: str, benchmark: str, baseline_sha: str,
                    candidate_sha: str) -> list[Comparison]:
        """Every comparison of the same two commits, oldest first."""
        return self._many(
            Comparison,
            "SELECT * FROM comparisons WHERE project = ? AND benchmark = ? AND baseline_sha = ? "
            "AND candidate_sha = ? ORDER BY id",
            [project, benchmark, baseline_sha, candidate_sha],
        )

    # ---- harness-owned corpora -------------------------------------------------------------

    def add_corpus(self, **fields: Any) -> Corpus:
        row_id = self._insert("corpora", {**fields, "added_at": now(), "host": host_name(),
                                          "user": user_name()})
        return self._one(Corpus, "SELECT * FROM corpora WHERE id = ?", [row_id])  # type: ignore[return-value]

    def corpus(self, name: str) -> Corpus | None:
        return self._one(Corpus, "SELECT * FROM corpora WHERE name = ? ORDER BY id DESC LIMIT 1",
                         [name])

    def corpora(self) -> list[Corpus]:
        return self._many(
            Corpus,
            "SELECT * FROM corpora WHERE id IN (SELECT MAX(id) FROM corpora GROUP BY name) "
            "ORDER BY name",
        )
