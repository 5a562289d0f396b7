"""The database schema as ordered, named forward migrations.

A migration, once released, is never edited: change the schema by appending a new one. Every
history table gets triggers that abort UPDATE and DELETE, so append-only holds even against a
raw ``sqlite3 bench.db "DELETE FROM runs"``. A third trigger aborts an INSERT that collides with
a stored row on a unique key: ``INSERT OR REPLACE`` deletes the old row without firing DELETE
triggers (SQLite fires them on REPLACE only with ``recursive_triggers``, a per-connection
setting), so without it ``REPLACE INTO runs ...`` would rewrite history.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database, Migrations

INITIAL_TABLES = (
    "registrations",
    "run_sets",
    "runs",
    "baseline_pointers",
    "reference_events",
    "jobs",
    "job_events",
    "comparisons",
    "corpora",
)
HISTORY_TABLES = (*INITIAL_TABLES, "job_marks", "unregistrations", "repetition_starts",
                  "cancel_requests")
# The tables before 0005, which gained the caller column then (cancel_requests has it from birth).
CALLER_TABLES = HISTORY_TABLES[:-1]

_TABLES = """
CREATE TABLE registrations (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    path TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    manifest_file TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    host TEXT NOT NULL,
    user TEXT NOT NULL
);
CREATE TABLE comparisons (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    baseline_sha TEXT NOT NULL,
    candidate_sha TEXT NOT NULL,
    pairs INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    command TEXT NOT NULL,
    spec_path TEXT NOT NULL,
    threads INTEGER NOT NULL,
    gpu TEXT NOT NULL,
    repetitions INTEGER NOT NULL,
    expected_seconds REAL,
    created_at TEXT NOT NULL,
    host TEXT NOT NULL,
    user TEXT NOT NULL
);
CREATE TABLE job_events (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    state TEXT NOT NULL CHECK (state IN
        ('queued', 'running', 'done', 'failed', 'cancelled', 'lost')),
    pid INTEGER,
    pid_start TEXT,
    cores TEXT,
    gpus TEXT,
    message TEXT,
    at TEXT NOT NULL
);
CREATE TABLE run_sets (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('run', 'baseline', 'compare')),
    git_sha TEXT NOT NULL,
    git_dirty INTEGER NOT NULL,
    diff_path TEXT,
    meta_seed INTEGER,
    repetitions INTEGER NOT NULL,
    seeds TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    image TEXT,
    image_id TEXT,
    env_hash TEXT NOT NULL,
    environment TEXT NOT NULL,
    cpuset TEXT,
    gpus TEXT,
    protected_hash TEXT,
    protected_files TEXT NOT NULL DEFAULT '{}',
    manifest_sha256 TEXT NOT NULL,
    job_id TEXT REFERENCES jobs(id),
    comparison_id INTEGER REFERENCES comparisons(id),
    side TEXT CHECK (side IS NULL OR side IN ('baseline', 'candidate')),
    host TEXT NOT NULL,
    user TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    run_set_id INTEGER NOT NULL REFERENCES run_sets(id),
    project TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    git_sha TEXT NOT NULL,
    git_dirty INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    repetition INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    metric REAL,
    metric_components TEXT,
    metadata TEXT,
    message TEXT,
    failure TEXT,
    exit_code INTEGER,
    wall_clock_seconds REAL,
    harness_wall_seconds REAL,
    harness_cpu_seconds REAL,
    artifact_sha256 TEXT,
    artifact_size INTEGER,
    stdout_path TEXT,
    stderr_path TEXT,
    sandbox TEXT NOT NULL,
    image_id TEXT,
    cpuset TEXT,
    host TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    UNIQUE (run_set_id, repetition),
    CHECK (status = 'error' OR metric IS NOT NULL)
);
CREATE TABLE baseline_pointers (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    run_set_id INTEGER NOT NULL REFERENCES run_sets(id),
    git_sha TEXT NOT NULL,
    meta_seed INTEGER,
    action TEXT NOT NULL CHECK (action IN ('establish', 'promote')),
    forced INTEGER NOT NULL DEFAULT 0,
    verdict TEXT,
    created_at TEXT NOT NULL,
    user TEXT NOT NULL,
    host TEXT NOT NULL
);
CREATE TABLE reference_events (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('freeze', 'replace')),
    git_sha TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    old_sha256 TEXT,
    new_sha256 TEXT NOT NULL,
    reason TEXT,
    created_at TEXT NOT NULL,
    user TEXT NOT NULL,
    host TEXT NOT NULL
);
CREATE TABLE corpora (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at TEXT NOT NULL,
    user TEXT NOT NULL,
    host TEXT NOT NULL
);
"""

_INDEXES = (
    ("registrations", ["project", "id"]),
    ("run_sets", ["project", "benchmark", "id"]),
    ("run_sets", ["project", "benchmark", "git_sha", "id"]),
    ("run_sets", ["job_id"]),
    ("runs", ["run_set_id"]),
    ("runs", ["project", "benchmark", "git_sha"]),
    ("baseline_pointers", ["project", "benchmark", "id"]),
    ("reference_events", ["project", "benchmark", "id"]),
    ("job_events", ["job_id", "id"]),
    ("corpora", ["name", "id"]),
)


# Every unique key of every history table: an INSERT matching a stored row on any of them is
# refused, since INSERT OR REPLACE would delete that row.
_UNIQUE_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    table: (("id",),) for table in HISTORY_TABLES
}
_UNIQUE_KEYS["runs"] = (("id",), ("run_set_id", "repetition"))


MIGRATION_SET = "benchstone"
MIGRATION_NAMES: list[str] = []
_MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = []


def migration(name: str) -> Callable[[Callable[[Database], None]], Callable[[Database], None]]:
    """Register a migration under ``name``, remembering the order of the names we know."""

    def register(function: Callable[[Database], None]) -> Callable[[Database], None]:
        MIGRATION_NAMES.append(name)
        _MIGRATIONS.append((name, function))
        return function

    return register


@cache
def migrations() -> Migrations:
    """sqlite-utils' migration set of every migration above, built on first use: the names
    alone, which a look at the store without opening it compares (``store/peek.py``), need no
    sqlite-utils."""
    from benchstone.store.database import sqlite_utils

    built = sqlite_utils().Migrations(MIGRATION_SET)
    for name, function in _MIGRATIONS:
        built(name=name)(function)
    return built


def _append_only(db: Database, table: str, unique_keys: tuple[tuple[str, ...], ...]) -> None:
    """Triggers that abort UPDATE, DELETE and an INSERT that would replace a stored row
    (``INSERT OR REPLACE`` deletes without firing delete triggers)."""
    for action, verb in (("UPDATE", "updated"), ("DELETE", "deleted")):
        db.execute(
            f"CREATE TRIGGER {table}_append_only_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows cannot be {verb}'); END"
        )
    collides = " OR ".join(
        "(" + " AND ".join(f"{column} = NEW.{column}" for column in key) + ")"
        for key in unique_keys
    )
    db.execute(
        f"CREATE TRIGGER {table}_append_only_replace BEFORE INSERT ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {collides}) "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: a stored row cannot be "
        "replaced'); END"
    )


@migration("0001_initial")
def initial(db: Database) -> None:
    for statement in _TABLES.split(";"):
        if statement.strip():
            db.execute(statement)
    for table, columns in _INDEXES:
        db[table].create_index(columns, find_unique_name=True)
    for table in INITIAL_TABLES:
        _append_only(db, table, _UNIQUE_KEYS[table])


@migration("0002_job_marks")
def job_marks(db: Database) -> None:
    """The scheduler's low-water mark: every job whose newest event is older than the newest
    mark has ended, so admission reads only the events after it, not the whole job history."""
    db.execute(
        "CREATE TABLE job_marks (id INTEGER PRIMARY KEY, "
        "event_id INTEGER NOT NULL, at TEXT NOT NULL)"
    )
    _append_only(db, "job_marks", _UNIQUE_KEYS["job_marks"])


@migration("0003_notes_and_unregistrations")
def notes_and_unregistrations(db: Database) -> None:
    """A free-form note on a baseline move and on a reference event (``--notes``), and
    ``bench unregister``: an event that ends a registration, which a later registration undoes.
    A project's rows stay; only the event is added."""
    db.execute("ALTER TABLE baseline_pointers ADD COLUMN notes TEXT")
    db.execute("ALTER TABLE reference_events ADD COLUMN notes TEXT")
    db.execute(
        "CREATE TABLE unregistrations (id INTEGER PRIMARY KEY, project TEXT NOT NULL, "
        "registration_id INTEGER NOT NULL REFERENCES registrations(id), at TEXT NOT NULL, "
        "user TEXT NOT NULL, host TEXT NOT NULL)"
    )
    db["unregistrations"].create_index(["project", "id"], find_unique_name=True)
    _append_only(db, "unregistrations", _UNIQUE_KEYS["unregistrations"])


@migration("0004_repetition_starts_and_trees")
def repetition_starts_and_trees(db: Database) -> None:
    """Every repetition is on record from the moment it starts (a start without its row never
    finished: interrupted, or its harness killed), and every run set records its commit's tree,
    so that the sequential budget belongs to the tree rather than to the commit's SHA."""
    db.execute(
        "CREATE TABLE repetition_starts (id INTEGER PRIMARY KEY, "
        "run_set_id INTEGER NOT NULL REFERENCES run_sets(id), repetition INTEGER NOT NULL, "
        "seed INTEGER NOT NULL, started_at TEXT NOT NULL, host TEXT NOT NULL, "
        "pid INTEGER NOT NULL)"
    )
    db["repetition_starts"].create_index(["run_set_id"], find_unique_name=True)
    _append_only(db, "repetition_starts", _UNIQUE_KEYS["repetition_starts"])
    db.execute("ALTER TABLE run_sets ADD COLUMN tree_sha TEXT")
    db["run_sets"].create_index(["project", "benchmark", "tree_sha", "id"], find_unique_name=True)


@migration("0005_caller_seeds")
def caller_seeds(db: Database) -> None:
    """Whether the caller chose a run set's seeds (``--meta-seed``, explicit seeds, the public
    ``baseline_seeds``): such a set reproduces one and is never gate evidence. Run sets recorded
    before the column have NULL, read as harness-chosen (nothing else can be known of them)."""
    db.execute("ALTER TABLE run_sets ADD COLUMN caller_seeds INTEGER")


@migration("0006_instructions_and_calibration")
def instructions_and_calibration(db: Database) -> None:
    """Each run's instruction count (metric_source harness_instructions), and run sets of kind
    ``calibrate`` (bench calibrate: on record, never a gate's evidence).

    SQLite cannot alter a CHECK constraint. Widening one changes nothing stored, which is the
    case SQLite documents for editing the table's definition in place (``writable_schema``,
    then a new ``schema_version``) instead of rebuilding the table: a rebuild would drop the
    table that every run references."""
    db.execute("ALTER TABLE runs ADD COLUMN harness_instructions INTEGER")
    old_check = "CHECK (kind IN ('run', 'baseline', 'compare'))"
    new_check = "CHECK (kind IN ('run', 'baseline', 'compare', 'calibrate'))"
    table_sql = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'run_sets'").fetchone()[0]
    if old_check not in table_sql:
        raise RuntimeError("run_sets has an unexpected definition: not migrated")
    version = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'run_sets'",
                   [table_sql.replace(old_check, new_check)])
        db.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")
@migration("0007_callers_and_cancel_requests")
def callers_and_cancel_requests(db: Database) -> None:
    """Who asked for every row: the harness service writes the caller the kernel named on its
    socket (a client's own user is the ``user`` column's service user then); local mode writes
    the local user. And ``bench cancel`` as a request on record: who asked to stop which job,
    written before the job is signalled. Rows from before this migration have no caller."""
    for table in CALLER_TABLES:
        db.execute(f"ALTER TABLE {table} ADD COLUMN caller TEXT")
    db.execute(
        "CREATE TABLE cancel_requests (id INTEGER PRIMARY KEY, "
        "job_id TEXT NOT NULL REFERENCES jobs(id), at TEXT NOT NULL, host TEXT NOT NULL, "
        "caller TEXT NOT NULL)"
    )
    db["cancel_requests"].create_index(["job_id"], find_unique_name=True)
    _append_only(db, "cancel_requests", _UNIQUE_KEYS["cancel_requests"])
@migration("0008_runtime")
def runtime(db: Database) -> None:
    """The container runtime every run set and every repetition ran under (``runc``, ``runsc``
    for gVisor); NULL for the process sandbox and for rows recorded before it was."""
    db.execute("ALTER TABLE run_sets ADD COLUMN runtime TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN runtime TEXT")


@migration("0009_comparison_design")
def comparison_design(db: Database) -> None:
    """How a comparison ran its pairs: ``alternating`` (one half after the other, in random
    order) or ``duet`` (both halves at once, on disjoint cores). Comparisons recorded before
    the column have NULL, read as alternating: the only design there was."""
    db.execute("ALTER TABLE comparisons ADD COLUMN design TEXT")
