"""The harness service as its own user would run it, here as this test's user in a thread of
this process: the socket protocol and its bounds, the CLI and the Python API as clients (the
same output and exit codes as local mode), commits handed over as bundles. The suite where the
caller is another, hostile, user is tests/test_service_agents.py."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import BenchCLI, commit_all, git, share_boundaries

from benchstone.errors import BenchstoneError, GitError, ProjectNotRegistered
from benchstone.service import commits, protocol
from benchstone.service import server as server_module
from benchstone.service.config import configured_socket
from benchstone.service.server import Server, Settings


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            sequential_boundaries: Path) -> Iterator[Settings]:
    # The service logs to its own process's stderr. Here it is a thread of the process whose
    # in-process client captures sys.stderr as the command's: its log lines go to a file.
    service_log = tmp_path / "service.log"

    def log(message: str) -> None:
        with service_log.open("a") as stream:
            stream.write(message + "\n")

    monkeypatch.setattr(server_module, "log", log)
    settings = Settings(socket_path=tmp_path / "run" / "bench.sock",
                        state_dir=tmp_path / "service-state", max_per_caller=2,
                        max_request_bytes=1 << 20)
    settings.socket_path.parent.mkdir()
    settings.state_dir.mkdir(mode=0o700)
    share_boundaries(settings.home, sequential_boundaries)
    server = Server(settings)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield settings
    server.shutdown()
    server.server_close()
    thread.join()


def exchange(path: Path, frames: list[bytes]) -> list[dict[str, object]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        # a request refused before it is read (at capacity) is answered and closed while it
        # is still being sent: its answer is read all the same
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for frame in frames:
                sock.sendall(frame)
        answers = []
        while (message := protocol.read_json(sock, 1 << 24)) is not None:
            answers.append(message)
            if "exit" in message or "error" in message or "up" in message:
                break
        return answers


def framed(message: dict[str, object] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def test_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BENCHSTONE_SERVICE", raising=False)
    monkeypatch.setenv("BENCHSTONE_CLIENT_CONFIG", str(tmp_path / "none.toml"))
    assert configured_socket() is None
    config = tmp_path / "client.toml"
    config.write_text('socket = "/run/x/bench.sock"\n')
    monkeypatch.setenv("BENCHSTONE_CLIENT_CONFIG", str(config))
    assert configured_socket() == Path("/run/x/bench.sock")
    monkeypatch.setenv("BENCHSTONE_SERVICE", "local")
    assert configured_socket() is None
    monkeypatch.setenv("BENCHSTONE_SERVICE", "/elsewhere.sock")
    assert configured_socket() == Path("/elsewhere.sock")
    monkeypatch.delenv("BENCHSTONE_SERVICE")
    config.write_text("socket = [")
    with pytest.raises(BenchstoneError, match="cannot read the client configuration"):
        configured_socket()


def test_verbs_and_refused_options() -> None:
    assert protocol.verb_of(["--quiet", "run", "p", "b"]) == (1, "run")
    assert protocol.verb_of(["--help"]) is None
    assert protocol.refused_option(["run", "p", "b", "--allow-dirty"])[0] == "--allow-dirty"
    assert protocol.refused_option(["history", "p", "b", "--plot=x.png"])[0] == "--plot"
    assert protocol.refused_option(["run", "p", "b"]) is None
    assert protocol.needs_admin(["promote", "p", "b", "--force"]) == "bench promote --force"
    assert protocol.needs_admin(["reference", "replace", "p", "b"]) == "bench reference replace"
    assert protocol.needs_admin(["gc", "--all"]) == "bench gc"
    assert protocol.needs_admin(["gc"]) == "bench gc"
    assert protocol.needs_admin(["unregister", "p"]) == "bench unregister"
    assert protocol.needs_admin(["promote", "p", "b"]) is None
    assert protocol.needs_admin(["status", "--all"]) is None


def test_a_commit_claim_is_checked(make_project: Callable[..., Path], tmp_path: Path) -> None:
    project = make_project()
    claim = commits.describe(project)
    assert claim is not None and claim.subdir == ""
    for bad in ({"sha": "HEAD", "root": claim.root}, {"sha": claim.sha, "root": claim.root,
                                                     "subdir": "../x"}, "HEAD",
                *({"sha": claim.sha, "root": claim.root, "ref": ref}
                  for ref in ("--upload-pack=x", "refs/heads/a..b", "HEAD:refs/x", "main"))):
        with pytest.raises(GitError):
            commits.parse(bad)
    # another commit than HEAD goes by a branch that names it, or not at all
    git(project, "commit", "-q", "--allow-empty", "-m", "later")
    later = git(project, "rev-parse", "HEAD")
    git(project, "branch", "later")
    git(project, "reset", "-q", "--hard", "HEAD~1")
    sent = commits.describe(project, later)
    assert sent is not None and (sent.sha, sent.ref) == (later, "refs/heads/later")
    git(project, "branch", "-D", "later")  # named by nothing: HEAD goes, and its history
    assert commits.describe(project, later) == claim
    with pytest.raises(GitError, match="is not a commit"):
        commits.resolve(project, "no-such-branch")
    bundle = commits.bundle(project)
    mirrors = tmp_path / "mirrors"
    with commits.checked_out(mirrors, claim, bundle) as checkout:
        assert git(checkout, "rev-parse", "HEAD") == claim.sha
        assert not git(checkout, "status", "--porcelain")
    other = commits.Commit(sha="1" * 40, root=claim.root, subdir="")
    with pytest.raises(GitError, match="not the commit"), commits.checked_out(
            mirrors, other, bundle):
        pass
    # a bundle of another commit, claimed as this one, leaves this one's ref where it was
    git(project, "commit", "-q", "--allow-empty", "-m", "a co-tenant's")
    with pytest.raises(GitError, match="not the commit"), commits.checked_out(
            mirrors, claim, commits.bundle(project)):
        pass
    assert git(mirrors / claim.root, "rev-parse", f"refs/benchstone/{claim.sha}") == claim.sha
    unrelated = commits.Commit(sha=claim.sha, root="2" * 40, subdir="")
    with pytest.raises(GitError, match="does not descend"), commits.checked_out(
            mirrors, unrelated, bundle):
        pass


def test_the_service_names_the_caller_from_the_kernel(service: Settings) -> None:
    [answer] = exchange(service.socket_path, [framed(
        {"version": 1, "kind": "status", "attachments": [], "caller": "someone-else"})])
    assert answer["caller"] == getpass.getuser()


def test_bounds_are_refused_in_one_line_and_the_service_stays_up(service: Settings) -> None:
    cases = [
        (struct.pack(">I", 1 << 30), "over the bound"),
        (framed(b"[1, 2"), "not JSON"),
        (framed({"version": 9, "kind": "cli", "argv": ["list"]}), "protocol version"),
        (framed({"version": 1, "kind": "cli", "argv": ["list"], "attachments": [2 << 20]}),
         "over the service's bound"),
        (framed({"version": 1, "kind": "api", "function": "gc", "args": {},
                 "attachments": []}), "does not offer the API function 'gc'"),
        (framed({"version": 1, "kind": "shell", "attachments": []}), "unknown request kind"),
    ]
    for frames, message in cases:
        [answer] = exchange(service.socket_path, [frames])
        assert message in answer["error"]["message"], answer
    held = []
    for _ in range(2):  # this caller's share: two requests that never finish arriving
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(service.socket_path))
        held.append(sock)
    try:
        [answer] = exchange(service.socket_path, [framed({"version": 1, "kind": "status"})])
        assert "at once" in answer["error"]["message"]
    finally:
        for sock in held:
            sock.close()
    threading.Event().wait(0.3)
    assert exchange(service.socket_path, [framed({"version": 1, "kind": "status"})])[0]["up"]


@pytest.mark.slow
def test_every_verb_of_the_loop_answers_as_locally(service: Settings, tmp_path: Path,
                                                    make_project: Callable[..., Path]) -> None:
    """register, baseline, run, evaluate, list, status, history through the service: the same
    exit codes and verdicts as the same commands in local mode; the service's state holds the
    rows, with this user as their caller; the client's state directory is never created. A
    change not committed never reaches the service. The client is this process (the service
    starts a process of its own for each command); the last, refused, command is a process of
    its own: its exit status crosses the socket and the process."""
    project = make_project()
    local_home, client_home = tmp_path / "local-home", tmp_path / "client-home"
    bench = BenchCLI(project)
    through = {"BENCHSTONE_SERVICE": str(service.socket_path), "BENCHSTONE_HOME": str(client_home)}
    locally = {"BENCHSTONE_SERVICE": "local", "BENCHSTONE_HOME": str(local_home)}
    steps = [("register", "."), ("baseline", "establish", "toy", "speed", "--sandbox", "process"),
             "commit 0.5", ("run", "toy", "speed", "--sandbox", "process"),
             ("evaluate", "toy", "speed"), ("list",), ("status", "--all"),
             ("history", "toy", "speed"), ("evaluate", "nosuch", "speed")]
    served, local = [], []
    for step in steps:
        if isinstance(step, str):
            (project / "src" / "speed.txt").write_text("0.5\n")  # an improvement, committed
            commit_all(project, "faster")
            continue
        served.append(bench(*step, env=through))
        local.append(bench(*step, env=locally))
    for one, other in zip(served, local, strict=True):
        assert one.returncode == other.returncode, (one.args, one.stderr, other.stderr)
    assert [result.returncode for result in served] == [0, 0, 0, 0, 0, 0, 0, 5]
    verdicts = [result.stdout.splitlines()[0].split("  ")[0] for result in (served[3], local[3])]
    assert verdicts == ["verdict: PROMOTE", "verdict: PROMOTE"]
    assert served[-1].stderr == local[-1].stderr  # the same error and fix
    assert not client_home.exists()

    (project / "src" / "speed.txt").write_text("0.01\n")  # better still, and not committed
    dirty = bench("run", "toy", "speed", "--sandbox", "process", "-n", "2", env=through)
    assert dirty.returncode == 0 and "not sent" in dirty.stderr
    refused = BenchCLI(project, subprocess=True)("run", "toy", "speed", "--allow-dirty",
                                                  env=through)
    assert refused.returncode == 5
    assert "--allow-dirty is refused through the benchstone service" in refused.stderr
    conn = sqlite3.connect(service.home / "bench.db")
    metrics = [row[0] for row in conn.execute("SELECT metric FROM runs ORDER BY id")]
    callers = {row[0] for row in conn.execute("SELECT caller FROM runs")}
    conn.close()
    assert all(0.4 < metric < 1.1 for metric in metrics) and callers == {getpass.getuser()}


@pytest.mark.slow
def test_the_other_verbs_answer_as_locally(service: Settings, tmp_path: Path,
                                           make_project: Callable[..., Path]) -> None:
    """A correctness reference frozen and checked, explain, promote, compare, the reference's
    events, corpora: the same exit codes through the service as locally, and the same verdicts.
    (Paths and times differ: the service registers its own copy of the project.) The client is
    this process; the service starts a process of its own for each command."""
    project = make_project()
    bench = BenchCLI(project)
    modes = {"service": {"BENCHSTONE_SERVICE": str(service.socket_path),
                         "BENCHSTONE_HOME": str(tmp_path / "client-home")},
             "local": {"BENCHSTONE_SERVICE": "local",
                       "BENCHSTONE_HOME": str(tmp_path / "local-home")}}
    process = ("--sandbox", "process")
    steps = [("register", "."), ("run", "toy", "output", *process),
             ("reference", "freeze", "toy", "output"), ("evaluate", "toy", "output"),
             ("reference", "list", "toy", "output"), ("references", "toy", "output"),
             ("baseline", "establish", "toy", "speed", *process), "commit",
             ("run", "toy", "speed", *process),
             ("explain", "toy", "speed"), ("promote", "toy", "speed"),
             ("compare", "toy", "speed", *process, "--pairs", "3"),
             ("corpus", "list"), ("evaluate", "toy", "--all")]
    results: dict[str, list[subprocess.CompletedProcess[str]]] = {mode: [] for mode in modes}
    for step in steps:
        if step == "commit":
            (project / "src" / "speed.txt").write_text("0.5\n")
            commit_all(project, "faster")
            continue
        for mode, env in modes.items():
            results[mode].append(bench(*step, env=env))
    codes = {mode: [result.returncode for result in done] for mode, done in results.items()}
    assert 5 not in codes["service"] and 64 not in codes["service"], [
        (result.args[3:], result.stderr[-300:]) for result in results["service"]]
    assert codes["service"] == codes["local"], [
        (result.args[3:], result.stderr[-300:]) for result in results["service"]]
    verdict_lines = {mode: [result.stdout.splitlines()[0].split("  ")[0]
                            for result in done if result.stdout.startswith("verdict:")]
                     for mode, done in results.items()}
    assert verdict_lines["service"] == verdict_lines["local"]
    assert "verdict: PASS" in verdict_lines["service"]
    assert not (tmp_path / "client-home").exists()


@pytest.mark.slow
@pytest.mark.subprocess_cli
def test_the_api_is_a_client_too(service: Settings, make_project: Callable[..., Path],
                                  tmp_path: Path) -> None:
    project = make_project()
    script = tmp_path / "client.py"
    script.write_text(
        "import json\n"
        "from benchstone import api, errors\n"
        "registered = api.register('.')\n"
        "projects = api.list_projects()\n"
        "verdict = api.evaluate('toy', 'speed')\n"
        "try:\n"
        "    api.evaluate('nosuch', 'speed')\n"
        "except errors.ProjectNotRegistered as exc:\n"
        "    missing = [type(exc).__name__, exc.fix]\n"
        "try:\n"
        "    api.corpus_hash\n"
        "    api.freeze_reference('toy', 'output')\n"
        "except errors.ServiceOnly as exc:\n"
        "    local = str(exc)\n"
        "print(json.dumps([type(registered).__name__, [p.name for p in projects],\n"
        "                  type(verdict).__name__, verdict.kind.value, missing, local]))\n")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=project, capture_output=True,
        text=True, env={**os.environ, "BENCHSTONE_SERVICE": str(
            service.socket_path), "BENCHSTONE_HOME": str(tmp_path / "client-home")})
    assert done.returncode == 0, done.stderr
    kind, names, verdict, value, missing, local = json.loads(done.stdout)
    assert (kind, names, verdict, value) == ("RegisterResult", ["toy"], "Verdict", "NO_BASELINE")
    assert missing == ["ProjectNotRegistered", ProjectNotRegistered.fix]
    assert "not offered through the benchstone service" in local
    assert not (tmp_path / "client-home").exists()


@pytest.mark.slow
def test_the_openevolve_evaluator_is_a_client_too(service: Settings, tmp_path: Path,
                                                  make_project: Callable[..., Path]) -> None:
    """Candidates committed on the scratch branch of the client's repository reach the service
    as their own commits (not HEAD's), are run and gated there, and fail_fast crosses too."""
    project = make_project("evolve")
    head = git(project, "rev-parse", "HEAD")
    script = tmp_path / "evolve.py"
    # run from elsewhere: path= names the project's repository, whose commits must cross
    script.write_text(
        "import json, sys\n"
        "from benchstone import api\n"
        "from benchstone.integrations.openevolve import BenchstoneEvaluator\n"
        "project = sys.argv[1]\n"
        "api.register(project)\n"
        "with api.commits_from(project):\n"
        "    api.establish_baseline('evolve', 'cost', sandbox='process')\n"
        "evaluator = BenchstoneEvaluator('evolve', 'cost', target='program.py',\n"
        "                                sandbox='process', progress=False, path=project)\n"
        "out = []\n"
        "for name, body in (('faster', 'return 0.5'), ('broken', 'raise RuntimeError(\"typo\")')):\n"
        "    with open(name + '.py', 'w') as f:\n"
        "        f.write('def cost():\\n    ' + body + '\\n')\n"
        "    result = evaluator.evaluate(name + '.py')\n"
        "    out.append([result.commit, result.verdict.kind.value, result.runs_ok,\n"
        "                result.runs_failed, result.runs_skipped, result.errors])\n"
        "with api.commits_from(project):  # an earlier candidate, no longer a branch's tip\n"
        "    again = api.evaluate('evolve', 'cost', git_sha=out[0][0])\n"
        "    by_name = api.run('evolve', 'cost', revision='benchstone/openevolve',\n"
        "                      repetitions=2, sandbox='process')\n"
        "out.append([again.kind.value, by_name.run_set.git_sha])\n"
        "print(json.dumps(out))\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, str(script), str(project)], cwd=elsewhere, capture_output=True,
        text=True, env={**os.environ, "BENCHSTONE_SERVICE": str(
            service.socket_path), "BENCHSTONE_HOME": str(tmp_path / "client-home")})
    assert done.returncode == 0, done.stderr
    (faster, kind, ok, failed, _, _), broken, (again, by_name) = json.loads(done.stdout)
    assert (kind, ok, failed) == ("PROMOTE", 3, 0)
    assert broken[1:5] == ["NEEDS_MORE_DATA", 0, 1, 2] and "RuntimeError: typo" in broken[5][0]
    assert again == "PROMOTE" and by_name == broken[0]
    assert git(project, "rev-parse", "HEAD") == head  # the client's HEAD never moved
    assert git(project, "rev-parse", "benchstone/openevolve") == broken[0]
    conn = sqlite3.connect(service.home / "bench.db")
    measured = [row[0] for row in conn.execute("SELECT git_sha FROM run_sets ORDER BY id")]
    conn.close()
    assert measured == [head, faster, broken[0], broken[0]]
    assert not (tmp_path / "client-home").exists()


def test_a_request_refused_before_it_is_read_gets_the_service_s_answer(
        service: Settings, tmp_path: Path) -> None:
    """The service answers a request over its bound, or beyond a caller's share, and closes
    without reading the rest; the client, still sending, met a closed pipe. Its user gets the
    service's answer in one line, not a broken pipe."""
    corpus = tmp_path / "big"
    corpus.mkdir()
    (corpus / "data.bin").write_bytes(os.urandom(8 << 20))  # 8 MiB against a bound of 1 MiB
    through = {"BENCHSTONE_SERVICE": str(service.socket_path),
               "BENCHSTONE_HOME": str(tmp_path / "client-home")}
    added = BenchCLI(tmp_path, subprocess=True)("corpus", "add", "big", str(corpus), env=through)
    assert added.returncode == 5, added.stderr
    assert "over the service's bound" in added.stderr and "Traceback" not in added.stderr
    assert added.stderr.startswith("error: "), added.stderr


def test_a_service_that_drops_the_request_unread_is_one_line(tmp_path: Path, capsys) -> None:
    """A service stopping or restarting with a request unread resets the connection: the
    client says so in one line and exits 5 (here, a listener that accepts and closes at once,
    with the request unread)."""
    from benchstone.service import client

    path = tmp_path / "bench.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def drop_one() -> None:
        accepted, _ = listener.accept()
        threading.Event().wait(0.2)  # the request has arrived, unread
        accepted.close()

    dropper = threading.Thread(target=drop_one)
    dropper.start()
    try:
        code = client.forward_cli(["list"], path)
    finally:
        dropper.join()
        listener.close()
    err = capsys.readouterr().err
    assert code == 5, err
    assert err.startswith("error: the service ") and "Traceback" not in err
