"""The store: a real SQLite file, WAL, private files, append-only against raw SQL, migrations."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchstone.errors import StoreError
from benchstone.paths import private_dir
from benchstone.store import Store
from benchstone.store.schema import HISTORY_TABLES, MIGRATION_NAMES
from benchstone.system.host import user_name

SQLITE3_CLI = shutil.which("sqlite3")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add_run_set(store: Store, **overrides) -> int:
    fields = dict(project="p", benchmark="b", kind="run", git_sha="a" * 40, git_dirty=False,
                  meta_seed=7, repetitions=2, seeds=[1, 2], sandbox="process", env_hash="e",
                  environment={"cpu": "x"}, protected_hash="sha256:0", protected_files={"f": "1"},
                  manifest_sha256="m")
    fields.update(overrides)
    return store.add_run_set(**fields).id


def add_run(store: Store, run_set_id: int, repetition: int, metric: float | None = 1.0,
            **overrides) -> int:
    fields = dict(run_set_id=run_set_id, project="p", benchmark="b", git_sha="a" * 40,
                  git_dirty=False, seed=repetition, repetition=repetition,
                  status="ok" if metric is not None else "error", metric=metric,
                  message=None if metric is not None else "boom", sandbox="process",
                  started_at="2026-01-01T00:00:00", finished_at="2026-01-01T00:00:01")
    fields.update(overrides)
    return store.add_run(**fields).id


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "bench.db"


@pytest.fixture
def filled(db_path: Path) -> Path:
    """A store with at least one row in every history table."""
    with Store(db_path) as store:
        registration = store.add_registration(project="p", path="/p", manifest_sha256="m",
                                              manifest_file="/m")
        store.add_unregistration(registration)
        store.add_job(id="job1", project="p", benchmark="b", command="bench run p b",
                      spec_path="/s", threads=1, gpu="none", repetitions=2)
        store.add_job_event(job_id="job1", state="queued")
        store.add_job_mark(1)
        store.add_cancel_request("job1")
        comparison = store.add_comparison(project="p", benchmark="b", baseline_sha="a" * 40,
                                          candidate_sha="b" * 40, pairs=2)
        run_set = add_run_set(store, job_id="job1", comparison_id=comparison.id, side="baseline")
        run = add_run(store, run_set, 0)
        add_run(store, run_set, 1, metric=None)
        store.add_repetition_start(run_set, 0, 1)
        store.add_pointer(project="p", benchmark="b", run_set_id=run_set, git_sha="a" * 40,
                          meta_seed=7, action="establish")
        store.add_reference_event(project="p", benchmark="b", action="freeze", git_sha="a" * 40,
                                  run_id=run, new_sha256="c" * 64)
        store.add_corpus(name="held", sha256="sha256:" + "d" * 64, path="/c", source="/src")
    return db_path


def table_dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                for table in HISTORY_TABLES}
    finally:
        conn.close()


# ---- the file ------------------------------------------------------------------------------------


def test_store_is_wal_with_a_busy_timeout(db_path: Path) -> None:
    with Store(db_path) as store:
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 60_000
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
    finally:
        conn.close()


def test_database_and_sidecars_are_0600_in_a_0700_dir(db_path: Path) -> None:
    with Store(db_path) as store:
        add_run(store, add_run_set(store), 0)
        sidecars = [Path(f"{db_path}{suffix}") for suffix in ("", "-wal", "-shm")]
        assert all(p.exists() for p in sidecars)
        for path in sidecars:
            assert mode(path) == 0o600, path
        assert mode(db_path.parent) == 0o700


def test_home_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from benchstone.paths import benchstone_home

    monkeypatch.setenv("BENCHSTONE_HOME", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert benchstone_home() == tmp_path / "explicit"
    monkeypatch.delenv("BENCHSTONE_HOME")
    assert benchstone_home() == tmp_path / "xdg" / "benchstone"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert benchstone_home() == tmp_path / "user" / ".local" / "share" / "benchstone"


def test_private_dir_creates_parents_0700_and_leaves_existing_ones(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    private_dir(tmp_path / "a" / "b" / "c")
    assert mode(tmp_path) == 0o755
    for path in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert mode(path) == 0o700, path
    (tmp_path / "loose").mkdir(mode=0o755)
    private_dir(tmp_path / "loose")
    assert mode(tmp_path / "loose") == 0o700


def test_not_a_database_is_a_store_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(db_path)


# ---- migrations ------------------------------------------------------------------------------


def test_migrations_are_recorded_once(db_path: Path) -> None:
    Store(db_path).close()
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT migration_set, name FROM _sqlite_migrations ORDER BY id").fetchall()
    finally:
        conn.close()
    assert rows == [("benchstone", name) for name in MIGRATION_NAMES]
    assert MIGRATION_NAMES[0] == "0001_initial"


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('benchstone', '9999_from_the_future', '2099-01-01')")
    conn.close()
    with pytest.raises(StoreError) as info:
        Store(db_path)
    assert "written by a newer benchstone" in str(info.value)
    assert "9999_from_the_future" in str(info.value)
    assert info.value.fix and "upgrade" in info.value.fix


def test_every_table_is_a_history_table(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    finally:
        conn.close()
    assert tables - {"_sqlite_migrations"} == set(HISTORY_TABLES)


# ---- append-only against raw SQL -------------------------------------------------------------------

TAMPERING = [
    "DELETE FROM {table}",
    "DELETE FROM {table} WHERE rowid = (SELECT MIN(rowid) FROM {table})",
    "UPDATE {table} SET rowid = rowid",
    "UPDATE {table} SET {column} = {column} || ''",
    "INSERT OR REPLACE INTO {table} SELECT * FROM {table}",
    "REPLACE INTO {table} SELECT * FROM {table} WHERE rowid = (SELECT MIN(rowid) FROM {table})",
    "INSERT INTO {table} SELECT * FROM {table} WHERE true ON CONFLICT DO UPDATE SET {column} = 'x'",
]
TEXT_COLUMN = {"registrations": "path", "run_sets": "git_sha", "runs": "git_sha",
               "baseline_pointers": "git_sha", "reference_events": "new_sha256", "jobs": "command",
               "job_events": "state", "comparisons": "candidate_sha", "corpora": "sha256",
               "job_marks": "at", "unregistrations": "at", "repetition_starts": "started_at",
               "cancel_requests": "caller"}


def test_text_column_map_covers_every_history_table() -> None:
    assert set(TEXT_COLUMN) == set(HISTORY_TABLES)


@pytest.mark.parametrize("statement", TAMPERING)
@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_raw_sqlite3_module_cannot_change_history(filled: Path, table: str, statement: str) -> None:
    before = table_dump(filled)
    assert before[table], f"fixture left {table} empty"
    conn = sqlite3.connect(filled)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"), conn:
            conn.execute(statement.format(table=table, column=TEXT_COLUMN[table]))
    finally:
        conn.close()
    assert table_dump(filled) == before


@pytest.mark.skipif(SQLITE3_CLI is None, reason="the sqlite3 command-line shell is not installed")
@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_raw_sqlite3_shell_cannot_change_history(filled: Path, table: str) -> None:
    before = table_dump(filled)
    for statement in TAMPERING:
        sql = statement.format(table=table, column=TEXT_COLUMN[table])
        result = subprocess.run([SQLITE3_CLI, str(filled), sql], capture_output=True, text=True,
                                check=False)
        assert result.returncode != 0, sql
        assert "append-only" in result.stderr, (sql, result.stderr)
    assert table_dump(filled) == before


def test_replacing_a_run_by_its_unique_key_is_refused(filled: Path) -> None:
    """REPLACE on (run_set_id, repetition) with a fresh id would delete the old row silently."""
    before = table_dump(filled)
    conn = sqlite3.connect(filled)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    others = ", ".join(c for c in columns if c not in ("id", "metric"))
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"), conn:
            conn.execute(f"INSERT OR REPLACE INTO runs (id, metric, {others}) "
                         f"SELECT 999, 0.001, {others} FROM runs WHERE repetition = 0")
    finally:
        conn.close()
    assert table_dump(filled) == before


def test_every_unique_key_is_guarded_against_replace(filled: Path) -> None:
    from benchstone.store.schema import _UNIQUE_KEYS

    conn = sqlite3.connect(filled)
    try:
        for table in HISTORY_TABLES:
            keys = {tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})") if row[5])}
            for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
                if index[2]:  # unique
                    keys.add(tuple(row[2] for row in conn.execute(f"PRAGMA index_info({index[1]})")))
            assert keys == set(_UNIQUE_KEYS[table]), table
    finally:
        conn.close()


def test_appending_still_works_after_tamper_attempts(filled: Path) -> None:
    with Store(filled) as store:
        run_set = add_run_set(store)
        add_run(store, run_set, 0)
        add_run(store, run_set, 1)
        assert store.count_all_runs() == 4


def test_integrity_check_is_ok(filled: Path) -> None:
    with Store(filled) as store:
        assert store.integrity_check() == "ok"


# ---- reading back ----------------------------------------------------------------------------


def test_rows_round_trip_with_json_and_bool_columns(db_path: Path) -> None:
    with Store(db_path) as store:
        run_set = store.run_set(add_run_set(store, git_dirty=True, seeds=[3, 4]))
        assert run_set is not None
        assert (run_set.git_dirty, run_set.seeds, run_set.environment) == (True, [3, 4], {"cpu": "x"})
        run_id = add_run(store, run_set.id, 0, metric=2.5, metric_components={"a": [1, 2]},
                         metadata={"k": None})
        run = store.run(run_id)
        assert run is not None
        assert (run.metric, run.metric_components, run.metadata, run.git_dirty) == (
            2.5, {"a": [1, 2]}, {"k": None}, False)
        assert run.host  # recorded by the store


def test_run_sets_are_newest_first_and_filtered(db_path: Path) -> None:
    with Store(db_path) as store:
        a = add_run_set(store, git_sha="a" * 40, meta_seed=1)
        b = add_run_set(store, git_sha="b" * 40, meta_seed=2, kind="baseline")
        c = add_run_set(store, git_sha="a" * 40, meta_seed=3)
        add_run_set(store, benchmark="other")
        ids = lambda sets: [rs.id for rs in sets]  # noqa: E731
        assert ids(store.run_sets("p", "b")) == [c, b, a]
        assert ids(store.run_sets("p", "b", limit=2)) == [c, b]
        assert ids(store.run_sets("p", "b", git_sha="a" * 40, kinds=("run",))) == [c, a]
        assert ids(store.run_sets("p", "b", kinds=("baseline",))) == [b]
        assert ids(store.run_sets("p", "b", meta_seed=1)) == [a]


def test_runs_of_and_pointers(db_path: Path) -> None:
    with Store(db_path) as store:
        first, second = add_run_set(store), add_run_set(store)
        r = [add_run(store, first, 0), add_run(store, second, 0), add_run(store, first, 1)]
        assert [run.id for run in store.runs_of([first])] == [r[0], r[2]]
        assert [run.id for run in store.runs_of([first, second])] == r
        assert store.runs_of([]) == []
        assert store.current_pointer("p", "b") is None
        store.add_pointer(project="p", benchmark="b", run_set_id=first, git_sha="a" * 40,
                          action="establish")
        store.add_pointer(project="p", benchmark="b", run_set_id=second, git_sha="a" * 40,
                          action="promote", forced=True, verdict="REJECT")
        current = store.current_pointer("p", "b")
        assert current is not None and (current.run_set_id, current.forced) == (second, True)
        assert [p.run_set_id for p in store.pointers("p", "b")] == [first, second]


def test_a_repetition_is_recorded_once_per_run_set(db_path: Path) -> None:
    with Store(db_path) as store:
        run_set = add_run_set(store)
        add_run(store, run_set, 0)
        with pytest.raises(sqlite3.IntegrityError):
            add_run(store, run_set, 0)


def test_an_ok_row_needs_a_metric(db_path: Path) -> None:
    with Store(db_path) as store, pytest.raises(sqlite3.IntegrityError):
        add_run(store, add_run_set(store), 0, metric=None, status="ok")


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(db_path: Path) -> None:
    Store(db_path).close()
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store import add_run, add_run_set
        from benchstone.store import Store
        with Store(Path({str(db_path)!r})) as store:
            for _ in range(40):
                run_set = add_run_set(store)
                add_run(store, run_set, 0)
                add_run(store, run_set, 1)
    """)
    workers = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(3)]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0]
    with Store(db_path) as store:
        assert store.count_all_runs() == 3 * 40 * 2
        assert store.integrity_check() == "ok"


def test_every_row_records_its_caller(filled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local mode writes the local user as the caller; the harness service's child writes the
    caller the kernel named (BENCHSTONE_CALLER), and a cancel request keeps who asked."""
    conn = sqlite3.connect(filled)
    try:
        for table in HISTORY_TABLES:
            callers = {row[0] for row in conn.execute(f"SELECT caller FROM {table}")}
            assert callers == {user_name()}, table
    finally:
        conn.close()
    monkeypatch.setenv("BENCHSTONE_CALLER", "alice")
    with Store(filled) as store:
        store.add_cancel_request("job1")
        assert [row["caller"] for row in store.cancel_requests("job1")] == [user_name(), "alice"]


# ---- a look without opening: bench list on a state directory with nothing registered ---------

def _register(store: Store, project: str):
    return store.add_registration(project=project, path=f"/src/{project}", manifest_sha256="m",
                                  manifest_file=f"/m/{project}.toml")


def test_the_look_is_sure_of_nothing_registered_only_at_this_schema(db_path: Path) -> None:
    from benchstone.store.peek import nothing_registered

    assert nothing_registered(db_path)  # no database yet
    assert not db_path.exists()  # and the look created none
    with Store(db_path) as store:
        assert nothing_registered(db_path)
        first = _register(store, "a")
        assert not nothing_registered(db_path)
        _register(store, "b")
        store.add_unregistration(first)
        assert not nothing_registered(db_path)  # b is still registered
        store.add_unregistration(store.latest_registration("b"))
        assert nothing_registered(db_path)
        _register(store, "a")  # registered again after its unregistration
        assert not nothing_registered(db_path)
        store.add_unregistration(store.latest_registration("a"))
    assert nothing_registered(db_path)
    conn = sqlite3.connect(db_path)
    with conn:  # a newer benchstone's migration: only Store may answer (it refuses)
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('benchstone', '9999_from_the_future', '2099-01-01')")
    assert not nothing_registered(db_path)
    with conn:  # an older schema: only Store may answer (it migrates)
        conn.execute("DELETE FROM _sqlite_migrations WHERE name IN (?, ?)",
                     (MIGRATION_NAMES[-1], "9999_from_the_future"))
    conn.close()
    assert not nothing_registered(db_path)
    db_path.write_bytes(b"not a database")
    assert not nothing_registered(db_path)
