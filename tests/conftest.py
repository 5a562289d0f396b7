"""Shared fixtures: a private BENCHSTONE_HOME, fixture projects as real git repositories, the
real CLI (called in this process, or as a subprocess where a process of its own matters), and
the Docker engine (required in CI, skipped elsewhere)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import locale
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REQUIRE_DOCKER = os.environ.get("BENCHSTONE_REQUIRE_DOCKER") == "1"


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                            check=True)
    return result.stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def sequential_boundaries(request: pytest.FixtureRequest,
                          tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory of computed sequential boundaries for the whole run, all workers of
    ``pytest -n`` included, and kept for the next run in pytest's cache directory, in a
    directory named by the source of ``benchstone/stats``: a run after a change to how
    boundaries are computed writes files of its own. Without the cache
    (``-p no:cacheprovider``) they are kept in this run's temporary directory, which the
    workers' temporary directories share as their parent."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        # named by the statistics' source as well: an edit that forgets BOUNDARY_VERSION still
        # gets boundaries of its own
        source = hashlib.sha256()
        for path in sorted((Path(__file__).parents[1] / "benchstone" / "stats").glob("*.py")):
            source.update(path.read_bytes())
        return Path(cache.mkdir(f"benchstone-boundaries-{source.hexdigest()[:16]}"))
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "boundaries"
    shared.mkdir(mode=0o700, exist_ok=True)
    return shared


def share_boundaries(home: Path, shared: Path) -> None:
    """``home``'s boundary cache is ``shared``. A design's boundaries take seconds of Monte Carlo
    (benchstone/evaluate/boundary_cache.py) and are the same for every state directory, so a
    ``bench`` process of one test reads what another test's computed, as every command of one
    user does; a test's own state directory would recompute them in each process."""
    cache = home / "cache"
    for directory in (home, cache):
        directory.mkdir(mode=0o700, exist_ok=True)
    (cache / "boundaries").symlink_to(shared, target_is_directory=True)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                         sequential_boundaries: Path) -> None:
    """Each test gets its own state directory (sharing only the boundary cache), a git identity,
    and this interpreter's directory first on PATH, as in an activated virtual environment: the
    fixture projects start ``python3`` once per repetition, and through a version manager's shim
    (a shell script starting several more) each start would cost several times the
    interpreter's own."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("BENCHSTONE_HOME", str(tmp_path / "bshome"))
    share_boundaries(tmp_path / "bshome", sequential_boundaries)
    monkeypatch.delenv("BENCHSTONE_SANDBOX", raising=False)
    # local mode, even on a host whose /etc/benchstone/client.toml names a harness service
    monkeypatch.setenv("BENCHSTONE_SERVICE", "local")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "bshome"


def _fixture_repository(name: str, root: Path) -> None:
    """``tests/fixtures/<name>`` copied to ``root`` as a git repository with one commit."""
    shutil.copytree(FIXTURES / name, root)
    git_init = subprocess.run(["git", "init", "-q", "-b", "main", str(root)],
                              capture_output=True, check=False)
    if git_init.returncode != 0:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    commit_all(root, "initial")


@pytest.fixture(scope="session")
def fixture_repositories(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Each fixture project as a git repository, made once per test process: a test copies it
    (``make_project``) instead of running git init, add and commit again. The copy is a
    repository of its own; its one commit is the same in every test, which no test tells
    apart from a fresh one."""
    templates = tmp_path_factory.mktemp("fixture-repositories")

    def template(name: str) -> Path:
        root = templates / name
        if not root.exists():
            with pytest.MonkeyPatch.context() as patch:  # the commit's author, as in a test
                for variable in ("AUTHOR", "COMMITTER"):
                    patch.setenv(f"GIT_{variable}_NAME", "test")
                    patch.setenv(f"GIT_{variable}_EMAIL", "test@example.invalid")
                _fixture_repository(name, root)
        return root

    return template


@pytest.fixture
def make_project(tmp_path: Path, fixture_repositories: Callable[[str], Path]) -> Callable[..., Path]:
    """Copy ``tests/fixtures/<name>`` into a fresh git repository with one commit."""

    def make(name: str = "toy", directory: str | None = None) -> Path:
        root = tmp_path / (directory or name)
        shutil.copytree(fixture_repositories(name), root, symlinks=True)
        return root

    return make


class _TimedOut(BaseException):
    """Raised by the alarm of an in-process call; a BaseException so that the CLI's own
    ``except Exception`` cannot swallow it."""


def _forget_process_state() -> None:
    """What one ``bench`` process would have begun without: the Docker client (cached per process,
    but ``$DOCKER_HOST`` may differ between calls) and the temporary directory (``$TMPDIR``)."""
    tempfile.tempdir = None
    engine = sys.modules.get("benchstone.sandbox.docker.engine")
    if engine is not None:
        engine.reset_client()


@contextlib.contextmanager
def _environment(overrides: dict[str, str]) -> Iterator[None]:
    saved = os.environ.copy()
    # a pipe has no terminal size: help text wraps at click's fallback width, as in a subprocess
    os.environ.setdefault("COLUMNS", "80")
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


@contextlib.contextmanager
def _alarm(timeout: float) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _pipe() -> io.TextIOWrapper:
    """A text stream like a subprocess's piped stdout: UTF-8, with a binary buffer beneath."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape",
                            write_through=True)


def _read_pipe(stream: io.TextIOWrapper) -> str:
    """Decoded as ``subprocess.run(text=True)`` decodes a child's output."""
    stream.flush()
    data = stream.buffer.getvalue()  # type: ignore[attr-defined]
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.fixture(scope="session", autouse=True)
def click_commands_built_once() -> Iterator[None]:
    """``benchstone.cli.main`` turns the typer app into click commands on every call, once per
    process in real use; in-process tests would pay it (most of a short command's time) on every
    call. The built command is stateless, so one per app serves every call."""
    import typer.main

    build = typer.main.get_command
    built: dict[int, tuple[object, object]] = {}

    def get_command(app: typer.Typer) -> object:
        if id(app) not in built:
            built[id(app)] = (app, build(app))  # the app is kept so its id is never reused
        return built[id(app)][1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.main, "get_command", get_command)
        yield


class BenchCLI:
    """The real CLI, ``bench ARGS``, run in the test's directory with ``env`` added to the
    environment; returns a ``subprocess.CompletedProcess``.

    By default ``benchstone.cli.main`` is called in this process, which is fast. With
    ``subprocess=True`` it is ``python -m benchstone`` as a process of its own: for what only a
    process shows (its exit status, ``python -m``, signals sent to it)."""

    def __init__(self, cwd: Path, *, subprocess: bool = False) -> None:
        self.cwd = cwd
        self.subprocess = subprocess

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 600) -> subprocess.CompletedProcess[str]:
        if self.subprocess:
            return subprocess.run(
                [sys.executable, "-m", "benchstone", *args],
                capture_output=True, text=True, cwd=self.cwd, timeout=timeout,
                env={**os.environ, **(env or {})},
            )
        return self._in_process(list(args), env or {}, timeout)

    def _in_process(self, args: list[str], env: dict[str, str],
                    timeout: float) -> subprocess.CompletedProcess[str]:
        from benchstone import cli

        argv = ["bench", *args]
        out, err = _pipe(), _pipe()
        returncode: int | None = None
        previous_cwd = os.getcwd()
        saved_streams = sys.stdout, sys.stderr
        saved_tempdir = tempfile.tempdir
        try:
            with _environment(env):
                _forget_process_state()
                os.chdir(self.cwd)
                sys.stdout, sys.stderr = out, err
                try:
                    with _alarm(timeout):
                        returncode = cli.main(args)
                except SystemExit as exc:  # what ``python -m benchstone`` would exit with
                    code = exc.code
                    returncode = code if isinstance(code, int) else 0 if code is None else 1
                    if isinstance(code, str):
                        err.write(code + "\n")
                except _TimedOut:
                    pass
                finally:
                    sys.stdout, sys.stderr = saved_streams
                    os.chdir(previous_cwd)
                    _forget_process_state()
        finally:
            tempfile.tempdir = saved_tempdir
        stdout, stderr = _read_pipe(out), _read_pipe(err)
        if returncode is None:
            raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr)
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)


@pytest.fixture
def bench(request: pytest.FixtureRequest, tmp_path: Path) -> BenchCLI:
    """The CLI called in this process; ``python -m benchstone`` in a process of its own for a
    test marked ``subprocess_cli``."""
    return BenchCLI(tmp_path, subprocess=request.node.get_closest_marker("subprocess_cli") is not None)


def verdict_of(bench: BenchCLI, *args: str) -> tuple[int, dict]:
    """``bench evaluate ARGS --json``: its exit code and the verdict."""
    result = bench("evaluate", *args, "--json")
    return result.returncode, json.loads(result.stdout)


BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "process"]


@pytest.fixture(params=BACKENDS)
def sandbox(request: pytest.FixtureRequest) -> str:
    """Each sandbox backend in turn; docker needs (and in CI requires) the engine."""
    if request.param == "docker":
        request.getfixturevalue("docker_client")
    return request.param


def engine_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REQUIRE_DOCKER or engine_available():
        return
    skip = pytest.mark.skip(reason="no Docker engine (set BENCHSTONE_REQUIRE_DOCKER=1 to fail)")
    for item in items:
        if "docker" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def docker_client() -> Iterator[object]:
    """A docker-py client; the test fails (never skips) when BENCHSTONE_REQUIRE_DOCKER=1."""
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        if REQUIRE_DOCKER:
            pytest.fail(f"BENCHSTONE_REQUIRE_DOCKER=1 but no Docker engine answers: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    yield client
    client.close()


collect_ignore = ["perf", "redteam/run.py"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the suite, no container of a finished benchstone process may remain: nor of this
    one, whose in-process commands have all finished too."""
    if not engine_available():
        return
    import docker

    from benchstone.sandbox.docker.cleanup import is_orphan
    from benchstone.store import host_name

    def left_behind(labels: dict[str, str]) -> bool:
        ours = (labels.get("benchstone.harness.host") == host_name()
                and labels.get("benchstone.harness.pid") == str(os.getpid()))
        return ours or is_orphan(labels)

    client = docker.from_env(timeout=30)
    left = [c.short_id for c in client.containers.list(all=True, filters={"label": "benchstone"})
            if left_behind(c.labels)]
    client.close()
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\ncontainers left behind by the suite: {' '.join(left)}")
