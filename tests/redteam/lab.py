"""A laboratory for one attack: a private ``$BENCHSTONE_HOME``, a hostile project in a real git
repository, the real CLI as a subprocess, and the containment checks.

"Contained" means: every command ended (no hang) without a traceback or an internal error,
the attack's own expectations held (an error row or a verdict that does not reward it), nothing
outside the sandbox's scratch changed (the project tree, the corpus, the files already in
``$BENCHSTONE_HOME``, the store's other tables, its integrity and its append-only triggers), new
files under ``$BENCHSTONE_HOME`` are only the harness's own logs and artifacts with private
modes, no canary planted outside the sandbox shows up in a stored row or log, no container of the
project is left, and the harness's temporary directory is empty again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchstone.store.schema import HISTORY_TABLES
from redteam.pieces import (
    DEFAULT_BENCHMARK,
    PYTHON_PRELUDE,
    Call,
    Listener,
    Snapshot,
    Symlink,
    manifest_text,
    toml_value,
    tree_state,
    unprivileged_user,
)

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 300.0
DB_FILES = {"bench.db", "bench.db-wal", "bench.db-shm"}
# update, delete and replace, for every history table of the schema
APPEND_ONLY_TRIGGERS = 3 * len(HISTORY_TABLES)
# The scheduler's bookkeeping: every command that runs (or is refused after admission) leases
# cores, so these grow whatever the attack; they hold no results.
SCHEDULER_TABLES = frozenset({"jobs", "job_events", "job_marks"})

__all__ = ["DEFAULT_BENCHMARK", "PYTHON_PRELUDE", "Call", "Lab", "Listener", "Snapshot", "Symlink",
           "manifest_text", "toml_value", "tree_state", "unprivileged_user"]


@dataclass
class Lab:
    """One attack's world. ``violations`` empty at the end means the attack was contained."""

    root: Path
    name: str
    engine: bool = True
    docker_host: str | None = None
    user: tuple[int, int, int] | None = None  # uid, gid and the docker group of the harness
    violations: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.token = secrets.token_hex(4)
        self.project_name = f"rt_{self.name}_{self.token}"
        self.home = self.root / "home"
        self.tmp = self.root / "tmp"
        self.project = self.root / "project"
        self.corpus: Path | None = None
        self.canary = f"CANARY-{secrets.token_hex(12)}"
        self.canary_file = self.root / "host-secret.txt"
        self.tmp.mkdir(parents=True)
        self.canary_file.write_text(self.canary + "\n")
        os.chmod(self.canary_file, 0o644)
        if self.user is not None:  # the harness runs as this user: it owns its state and temp
            (self.root / "userhome").mkdir()
            for path in (self.root, self.tmp, self.root / "userhome"):
                os.chown(path, self.user[0], self.user[1])
        self._armed: Snapshot | None = None
        self._may_add: set[str] = set()
        self._listeners: list[Listener] = []

    # ---- the project -----------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("BENCHSTONE_") or key == "BENCHSTONE_DEBUG"}
        pythonpath = env.get("PYTHONPATH", "")
        env.update({
            "BENCHSTONE_HOME": str(self.home), "TMPDIR": str(self.tmp),
            "PYTHONPATH": f"{REPO}{os.pathsep}{pythonpath}" if pythonpath else str(REPO),
            "GIT_AUTHOR_NAME": "redteam", "GIT_AUTHOR_EMAIL": "redteam@example.invalid",
            "GIT_COMMITTER_NAME": "redteam", "GIT_COMMITTER_EMAIL": "redteam@example.invalid",
        })
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        if self.user is not None:
            env["HOME"] = str(self.root / "userhome")
        return env

    def command(self, *args: str) -> list[str]:
        """``python -m benchstone ARGS``, as the lab's user when it has one."""
        prefix = []
        if self.user is not None:
            uid, gid, docker_gid = self.user
            prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", f"--groups={docker_gid}"]
        return [*prefix, sys.executable, "-m", "benchstone", *args]

    def git(self, *args: str, root: Path | None = None) -> str:
        result = subprocess.run(["git", "-C", str(root or self.project), *args],
                                capture_output=True, text=True, env=self.environment())
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip()

    def write(self, files: dict[str, str | bytes | Symlink], root: Path | None = None) -> None:
        base = root or self.project
        for relative, content in files.items():
            path = base / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink() or path.exists():
                path.unlink()
            if isinstance(content, Symlink):
                path.symlink_to(content.target)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def targets(self) -> dict[str, str]:
        """Host paths an attacker would aim at: it knows where the harness keeps its state."""
        return {"home": str(self.home), "database": str(self.home / "bench.db"),
                "canary_file": str(self.canary_file), "artifacts": str(self.home / "artifacts"),
                "corpora": str(self.home / "corpora"), "tmp": str(self.tmp)}

    def make_project(self, runner: str, *, python: bool = False,
                     benchmarks: list[dict[str, Any]] | None = None,
                     files: dict[str, str | bytes | Symlink] | None = None,
                     project: dict[str, Any] | None = None, name: str | None = None) -> Path:
        """A fresh git repository whose bench/run.sh (or bench/attack.py) is ``runner``."""
        benches = benchmarks or [dict(DEFAULT_BENCHMARK)]
        content: dict[str, str | bytes | Symlink] = {
            "bench/manifest.toml": manifest_text(name or self.project_name, benches, project),
            "src/metric": "1.000\n",
            "src/targets.json": json.dumps(self.targets(), indent=1) + "\n",
        }
        if python:
            content["bench/run.sh"] = 'exec python3 bench/attack.py "$@"\n'
            content["bench/attack.py"] = PYTHON_PRELUDE + runner
        else:
            content["bench/run.sh"] = runner
        content.update(files or {})
        self.project.mkdir(parents=True)
        self.write(content)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.project)], check=True,
                       capture_output=True)
        self.commit("initial")
        return self.project

    def commit(self, message: str, files: dict[str, str | bytes | Symlink] | None = None) -> str:
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def make_corpus(self, files: dict[str, str | bytes | Symlink]) -> Path:
        self.corpus = self.root / "corpus"
        self.corpus.mkdir()
        self.write(files, root=self.corpus)
        for directory, _dirs, names in os.walk(self.corpus):
            os.chmod(directory, 0o755)
            for name in names:
                path = Path(directory) / name
                if not path.is_symlink():
                    os.chmod(path, 0o644)
        return self.corpus

    def corpus_hash(self, path: Path, corpus_type: str = "tree") -> str:
        from benchstone.project.corpus import corpus_hash

        return corpus_hash(path, corpus_type)

    def listener(self) -> Listener:
        listener = Listener()
        self._listeners.append(listener)
        return listener

    # ---- the CLI ---------------------------------------------------------------------------

    def bench(self, *args: str, timeout: float = CLI_TIMEOUT, sandbox: str | None = "docker",
              allow: Iterable[int] | None = None) -> Call:
        """Run ``python -m benchstone ARGS`` (with ``--sandbox`` for run and baseline)."""
        argv = list(args)
        if sandbox and argv[:1] in (["run"], ["baseline"]):
            argv += ["--sandbox", sandbox]
        started = time.monotonic()
        try:
            result = subprocess.run(self.command(*argv),
                                    capture_output=True, text=True, cwd=self.root,
                                    env=self.environment(), timeout=timeout)
            call = Call(tuple(argv), result.returncode, result.stdout, result.stderr,
                        time.monotonic() - started)
        except subprocess.TimeoutExpired as exc:
            call = Call(tuple(argv), None, str(exc.stdout or ""), str(exc.stderr or ""),
                        time.monotonic() - started)
            self.violation(f"bench {' '.join(argv)} did not finish within {timeout:.0f} s")
        self.calls.append(call)
        if allow is not None and call.returncode not in set(allow):
            self.violation(f"unexpected exit: {call.describe()}")
        return call

    def register(self) -> None:
        call = self.bench("register", str(self.project))
        if call.returncode != 0:
            raise RuntimeError(f"setup failed: {call.describe()}")

    def setup(self, *args: str, sandbox: str | None = "docker") -> Call:
        """A command of the attack's setup, which must succeed."""
        call = self.bench(*args, sandbox=sandbox)
        if call.returncode != 0:
            raise RuntimeError(f"setup failed: {call.describe()}\n{call.stdout}")
        return call

    def evaluate(self, benchmark: str = "probe") -> tuple[int | None, dict[str, Any]]:
        call = self.bench("evaluate", self.project_name, benchmark, "--json")
        try:
            return call.returncode, json.loads(call.stdout)
        except json.JSONDecodeError:
            self.violation(f"evaluate printed no JSON: {call.describe()}")
            return call.returncode, {}

    # ---- the store, read directly ----------------------------------------------------------

    @contextlib.contextmanager
    def database(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(f"file:{self.home / 'bench.db'}?mode=ro", uri=True, timeout=60)
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        finally:
            connection.close()

    def runs(self, benchmark: str = "probe", run_set: int | None = None) -> list[dict[str, Any]]:
        """Rows of the newest run set of ``benchmark`` (or of ``run_set``), by repetition."""
        with self.database() as db:
            if run_set is None:
                row = db.execute("SELECT MAX(id) FROM run_sets WHERE project = ? AND benchmark = ?",
                                 [self.project_name, benchmark]).fetchone()
                run_set = row[0]
            if run_set is None:
                return []
            rows = db.execute("SELECT * FROM runs WHERE run_set_id = ? ORDER BY repetition",
                              [run_set]).fetchall()
            return [dict(row) for row in rows]

    def metadata(self, row: dict[str, Any]) -> dict[str, Any]:
        return json.loads(row["metadata"]) if row.get("metadata") else {}

    # ---- containment -----------------------------------------------------------------------

    def violation(self, message: str) -> None:
        self.violations.append(message)

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            self.violation(message)

    def snapshot(self) -> Snapshot:
        tables: dict[str, int] = {}
        integrity = "missing"
        triggers = 0
        if (self.home / "bench.db").exists():
            with self.database() as db:
                names = [row[0] for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")]
                tables = {name: db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
                          for name in names}
                integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
                triggers = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' "
                                      "AND name LIKE '%append_only%'").fetchone()[0]
        return Snapshot(
            project=tree_state(self.project),
            corpus=tree_state(self.corpus) if self.corpus else {},
            home=tree_state(self.home, skip=DB_FILES),
            tables=tables, integrity=integrity, triggers=triggers,
        )

    def arm(self, may_add: Iterable[str] = ("runs", "run_sets")) -> None:
        """Take the snapshot the attack is judged against; ``may_add`` are the tables the
        attack's commands may legitimately append to."""
        self._armed = self.snapshot()
        self._may_add = set(may_add) | SCHEDULER_TABLES
        if "runs" in self._may_add:  # a repetition is recorded as started before its row
            self._may_add.add("repetition_starts")
        leaked = self.canary_hits()
        if leaked:
            raise RuntimeError(f"the canary is already in {leaked[0]} before the attack")

    def canary_hits(self) -> list[str]:
        """Places in the store's rows and the harness's logs where the canary shows up."""
        hits = []
        if (self.home / "bench.db").exists():
            with self.database() as db:
                for row in db.execute("SELECT id, message, metadata, metric_components FROM runs"):
                    if any(self.canary in (value or "") for value in tuple(row)[1:]):
                        hits.append(f"runs row {row[0]}")
        logs = self.home / "logs"
        if logs.exists():
            for path in logs.rglob("*"):
                if path.is_file() and not path.is_symlink() and \
                        self.canary.encode() in path.read_bytes():
                    hits.append(str(path.relative_to(self.home)))
        return hits

    def _allowed_new(self, relative: str, state: str) -> bool:
        p = re.escape(self.project_name)
        file_patterns = [
            rf"logs/{p}/[^/]+/run-\d+-rep\d+\.(stdout|stderr)",
            rf"logs/{p}/[^/]+/\d{{8}}T\d{{6}}-[0-9a-f]{{12}}-[0-9a-f]{{8}}\.diff",
            rf"artifacts/{p}/[^/]+/[0-9a-f]{{64}}\.bin",
        ]
        # corpus snapshots: the store (0o700), its lock (0o600) and read-only copies keyed by
        # their hash (their files keep only the executable bit: 0o444 or 0o555)
        key = r"snapshots/(bytes|spec|tree)-[0-9a-f]{64}"
        if relative in ("snapshots", "snapshots/.leases"):
            return state == "dir:700"
        if relative == "snapshots/.lock":
            return state.startswith("file:600:")
        if re.fullmatch(rf"{key}(/data(/.*)?)?", relative):
            return state == "dir:555" or state.startswith(("file:444:", "file:555:", "link:"))
        # the sequential gates' boundaries, computed once per design (0o700 and 0o600)
        if relative in ("cache", "cache/boundaries"):
            return state == "dir:700"
        if re.fullmatch(r"cache/boundaries/[A-Za-z0-9_.\-]+\.json", relative):
            return state.startswith("file:600:")
        if state.startswith("dir:"):
            # harnesses/: the markers of harnesses running containers (empty once they end)
            return state == "dir:700" and re.fullmatch(
                rf"(logs|artifacts)(/{p}(/[^/]+)?)?|harnesses", relative) is not None
        return state.startswith("file:600:") and any(re.fullmatch(pattern, relative)
                                                     for pattern in file_patterns)

    def judge(self) -> list[str]:
        """Every violation of the attack, the generic checks included. Empty: contained."""
        for call in self.calls:
            output = call.stdout + call.stderr
            if "Traceback" in output or "internal error" in output:
                self.violation(f"the harness crashed: {call.describe()}")
        if self._armed is None:
            self.violation("the attack never armed its snapshot")
            return self.violations
        before, after = self._armed, self.snapshot()
        if after.project != before.project:
            changed = sorted(set(after.project.items()) ^ set(before.project.items()))
            self.violation(f"the project tree changed: {changed[:3]}")
        if after.corpus != before.corpus:
            self.violation("the corpus changed")
        for relative, state in before.home.items():
            if after.home.get(relative) != state:
                self.violation(f"$BENCHSTONE_HOME/{relative} changed")
        for relative, state in after.home.items():
            if relative not in before.home and not self._allowed_new(relative, state):
                self.violation(f"unexpected new file in $BENCHSTONE_HOME: {relative} ({state[:8]})")
        for table, count in after.tables.items():
            previous = before.tables.get(table, 0)
            if count < previous:
                self.violation(f"table {table} lost rows ({previous} -> {count})")
            elif count > previous and table not in self._may_add and not (
                    table == "_sqlite_migrations" and previous == 0):
                # (a store created by the attack's first command starts at the current schema)
                self.violation(f"table {table} gained rows ({previous} -> {count})")
        if after.integrity != "ok":
            self.violation(f"integrity_check: {after.integrity}")
        if after.triggers != APPEND_ONLY_TRIGGERS:
            self.violation(f"{after.triggers} append-only triggers, not {APPEND_ONLY_TRIGGERS}")
        for hit in self.canary_hits():
            self.violation(f"the canary leaked into {hit}")
        leftovers = sorted(path.name for path in self.tmp.iterdir())
        if leftovers:
            self.violation(f"the harness left {leftovers[:3]} in its temporary directory")
        if self.engine:
            left = self.containers()
            if left:
                self.violation(f"{len(left)} container(s) of the project left behind")
        return self.violations

    def docker_client(self) -> Any:
        import docker

        if self.docker_host:
            return docker.DockerClient(base_url=self.docker_host, timeout=60)
        return docker.from_env(timeout=60)

    def containers(self) -> list[str]:
        client = self.docker_client()
        try:
            # sparse: the list's own answer, without inspecting each container, which a
            # container removed meanwhile would fail with NotFound
            found = client.containers.list(
                all=True, sparse=True,
                filters={"label": f"benchstone.project={self.project_name}"})
            return [container.short_id for container in found]
        finally:
            client.close()

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        if self.engine:
            with contextlib.suppress(Exception):
                client = self.docker_client()
                for container in client.containers.list(
                        all=True, filters={"label": f"benchstone.project={self.project_name}"}):
                    container.remove(force=True)
                client.close()

        def writable(function: Any, path: str, _error: Any) -> None:
            with contextlib.suppress(OSError):
                os.chmod(os.path.dirname(path), 0o700)
                function(path)

        shutil.rmtree(self.root, onexc=writable) if sys.version_info >= (3, 12) else \
            shutil.rmtree(self.root, onerror=writable)
