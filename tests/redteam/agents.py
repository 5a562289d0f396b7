"""Hostile agents against the harness service: a separate non-root Unix user with a shell on the
host tries to get at what the service owns.

``ServiceLab`` installs the service with real users (created with ``useradd``, removed at the
end), starts it as root (it drops to its own user), and gives an *owner* a registered project
with a baseline. Each attempt is played by the *agent*, another member of the service's group,
through ``setpriv`` (a real process of that user: real file permissions, real signals, the real
socket's peer credentials). An attempt returns an Outcome: contained, and what it saw.

Shared by ``tests/test_service_agents.py`` (one test per attempt) and ``make redteam``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchstone.sandbox.docker.cgroups import PARENT as CONTAINERS_CGROUP
from benchstone.service.install import Layout, group_exists, systemd_unit, user_exists
from benchstone.service.server import answers

REPO = Path(__file__).resolve().parents[2]
# One set of users per pytest-xdist worker, so that two labs never share (or delete) a user.
PREFIX = "bsx" + os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")

MANIFEST = """\
[project]
name = "guarded"
language = "python"
invocation = "python3 bench/runner.py --entry={entry_point} --config={config_path} --output={output_path}"

[[benchmarks]]
name = "speed"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
expected_runtime_seconds = 1
repetitions = 3
baseline_seeds = [1, 2, 3]
promotion_sigma = 2.0

[[benchmarks]]
name = "steady"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
expected_runtime_seconds = 1
repetitions = 3
baseline_seeds = [1, 2, 3, 4, 5]
gate_policy = "welch"
"""

RUNNER = """\
import argparse, json, time
from pathlib import Path

parser = argparse.ArgumentParser()
for name in ("--entry", "--config", "--output"):
    parser.add_argument(name)
args = parser.parse_args()
config = json.loads(Path(args.config).read_text())
# "SECONDS" or "SECONDS UNTIL": sleep, or sleep while the clock is before UNTIL (epoch seconds)
seconds, *until = Path("src/sleep.txt").read_text().split()
if not until or time.time() < float(until[0]):
    time.sleep(float(seconds))
wobble = 1 + 0.005 * ((config["repetition_index"] * 3) % 7 - 3)  # per slot: see the toy runner
metric = float(Path("src/speed.txt").read_text()) * wobble
Path(args.output).write_text(json.dumps({"status": "ok", "metric": metric}))
"""


def why_not() -> str:
    """Why the lab cannot run here, or ''."""
    if os.geteuid() != 0:
        return "creating users and starting the service needs root"
    for tool in ("setpriv", "useradd", "userdel", "git"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


def interpreter() -> str:
    """A Python every user may execute: this one may live under a private home (pyenv), so
    prefer the system's of the same version, with this one's packages on PYTHONPATH."""
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system:
        version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"],
                                 capture_output=True, text=True).stdout.strip()
        if version == str(sys.version_info[:2]):
            return system
    return sys.executable


def unit_command(unit: str) -> list[str]:
    """The command line of a unit's ``ExecStart`` as systemd reads the words ``systemd_unit``
    writes: double quotes with backslash escapes, ``%%`` for ``%`` and ``$$`` for ``$``."""
    import shlex

    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    return [word.replace("%%", "%").replace("$$", "$")
            for word in shlex.split(line.removeprefix("ExecStart="))]


def python_path() -> str:
    paths = sysconfig.get_paths()
    return os.pathsep.join(dict.fromkeys([str(REPO), paths["purelib"], paths["platlib"]]))


@dataclasses.dataclass
class Outcome:
    contained: bool
    details: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Attempt:
    name: str
    tries: str
    play: Callable[[ServiceLab], Outcome]
    engine: bool = False  # needs the Docker engine


class ServiceLab:
    """The service installed under throwaway users, an owner's project registered with a
    baseline, and an agent who may use the socket."""

    def __init__(self, base: Path, prefix: str = PREFIX) -> None:
        self.service_user, self.group = f"{prefix}-service", f"{prefix}-users"
        self.admin_group = f"{prefix}-admins"
        self.owner, self.agent = f"{prefix}-owner", f"{prefix}-agent"
        self.base = base
        self.state = base / "state"
        self.socket = base / "run" / "bench.sock"
        self.python = interpreter()
        self.process: subprocess.Popen[bytes] | None = None
        self.created_users: list[str] = []
        self.created_groups: list[str] = []
        self.owner_home = base / "owner"
        self.agent_home = base / "agent"
        self.project = self.owner_home / "guarded"

    # ---- set-up ------------------------------------------------------------------------------

    def start(self) -> None:
        os.chmod(self.base, 0o755)
        for group in (self.group, self.admin_group):
            if not group_exists(group):
                self.created_groups.append(group)  # install creates it
        if not user_exists(self.service_user):
            self.created_users.append(self.service_user)
        _root("bench service install", self.python, "-m", "benchstone", "service",
                   "install", *self.layout())
        for user, home in ((self.owner, self.owner_home), (self.agent, self.agent_home)):
            if not user_exists(user):
                _root("useradd", "useradd", "--no-create-home", "--shell", "/bin/sh",
                           "--groups", self.group, user)
                self.created_users.append(user)
            home.mkdir(mode=0o700)
            shutil.chown(home, user, user)
        with open(self.base / "service.log", "wb") as log:
            self.process = subprocess.Popen(
                [*self.unit_command(), "--max-per-caller", "4"],
                stdout=subprocess.DEVNULL, stderr=log, cwd=self.base,
                env={**os.environ, "PYTHONPATH": python_path(), "BENCHSTONE_SERVICE": "local"})
        deadline = time.monotonic() + 30
        while not answers(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the service did not start: " + self.log()[-2000:])
            time.sleep(0.1)
        self._owner_project()

    def unit_command(self) -> list[str]:
        """What the systemd unit that install writes would start: the suite serves through
        exactly that command line (its interpreter is the one install ran under)."""
        layout = Layout(user=self.service_user, group=self.group, admin_group=self.admin_group,
                        state_dir=self.state, socket_path=self.socket)
        return [self.python, *unit_command(systemd_unit(layout))[1:]]

    def layout(self) -> list[str]:
        return ["--user", self.service_user, "--group", self.group, "--admin-group",
                self.admin_group, "--state-dir", str(self.state), "--socket", str(self.socket)]

    def _owner_project(self) -> None:
        files = {"bench/manifest.toml": MANIFEST, "bench/runner.py": RUNNER,
                 "src/speed.txt": "1.0\n", "src/sleep.txt": "0\n"}
        self.write_as(self.owner, self.project, files)
        self.git(self.owner, self.project, "init", "-q")
        self.commit(self.owner, self.project, "initial")
        self.expect(self.bench(self.owner, "register", ".", cwd=self.project), 0)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for user in (self.owner, self.agent, self.service_user):
            if user in self.created_users:
                with contextlib.suppress(OSError):
                    self._kill_all_of(user)
                subprocess.run(["userdel", user], capture_output=True)
        for group in self.created_groups:
            subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)

    def _kill_all_of(self, user: str) -> None:
        uid = pwd.getpwnam(user).pw_uid
        for pid in _pids_of(uid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        path = self.base / "service.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and answers(self.socket)

    # ---- acting as a user --------------------------------------------------------------------

    def environment(self, user: str, home: Path) -> dict[str, str]:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "USER": user,
                "PYTHONPATH": python_path(), "BENCHSTONE_SERVICE": str(self.socket),
                "COLUMNS": "100", "GIT_AUTHOR_NAME": user, "GIT_COMMITTER_NAME": user,
                "GIT_AUTHOR_EMAIL": f"{user}@example.invalid",
                "GIT_COMMITTER_EMAIL": f"{user}@example.invalid"}

    def command(self, user: str, argv: list[str], extra: dict[str, str] | None = None
                ) -> list[str]:
        home = self.owner_home if user == self.owner else self.agent_home
        env = {**self.environment(user, home), **(extra or {})}
        return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "env", "-i",
                *(f"{key}={value}" for key, value in env.items()), *argv]

    def as_user(self, user: str, argv: list[str], *, cwd: Path | None = None,
                extra: dict[str, str] | None = None, timeout: float = 300
                ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(user, argv, extra), capture_output=True, text=True,
                              cwd=cwd or self.base, timeout=timeout)

    def bench(self, user: str, *args: str, cwd: Path | None = None,
              extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.as_user(user, [self.python, "-m", "benchstone", *args], cwd=cwd, extra=extra)

    def bench_in_background(self, user: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(user, [self.python, "-m", "benchstone", *args]),
                                cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def agent_python(self, code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Python run by the agent; what it prints is its report."""
        return self.as_user(self.agent, [self.python, "-c", textwrap.dedent(code)], timeout=timeout)

    def write_as(self, user: str, root: Path, files: dict[str, str]) -> None:
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for path in [root, *root.rglob("*")]:
            shutil.chown(path, user, user)

    def git(self, user: str, root: Path, *args: str) -> str:
        done = self.as_user(user, ["git", *args], cwd=root)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def commit(self, user: str, root: Path, message: str) -> str:
        self.git(user, root, "add", "-A")
        self.git(user, root, "commit", "-q", "--allow-empty", "-m", message)
        return self.git(user, root, "rev-parse", "HEAD")

    @staticmethod
    def expect(done: subprocess.CompletedProcess[str], code: int) -> str:
        if done.returncode != code:
            raise RuntimeError(f"exit {done.returncode}, not {code}: {done.stdout}{done.stderr}")
        return done.stdout

    # ---- what the service holds (read as root) ---------------------------------------------

    @property
    def database(self) -> Path:
        return self.state / "home" / "bench.db"

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def snapshot(self) -> dict[str, list[tuple[object, ...]]]:
        tables = [row[0] for row in self.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE '_%'")]
        return {table: self.rows(f"SELECT * FROM {table} ORDER BY rowid") for table in tables}

    def triggers(self) -> int:
        return len(self.rows("SELECT name FROM sqlite_master WHERE type = 'trigger'"))

    def service_pids(self) -> list[int]:
        return _pids_of(pwd.getpwnam(self.service_user).pw_uid)


# ---- helpers ---------------------------------------------------------------------------------

def _root(what: str, *argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": python_path()})
    if done.returncode != 0:
        raise RuntimeError(f"{what}: {done.stderr.strip() or done.stdout.strip()}")


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def _container_pids() -> list[int]:
    """Every process inside a benchstone container (the code under test among them): those
    under the containers' own parent cgroup, so that no other container is ever signalled."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cgroups = (entry / "cgroup").read_text()
                if f"/{CONTAINERS_CGROUP}/" in cgroups:
                    pids.append(int(entry.name))
    return pids


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def lab_running(base: Path | None = None) -> Iterator[ServiceLab]:
    lab = ServiceLab(Path(tempfile.mkdtemp(prefix="benchstone-agents-")) if base is None
                     else base)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


# ---- the attempts ----------------------------------------------------------------------------

def read_the_state(lab: ServiceLab) -> Outcome:
    """List, open and copy what the service holds: the database, the references and artifacts,
    the mirrors of other users' projects, the uploaded corpora."""
    done = lab.agent_python(f"""
        import os, shutil, sqlite3
        state = {str(lab.state)!r}
        tries = [lambda: os.listdir(state), lambda: open(state + "/home/bench.db", "rb").read(),
                 lambda: os.listdir(state + "/home/artifacts"),
                 lambda: os.listdir(state + "/mirrors"),
                 lambda: shutil.copy(state + "/home/bench.db", "/tmp/stolen.db"),
                 lambda: sqlite3.connect("file:" + state + "/home/bench.db?mode=ro",
                                         uri=True).execute("select * from runs").fetchall()]
        for attempt in tries:
            try:
                attempt()
                print("READ")
            except (PermissionError, sqlite3.OperationalError) as exc:
                print("refused:", type(exc).__name__, exc)
    """)
    lines = done.stdout.splitlines()
    return Outcome(contained=len(lines) == 6 and not any(line == "READ" for line in lines),
                   details=lines or [done.stderr.strip()])


def write_the_database(lab: ServiceLab) -> Outcome:
    """Drop the append-only triggers, rewrite a row, replace the file, remove the state."""
    before, triggers = lab.snapshot(), lab.triggers()
    done = lab.agent_python(f"""
        import os, sqlite3
        db = {str(lab.database)!r}
        tries = [
            lambda: sqlite3.connect("file:" + db + "?mode=rw", uri=True).executescript(
                "DROP TRIGGER runs_append_only_update; UPDATE runs SET metric = 0.001"),
            lambda: open(db, "r+b").write(b"x"),
            lambda: os.replace("/etc/hostname", db),
            lambda: os.rename({str(lab.state / "home")!r}, "/tmp/moved"),
            lambda: os.chmod({str(lab.state)!r}, 0o777),
        ]
        for attempt in tries:
            try:
                attempt()
                print("WROTE")
            except (PermissionError, sqlite3.OperationalError, OSError) as exc:
                print("refused:", type(exc).__name__, exc)
    """)
    lines = done.stdout.splitlines()
    unchanged = lab.snapshot() == before and lab.triggers() == triggers
    return Outcome(contained=len(lines) == 5 and "WROTE" not in lines and unchanged,
                   details=[*lines, f"database unchanged: {unchanged}"])


def reach_the_engine(lab: ServiceLab) -> Outcome:
    """Talk to the Docker socket directly: list, start or stop containers."""
    done = lab.agent_python("""
        import socket
        for path in ("/var/run/docker.sock", "/run/docker.sock"):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
                probe.sendall(b"GET /containers/json HTTP/1.0\\r\\n\\r\\n")
                print("REACHED", path, probe.recv(64))
            except (PermissionError, FileNotFoundError) as exc:
                print("refused:", path, type(exc).__name__)
    """)
    lines = done.stdout.splitlines()
    details = list(lines)
    cli = shutil.which("docker")
    if cli:
        listed = lab.as_user(lab.agent, [cli, "ps"])
        details.append(f"docker ps: exit {listed.returncode}: {listed.stderr.strip()[:120]}")
        lines.append("REACHED docker ps" if listed.returncode == 0 else "refused")
    return Outcome(contained=bool(lines) and not any(line.startswith("REACHED") for line in lines),
                   details=details)


def _raw(lab: ServiceLab, request: dict[str, object], attachments: tuple[bytes, ...] = ()
         ) -> str:
    """The agent sends ``request`` as it likes over the socket; the service's first answer."""
    payload = json.dumps(request)
    done = lab.agent_python(f"""
        import json, socket, struct
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect({str(lab.socket)!r})
        body = {payload!r}.encode()
        sock.sendall(struct.pack(">I", len(body)) + body)
        for blob in {[blob.hex() for blob in attachments]!r}:
            data = bytes.fromhex(blob)
            sock.sendall(struct.pack(">I", len(data)) + data)
        answers = []
        while True:
            head = sock.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                break
            (size,) = struct.unpack(">I", head)
            message = json.loads(sock.recv(size, socket.MSG_WAITALL))
            answers.append(message)
            if "exit" in message or "error" in message:
                break
        print(json.dumps(answers))
    """)
    return done.stdout.strip() or done.stderr.strip()


def forge_the_caller(lab: ServiceLab) -> Outcome:
    """Claim to be the owner: a caller field in the request, BENCHSTONE_CALLER and USER in the
    environment; every row the request writes must still name the agent."""
    project = lab.agent_home / "mine"
    lab.write_as(lab.agent, project, {"bench/manifest.toml": MANIFEST.replace("guarded", "mine"),
                                  "bench/runner.py": RUNNER, "src/speed.txt": "1\n",
                                  "src/sleep.txt": "0\n"})
    lab.git(lab.agent, project, "init", "-q")
    lab.commit(lab.agent, project, "mine")
    forged = {"BENCHSTONE_CALLER": lab.owner, "USER": lab.owner, "LOGNAME": lab.owner}
    first = lab.bench(lab.agent, "register", ".", cwd=project, extra=forged)
    # a changed manifest, so that registering again writes a row
    lab.write_as(lab.agent, project, {"bench/manifest.toml": MANIFEST.replace(
        "guarded", "mine").replace("repetitions = 3", "repetitions = 4")})
    lab.commit(lab.agent, project, "four repetitions")
    # the same request, built by the client, with fields that claim the owner
    built = lab.agent_python(f"""
        import json, os
        os.chdir({str(project)!r})
        from benchstone.service import client
        from pathlib import Path
        request, attachments = client.cli_request(["register", "."], Path.cwd())
        print(json.dumps([request, [blob.hex() for blob in attachments]]))
    """)
    request, blobs = json.loads(built.stdout)
    request.update({"caller": lab.owner, "user": lab.owner, "uid": 0, "peer": {"uid": 0, "name": lab.owner}})
    answer = _raw(lab, request, tuple(bytes.fromhex(blob) for blob in blobs))
    callers = lab.rows("SELECT caller, user FROM registrations WHERE project = 'mine'")
    contained = (first.returncode == 0 and '"exit": 0' in answer and len(callers) == 2
                 and all(row == (lab.agent, lab.service_user) for row in callers))
    return Outcome(contained=contained, details=[f"rows of the agent's registrations (caller, "
                                                 f"user): {callers}", f"forged answer: "
                                                 f"{answer[:160]}"])


def paths_into_the_state(lab: ServiceLab) -> Outcome:
    """Make the service open or write its own files on the agent's behalf: register a path of
    the state directory without a commit, add it as a corpus, draw a plot over the database."""
    before = lab.snapshot()
    home = str(lab.state / "home")
    answers = [
        _raw(lab, {"version": 1, "kind": "cli", "argv": ["register", home], "attachments": []}),
        _raw(lab, {"version": 1, "kind": "cli", "argv": ["corpus", "add", "loot", home],
                   "attachments": []}),
        _raw(lab, {"version": 1, "kind": "cli", "attachments": [],
                   "argv": ["history", "guarded", "speed", "--plot", f"{home}/bench.db"]}),
        _raw(lab, {"version": 1, "kind": "api", "function": "add_corpus",
                   "args": {"name": "loot", "path": home}, "attachments": []}),
        _raw(lab, {"version": 1, "kind": "api", "function": "register",
                   "args": {"path": home}, "attachments": []}),
    ]
    plot = lab.bench(lab.agent, "history", "guarded", "speed", "--plot", f"{home}/bench.db")
    refused = all('"error"' in answer for answer in answers) and plot.returncode == 5
    unchanged = lab.snapshot() == before
    return Outcome(contained=refused and unchanged,
                   details=[*(answer[:150] for answer in answers),
                            f"bench history --plot: exit {plot.returncode}: "
                            f"{plot.stderr.strip().splitlines()[0] if plot.stderr else ''}",
                            f"database unchanged: {unchanged}"])


def hijack_a_project(lab: ServiceLab) -> Outcome:
    """Register a repository of its own under the owner's project name, so that the owner's
    next runs would read the agent's code."""
    project = lab.agent_home / "decoy"
    lab.write_as(lab.agent, project, {"bench/manifest.toml": MANIFEST, "bench/runner.py": RUNNER,
                                      "src/speed.txt": "0.01\n", "src/sleep.txt": "0\n"})
    lab.git(lab.agent, project, "init", "-q")
    lab.commit(lab.agent, project, "decoy")
    before = lab.rows("SELECT * FROM registrations WHERE project = 'guarded' ORDER BY id")
    attempt = lab.bench(lab.agent, "register", ".", cwd=project)
    after = lab.rows("SELECT * FROM registrations WHERE project = 'guarded' ORDER BY id")
    contained = (attempt.returncode == 5 and "was registered by" in attempt.stderr
                 and before == after)
    return Outcome(contained=contained, details=[
        f"bench register of a decoy named guarded: exit {attempt.returncode}: "
        f"{attempt.stderr.strip().splitlines()[0] if attempt.stderr else ''}",
        f"the owner's registrations unchanged: {before == after}"])


def run_on_the_host(lab: ServiceLab) -> Outcome:
    """Ask for the process sandbox (the option, then the manifest's key), which would run the
    agent's code on the host as the service's user, with the state directory and the engine's
    socket in reach."""
    marker = Path("/tmp") / f"{PREFIX}-on-the-host-{os.getpid()}"  # any user may write there
    marker.unlink(missing_ok=True)
    manifest = MANIFEST.replace('name = "guarded"', 'name = "outside"')
    runner = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n" + RUNNER
    project = lab.agent_home / "outside"
    lab.write_as(lab.agent, project, {"bench/manifest.toml": manifest, "bench/runner.py": runner,
                                      "src/speed.txt": "1.0\n", "src/sleep.txt": "0\n"})
    lab.git(lab.agent, project, "init", "-q")
    lab.commit(lab.agent, project, "outside")
    lab.expect(lab.bench(lab.agent, "register", ".", cwd=project), 0)
    by_option = lab.bench(lab.agent, "run", "outside", "speed", "-n", "1", "--sandbox",
                          "process", cwd=project)
    lab.write_as(lab.agent, project, {"bench/manifest.toml": manifest.replace(
        "[project]\n", '[project]\nsandbox = "process"\n')})
    lab.commit(lab.agent, project, "on the host, by the manifest")
    # registered, it would run on the host when anyone ran it, an administrator included
    by_manifest = lab.bench(lab.agent, "register", ".", cwd=project)
    attempts = (("--sandbox process", by_option), ('register sandbox = "process"', by_manifest))
    refused = all(done.returncode == 5 and "for its administrators" in done.stderr
                  for _, done in attempts)
    ran = marker.exists()
    marker.unlink(missing_ok=True)
    return Outcome(contained=refused and not ran, details=[
        *(f"{how}: exit {done.returncode}: "
          f"{done.stderr.strip().splitlines()[0] if done.stderr else ''}"
          for how, done in attempts),
        f"the runner ran on the host: {ran}"])


def repoint_a_corpus(lab: ServiceLab) -> Outcome:
    """Point the owner's corpus name at data of its own: every benchmark that names the corpus
    would then run on the agent's data."""
    owners, mine = lab.owner_home / "heldout", lab.agent_home / "easy"
    lab.write_as(lab.owner, owners, {"input.txt": "hard\n"})
    lab.write_as(lab.agent, mine, {"input.txt": "easy\n"})
    lab.expect(lab.bench(lab.owner, "corpus", "add", "heldout", str(owners)), 0)
    before = lab.rows("SELECT * FROM corpora WHERE name = 'heldout' ORDER BY id")
    attempt = lab.bench(lab.agent, "corpus", "add", "heldout", str(mine))
    after = lab.rows("SELECT * FROM corpora WHERE name = 'heldout' ORDER BY id")
    contained = (attempt.returncode == 5 and "was added by" in attempt.stderr
                 and before == after)
    return Outcome(contained=contained, details=[
        f"bench corpus add heldout (the owner's name): exit {attempt.returncode}: "
        f"{attempt.stderr.strip().splitlines()[0] if attempt.stderr else ''}",
        f"the owner's corpus unchanged: {before == after}"])


def bypass_the_gate(lab: ServiceLab) -> Outcome:
    """What a person may do by hand but an agent must not: force a promotion, replace a
    reference, unregister the project, collect snapshots or stop every run with gc, point
    another's baseline (CLI and API alike)."""
    before = lab.snapshot()
    attempts = [("promote", "guarded", "speed", "--force"),
                ("reference", "replace", "guarded", "speed", "--reason", "mine"),
                ("replace-reference", "guarded", "speed", "--reason", "mine"),
                ("unregister", "guarded"), ("gc", "--all"), ("gc",),
                ("baseline", "establish", "guarded", "speed")]
    results = [lab.bench(lab.agent, *argv) for argv in attempts]
    api = [_raw(lab, {"version": 1, "kind": "api", "function": function, "args": args,
                      "attachments": []})
           for function, args in (("promote", {"project": "guarded", "benchmark": "speed",
                                               "force": True}),
                                  ("unregister", {"project": "guarded"}),
                                  ("establish_baseline", {"project": "guarded",
                                                          "benchmark": "speed"}))]

    def refusal(text: str) -> bool:
        return "for its administrators" in text or "an administrator may point" in text

    refused = (all(result.returncode == 5 and refusal(result.stderr) for result in results)
               and all(refusal(answer) for answer in api))
    unchanged = lab.snapshot() == before
    return Outcome(contained=refused and unchanged, details=[
        *(f"bench {' '.join(argv[:2])}: exit {result.returncode}: "
          f"{result.stderr.strip().splitlines()[0] if result.stderr else ''}"
          for argv, result in zip(attempts, results, strict=True)),
        *(answer[:140] for answer in api), f"database unchanged: {unchanged}"])


def flood_the_service(lab: ServiceLab) -> Outcome:
    """Many connections that send nothing, a length of 2 GiB, a 300 MiB attachment announced,
    garbage: each refused in one line; the owner is served meanwhile; the service stays up."""
    flood = subprocess.Popen(lab.command(lab.agent, [lab.python, "-c", textwrap.dedent(f"""
        import json, socket, struct, time
        path = {str(lab.socket)!r}
        def connect():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            return sock
        def answer(sock):
            head = sock.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                return "closed"
            return json.loads(sock.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL))
        idle = [connect() for _ in range(40)]
        time.sleep(1)
        replies = []
        for sock in idle[4:]:
            sock.settimeout(5)
            try:
                replies.append(answer(sock))
            except OSError as exc:
                replies.append(str(exc))
        print("READY", flush=True)
        input()
        for sock in idle[:4]:
            sock.close()
        time.sleep(0.5)
        big = connect(); big.sendall(struct.pack(">I", 2**31)); replies.append(answer(big))
        for body in (b"not json", json.dumps({{"version": 1, "kind": "cli", "argv": ["list"],
                     "attachments": [300 << 20]}}).encode()):
            sock = connect(); sock.sendall(struct.pack(">I", len(body)) + body)
            replies.append(answer(sock))
        print(json.dumps(replies))
    """)]), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert flood.stdout is not None
    ready = flood.stdout.readline().strip() == "READY"
    served = lab.bench(lab.owner, "list") if ready else None
    rest, errors = flood.communicate("GO\n", timeout=120)
    replies = json.loads(rest.strip().splitlines()[-1]) if rest.strip() else []
    refusals = [reply["error"]["message"] for reply in replies
                if isinstance(reply, dict) and "error" in reply]
    kinds = {"at once" in text or "busy" in text for text in refusals[:36]}
    contained = (ready and served is not None and served.returncode == 0
                 and len(refusals) == len(replies) == 39 and kinds == {True}
                 and "over the bound" in refusals[36] and "not JSON" in refusals[37]
                 and "over the service's bound" in refusals[38] and lab.alive())
    return Outcome(contained=contained, details=[
        f"{len(refusals)} of {len(replies)} flood requests refused in one line; e.g. "
        f"{refusals[0] if refusals else errors.strip()[-200:]!r}",
        *(repr(text) for text in refusals[36:]),
        f"owner's bench list during the flood: exit "
        f"{served.returncode if served else 'not run'}", f"service up after: {lab.alive()}"])


def swap_after_submitting(lab: ServiceLab) -> Outcome:
    """Change the working tree after the commit (a better number, uncommitted) and a corpus
    after adding it: neither reaches the service."""
    data = lab.owner_home / "held"
    lab.write_as(lab.owner, data, {"part.txt": "original\n"})
    added = lab.bench(lab.owner, "corpus", "add", "held", str(data), "--json")
    before = lab.bench(lab.owner, "corpus", "list", "--json")
    (data / "part.txt").write_text("swapped\n")
    after = lab.bench(lab.owner, "corpus", "list", "--json")
    (lab.project / "src" / "speed.txt").write_text("0.01\n")
    run = lab.bench(lab.owner, "run", "guarded", "speed", "-n", "2", cwd=lab.project)
    lab.git(lab.owner, lab.project, "checkout", "--", "src/speed.txt")
    metrics = lab.rows("SELECT metric, git_dirty FROM runs WHERE project = 'guarded' "
                       "ORDER BY id DESC LIMIT 2")
    stored = [path for path in (lab.state / "home" / "corpora").rglob("part.txt")]
    contents = {path.read_text() for path in stored}
    contained = (added.returncode == 0 and before.stdout == after.stdout and run.returncode == 0
                 and len(metrics) == 2 and all(0.9 < m < 1.1 and not d for m, d in metrics)
                 and contents == {"original\n"})
    return Outcome(contained=contained, details=[
        f"corpus add: exit {added.returncode} {added.stderr.strip()[:200]}",
        f"corpus list unchanged after the swap: {before.stdout == after.stdout}",
        f"stored corpus files hold: {sorted(contents)}",
        f"run on an uncommitted 0.01: metrics {[round(m, 3) for m, _ in metrics]}, "
        f"dirty {[bool(d) for _, d in metrics]} (exit {run.returncode})"])


def _running_repetition(lab: ServiceLab) -> bool:
    rows = lab.rows("SELECT (SELECT COUNT(*) FROM repetition_starts WHERE run_set_id = s.id), "
                    "(SELECT COUNT(*) FROM runs WHERE run_set_id = s.id) FROM run_sets s "
                    "WHERE project = 'guarded' ORDER BY id DESC LIMIT 1")
    return bool(rows) and rows[0][0] > rows[0][1] and rows[0][1] >= 1


def _slow_commit(lab: ServiceLab, speed: str, sleep: str) -> None:
    lab.write_as(lab.owner, lab.project, {"src/speed.txt": speed, "src/sleep.txt": sleep})
    lab.commit(lab.owner, lab.project, f"speed {speed.strip()}, sleep {sleep.strip()}")


def signal_the_runs(lab: ServiceLab) -> Outcome:
    """SIGTERM, SIGKILL and SIGSTOP every process of the service while the owner's run is in a
    repetition: the kernel refuses each, and the run finishes with every row."""
    _slow_commit(lab, "1.0\n", "2\n")
    run = lab.bench_in_background(lab.owner, "run", "guarded", "speed", "-n", "3", cwd=lab.project)
    _wait_for(lambda: _running_repetition(lab) and bool(_container_pids()), 60,
              "a repetition's container to run")
    inside = _container_pids()
    pids = lab.service_pids() + inside
    done = lab.agent_python(f"""
        import os, signal
        for pid in {pids!r}:
            for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                    print("SIGNALLED", pid, sig.name)
                except ProcessLookupError:
                    print("gone", pid)
                except PermissionError:
                    print("refused", pid, sig.name)
    """)
    run.communicate(timeout=180)
    lines = done.stdout.splitlines()
    rows = lab.rows("SELECT status FROM runs WHERE run_set_id = (SELECT MAX(id) FROM run_sets)")
    contained = (run.returncode == 0 and rows == [("ok",)] * 3 and bool(inside)
                 and not any(line.startswith("SIGNALLED") for line in lines)
                 and any(line.startswith("refused") for line in lines))
    return Outcome(contained=contained, details=[
        f"{sum(line.startswith('refused') for line in lines)} signals refused to "
        f"{len(pids)} processes of the service and ({len(inside)}) its containers, "
        f"{sum(line.startswith('SIGNALLED') for line in lines)} delivered",
        f"owner's run: exit {run.returncode}, rows {[row[0] for row in rows]}"])


def cancel_is_a_request(lab: ServiceLab) -> Outcome:
    """The agent cancels the owner's run through the service mid-repetition: recorded as the
    agent's request, the run stopped by the service itself, the unfinished repetition on record,
    and a better commit's PROMOTE withheld (the sequential gate counts every run at the commit;
    the one-run-set gates, sigma and mann_whitney, judge the newest run set alone)."""
    _slow_commit(lab, "1.0\n", "0\n")
    lab.expect(lab.bench(lab.owner, "baseline", "establish", "guarded", "steady",
                         cwd=lab.project), 0)
    # slow for the next 25 s (long enough to cancel mid-repetition), fast afterwards
    _slow_commit(lab, "0.5\n", f"1.5 {time.time() + 25:.0f}\n")
    run = lab.bench_in_background(lab.owner, "run", "guarded", "steady", "-n", "6",
                                  cwd=lab.project)
    _wait_for(lambda: _running_repetition(lab), 60, "a repetition to start")
    status = json.loads(lab.expect(lab.bench(lab.agent, "status", "--all", "--json"), 0))
    job = next(entry["id"] for entry in status if entry["state"] == "running")
    cancel = lab.bench(lab.agent, "cancel", job)
    run.communicate(timeout=120)
    requests = lab.rows("SELECT caller FROM cancel_requests WHERE job_id = ?", (job,))
    state = lab.rows("SELECT state FROM job_events WHERE job_id = ? ORDER BY id DESC LIMIT 1",
                     (job,))
    starts, rows = lab.rows("SELECT (SELECT COUNT(*) FROM repetition_starts WHERE run_set_id = "
                            "s.id), (SELECT COUNT(*) FROM runs WHERE run_set_id = s.id) FROM "
                            "run_sets s WHERE job_id = ?", (job,))[0]
    # more complete runs at the same commit, until the sequential gate alone would PROMOTE
    # (0.5 against 1.0: its p-value under its boundary); the cancelled repetition stays on
    # record and withholds it
    _wait_for(lambda: time.time() > float((lab.project / "src" / "sleep.txt").read_text()
                                          .split()[1]), 60, "the slow window to end")
    again = lab.bench(lab.owner, "run", "guarded", "steady", "-n", "12", cwd=lab.project)
    verdict = lab.bench(lab.owner, "evaluate", "guarded", "steady", "--json", cwd=lab.project)
    decided = json.loads(verdict.stdout) if verdict.stdout.startswith("{") else {}
    gate_alone = (decided.get("p_value") is not None and decided.get("threshold") is not None
                  and decided["p_value"] <= decided["threshold"])
    contained = (cancel.returncode == 0 and requests == [(lab.agent,)]
                 and state == [("cancelled",)] and starts > rows and again.returncode == 0
                 and verdict.returncode == 1 and decided.get("kind") == "REJECT"
                 and "never finished" in decided.get("reason", "") and gate_alone)
    return Outcome(contained=contained, details=[
        f"bench cancel by the agent: exit {cancel.returncode}; request on record by "
        f"{[row[0] for row in requests]}; job {state[0][0] if state else '?'}",
        f"owner's run: exit {run.returncode}, {rows} rows of {starts} started",
        f"evaluate: exit {verdict.returncode}: {decided.get('kind')}: "
        f"{decided.get('reason', verdict.stderr.strip())[:230]}",
        f"the gate alone: p={decided.get('p_value')} against its boundary "
        f"{decided.get('threshold')}: {'PROMOTE' if gate_alone else 'undecided'}"])


def abandon_a_run(lab: ServiceLab) -> Outcome:
    """The client is killed (SIGKILL) mid-repetition: the service stops the run itself, the
    repetition that was running stays on record as started and unfinished, the store is whole,
    and the next run works."""
    _slow_commit(lab, "1.0\n", f"1.5 {time.time() + 20:.0f}\n")
    client = lab.bench_in_background(lab.owner, "run", "guarded", "speed", "-n", "6",
                                     cwd=lab.project)
    _wait_for(lambda: _running_repetition(lab), 60, "a repetition to start")
    run_set = lab.rows("SELECT MAX(id) FROM run_sets")[0][0]
    client.kill()
    client.communicate(timeout=30)
    _wait_for(lambda: not any("benchstone run" in _cmdline(pid) for pid in lab.service_pids()),
              60, "the service to stop the abandoned run")
    starts, rows = lab.rows("SELECT (SELECT COUNT(*) FROM repetition_starts WHERE run_set_id = "
                            "?), (SELECT COUNT(*) FROM runs WHERE run_set_id = ?)",
                            (run_set, run_set))[0]
    integrity = lab.rows("PRAGMA integrity_check")[0][0]
    state = lab.rows("SELECT e.state FROM job_events e JOIN run_sets s ON s.job_id = e.job_id "
                     "WHERE s.id = ? ORDER BY e.id DESC LIMIT 1", (run_set,))
    _wait_for(lambda: time.time() > float((lab.project / "src" / "sleep.txt").read_text()
                                          .split()[1]), 60, "the slow window to end")
    again = lab.bench(lab.owner, "run", "guarded", "speed", "-n", "2", cwd=lab.project)
    contained = (starts == rows + 1 and integrity == "ok" and again.returncode == 0
                 and bool(state) and state[0][0] in ("failed", "cancelled") and lab.alive())
    return Outcome(contained=contained, details=[
        f"run set {run_set}: {rows} rows of {starts} started; its job ended "
        f"{state[0][0] if state else '?'}", f"integrity_check: {integrity}",
        f"next run: exit {again.returncode}"])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


ATTEMPTS = [
    Attempt("agent_reads_the_state", "read the database, references, mirrors, corpora",
            read_the_state),
    Attempt("agent_writes_the_database", "drop triggers, rewrite rows, replace the database",
            write_the_database),
    Attempt("agent_reaches_the_engine", "talk to the Docker socket directly", reach_the_engine),
    Attempt("agent_forges_the_caller", "claim another user in the request and environment",
            forge_the_caller, engine=False),
    Attempt("agent_sends_paths_into_the_state", "make the service open its own files",
            paths_into_the_state),
    Attempt("agent_hijacks_a_project", "register its own code under the owner's project name",
            hijack_a_project),
    Attempt("agent_runs_on_the_host", "ask for the process sandbox by option and by manifest",
            run_on_the_host),
    Attempt("agent_repoints_a_corpus", "point the owner's corpus name at its own data",
            repoint_a_corpus),
    Attempt("agent_bypasses_the_gate", "promote --force, replace a reference, unregister, "
            "gc, establish the owner's baseline", bypass_the_gate),
    Attempt("agent_floods_the_service", "idle connections, huge frames, garbage",
            flood_the_service),
    Attempt("agent_swaps_after_submitting", "change code and corpus after handing them over",
            swap_after_submitting, engine=True),
    Attempt("agent_signals_the_runs", "SIGSTOP/SIGTERM/SIGKILL the service's processes",
            signal_the_runs, engine=True),
    Attempt("agent_cancels_a_run", "cancel another user's run mid-repetition",
            cancel_is_a_request, engine=True),
    Attempt("client_killed_mid_run", "SIGKILL the client while its run is in a repetition",
            abandon_a_run, engine=True),
]
