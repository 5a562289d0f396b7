"""Shared fixtures: a private BENCHSTONE_HOME, fixture projects as real git repositories, the
real CLI as a subprocess, and the Docker engine (required in CI, skipped elsewhere)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test gets its own state directory and a git identity."""
    monkeypatch.setenv("BENCHSTONE_HOME", str(tmp_path / "bshome"))
    monkeypatch.delenv("BENCHSTONE_SANDBOX", raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "bshome"


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Copy ``tests/fixtures/<name>`` into a fresh git repository with one commit."""

    def make(name: str = "toy", directory: str | None = None) -> Path:
        root = tmp_path / (directory or name)
        shutil.copytree(FIXTURES / name, root)
        git_init = subprocess.run(["git", "init", "-q", "-b", "main", str(root)],
                                  capture_output=True, check=False)
        if git_init.returncode != 0:
            subprocess.run(["git", "init", "-q", str(root)], check=True)
        commit_all(root, "initial")
        return root

    return make


class BenchCLI:
    """Runs ``python -m benchstone`` as a subprocess: the real CLI, end to end."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "benchstone", *args],
            capture_output=True, text=True, cwd=self.cwd, timeout=timeout,
            env={**os.environ, **(env or {})},
        )


@pytest.fixture
def bench(tmp_path: Path) -> BenchCLI:
    return BenchCLI(tmp_path)


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
    """After the suite, no container of a finished benchstone process may remain."""
    if not engine_available():
        return
    import docker

    from benchstone.sandbox.docker.cleanup import is_orphan

    client = docker.from_env(timeout=30)
    left = [c.short_id for c in client.containers.list(all=True, filters={"label": "benchstone"})
            if is_orphan(c.labels)]
    client.close()
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\ncontainers left behind by the suite: {' '.join(left)}")
