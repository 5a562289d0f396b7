"""The package as users install it: a wheel built from this repository, in a fresh virtual
environment, with the runner image recipes and the sandbox files inside it. The package index's
"benchstone" is another project, so every install line in the docs names this repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# the fresh environment must see only what it installed, never a checkout on PYTHONPATH
CLEAN_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def run(*command: str | Path, cwd: Path, timeout: float = 900) -> str:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, check=False, env=CLEAN_ENV)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_a_wheel_built_here_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dist, ROOT,
        cwd=tmp_path)
    wheels = list(dist.glob("benchstone-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheels[0], cwd=tmp_path)
    bench = venv / "bin" / "bench"

    demo_help = run(bench, "demo", "--help", cwd=tmp_path)
    assert "Usage: bench demo" in demo_help
    doctor = subprocess.run([str(bench), "doctor", "--json"], capture_output=True, text=True,
                            timeout=300, check=False, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                                 "HOME": str(tmp_path), "BENCHSTONE_HOME": str(tmp_path / "h")})
    assert doctor.returncode in (0, 1), doctor.stderr  # 1: this machine lacks something
    assert "Traceback" not in doctor.stderr and "internal error" not in doctor.stderr
    names = [check["name"] for check in json.loads(doctor.stdout)]
    assert "git" in names and "state directory" in names and "docker engine" in names
    # the installed package carries what the harness needs at run time
    bundled = run(venv / "bin" / "python", "-c",
                  "from benchstone.resources import bundled; "
                  "print(bundled('images'), bundled('sandbox'))", cwd=tmp_path).split()
    for folder in bundled:
        assert Path(folder).is_dir() and str(venv) in folder


INSTALL_FROM_INDEX = re.compile(
    r"""pip install\s+(?:-\S+\s+)*(['"]?)benchstone(?:\[[^\]]*\])?(?!\s*@)\1(?=\s|$)""")


def test_no_install_line_takes_the_other_project_from_the_index() -> None:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "tests" / "fixtures" / "ci").glob("*.yml"))]
    offenders = [f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
                 for path in texts if path.exists()
                 for match in INSTALL_FROM_INDEX.finditer(path.read_text())]
    assert not offenders, "install benchstone from its repository or a wheel built from it:\n" + \
        "\n".join(offenders)
