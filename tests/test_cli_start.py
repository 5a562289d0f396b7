"""The command line starts without loading what the command does not need.

What each command loads is checked in a fresh interpreter, through ``sys.modules``, and not timed
here: the start time itself is measured by ``make perf`` (tests/perf/perf_start.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "scipy", "docker", "sqlite_utils")

LOADED_BY = """
import contextlib, io, json, sys
from benchstone.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
roots = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"code": code, "output": out.getvalue(), "roots": roots,
                  "benchstone": sorted(n for n in sys.modules if n.startswith("benchstone"))}))
"""


def loaded_by(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", LOADED_BY, *args], capture_output=True,
                          text=True, check=True, timeout=120)
    return json.loads(done.stdout)


def test_help_loads_neither_the_api_nor_numpy_scipy_docker_or_sqlite_utils() -> None:
    loaded = loaded_by("--help")
    assert loaded["code"] == 0 and "evaluate" in loaded["output"]
    assert [name for name in HEAVY if name in loaded["roots"]] == []
    assert "benchstone.api" not in loaded["benchstone"]


@pytest.mark.parametrize("command", [("evaluate", "--help"), ("doctor", "--help"),
                                     ("corpus", "list", "--help")])
def test_a_command_s_help_loads_nothing_heavy(command: tuple[str, ...]) -> None:
    loaded = loaded_by(*command)
    assert loaded["code"] == 0 and "Usage:" in loaded["output"]
    assert [name for name in HEAVY if name in loaded["roots"]] == []


def test_list_with_nothing_registered_loads_neither_the_store_nor_pydantic() -> None:
    loaded = loaded_by("list")
    assert loaded["code"] == 0
    assert loaded["output"] == "no projects registered (bench register PATH)\n"
    assert [name for name in (*HEAVY, "pydantic") if name in loaded["roots"]] == []


def test_list_with_a_project_opens_the_store_but_loads_nothing_heavy(bench, make_project
                                                                     ) -> None:
    """A migrated store is read with sqlite3 alone: sqlite-utils loads only to migrate."""
    assert bench("register", str(make_project("toy"))).returncode == 0
    loaded = loaded_by("list")
    assert loaded["code"] == 0 and loaded["output"].startswith("toy ")
    assert "pydantic" in loaded["roots"]
    assert [name for name in HEAVY if name in loaded["roots"]] == []


def test_a_new_store_migrates_with_sqlite_utils_and_numpy_imports_as_usual_after(
        tmp_path) -> None:
    script = ("import sys\nfrom pathlib import Path\nfrom benchstone.store import Store\n"
              f"Store(Path({str(tmp_path / 'bench.db')!r})).close()\n"
              "assert 'sqlite_utils' in sys.modules and 'numpy' not in sys.modules\n"
              "import numpy\n"
              "print(numpy.add(1, 2))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "3"


def _through(command: object, argv: list[str]) -> tuple[object, str, str]:
    """What ``command`` prints and returns for ``bench argv``, as ``cli.main`` calls it."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = command.main(args=argv, prog_name="bench",  # type: ignore[attr-defined]
                                          standalone_mode=False)
        except Exception as exc:  # a usage error: click shows it as main does
            show = getattr(exc, "show", None)
            if show is not None:
                show()
            result = f"{type(exc).__name__}: {exc}"
    return result, out.getvalue(), err.getvalue()


def test_the_one_command_built_answers_as_the_whole_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench ARGS`` builds the click command of the one command it names, and for top-level
    help only the listing: every help, listing and usage error reads as from the whole app."""
    import typer

    from benchstone.cli import app
    from benchstone.cli._app import app_for

    monkeypatch.setenv("COLUMNS", "80")
    whole = typer.main.get_command(app)
    argvs = [["--help"], ["-h"], [], ["nosuch"], ["evalute"], ["--version"], ["--help", "list"],
             ["--bogus", "list"], ["list", "--bogus"]]
    for name in whole.list_commands(None):  # type: ignore[attr-defined]
        argvs.append([name, "--help"])
        sub = whole.get_command(None, name)  # type: ignore[attr-defined]
        if hasattr(sub, "list_commands"):
            argvs += [[name], *([name, inner, "--help"] for inner in sub.list_commands(None))]
    for argv in argvs:
        narrowed = typer.main.get_command(app_for(argv))
        assert _through(narrowed, argv) == _through(whole, argv), argv
    listing = typer.main.get_command(app_for(["--help"]))
    assert listing.list_commands(None) == whole.list_commands(None)  # type: ignore[attr-defined]
    assert typer.main.get_command(app_for(["list"])).list_commands(None) == ["list"]
