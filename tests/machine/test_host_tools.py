"""`bench doctor --fix` on a machine that lacks the host commands the two README commands need:
it names every missing one and installs its Debian package (the real apt-get; packages that are
already installed make it a no-op, which is what lets this run on any machine of the kind)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchstone.system.packages import HOST_TOOLS, missing_tools

needs_root_and_apt = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None,
    reason="installs Debian packages: needs root and apt-get")


def path_without(hidden: set[str], farm: Path) -> str:
    """A PATH that finds every command of today's PATH except ``hidden``."""
    farm.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        folder = Path(directory)
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name not in hidden and not (farm / entry.name).exists():
                (farm / entry.name).symlink_to(entry)
    return str(farm)


def test_missing_tools_reads_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = {tool.command for tool in HOST_TOOLS}
    monkeypatch.setenv("PATH", path_without(hidden, tmp_path / "bin"))
    assert [tool.command for tool in missing_tools()] == [tool.command for tool in HOST_TOOLS]


@pytest.mark.slow
@needs_root_and_apt
def test_doctor_fix_names_and_installs_every_missing_host_tool(tmp_path: Path) -> None:
    hidden = {tool.command for tool in HOST_TOOLS}
    env = {**os.environ, "PATH": path_without(hidden, tmp_path / "bin"),
           "BENCHSTONE_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "benchstone", "doctor", "--fix"],
                            capture_output=True, text=True, env=env, timeout=900, check=False)
    for tool in HOST_TOOLS:
        assert f"missing: {tool.command} (Debian package {tool.package})" in result.stderr
    packages = ", ".join(tool.package for tool in HOST_TOOLS)
    assert f"installing {packages} (apt-get install)" in result.stderr
    assert "could not install" not in result.stderr, result.stderr
    # installed for real: on the ordinary PATH every command is there now
    assert all(shutil.which(tool.command, path="/usr/bin:/usr/sbin:/bin:/sbin")
               for tool in HOST_TOOLS)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("target", "main_step"), [("demo", "bin/bench demo"),
                                                  ("test", "bin/pytest -q")])
def test_the_two_readme_commands_install_the_host_tools_first(target: str, main_step: str,
                                                              tmp_path: Path) -> None:
    """``make demo`` and ``make test`` on a fresh machine: make's own plan (``-n``, nothing
    run) creates the venv, then ``doctor --fix``, then the command itself."""
    root = Path(__file__).resolve().parents[2]
    plan = subprocess.run(["make", "-n", "-C", str(root), target, f"VENV={tmp_path / 'venv'}"],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    steps = [next(i for i, line in enumerate(plan) if needle in line)
             for needle in ("-m venv", "doctor --fix", main_step)]
    assert steps == sorted(steps), plan
