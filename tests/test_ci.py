"""``.ci/run``: the README's test command, failing when a test fails.

Each test gives ``.ci/run`` a small repository of its own whose ``make test`` is the check, so
the real script, git and make run without the cost of the whole suite.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import commit_all

CI_RUN = Path(__file__).parent.parent / ".ci" / "run"


def repository(tmp_path: Path, recipe: str) -> Path:
    root = tmp_path / "repo"
    (root / ".ci").mkdir(parents=True)
    shutil.copy2(CI_RUN, root / ".ci" / "run")
    (root / "Makefile").write_text(f"test:\n\t{recipe}\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    commit_all(root, "initial")
    return root


def ci(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(root / ".ci" / "run")], capture_output=True, text=True,
                          cwd=root, timeout=120)


def test_a_failing_test_fails_ci(tmp_path: Path) -> None:
    root = repository(tmp_path, "exit 3")
    result = ci(root)
    assert result.returncode != 0, result.stdout + result.stderr

