"""``bench init``: scaffold a benchmark into an existing project.

It writes ``bench/manifest.toml`` and a runner that speaks the protocol (a Python one, or a POSIX
sh one that needs no Python) from the templates shipped in the package, never overwriting a
file, and says which ``make bench`` target runs the benchmark at HEAD and gates it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from benchstone.errors import ScaffoldError
from benchstone.paths import check_name
from benchstone.project.defaults import DEFAULT_BENCHMARK
from benchstone.project.manifest import MANIFEST_RELATIVE_PATH, parse_manifest

Language = Literal["python", "shell"]
LANGUAGES: tuple[Language, ...] = ("python", "shell")
TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNNERS: dict[str, str] = {"python": "runner.py", "shell": "run.sh"}
DEFAULT_BENCH_COMMAND = "bench"


class ScaffoldResult(BaseModel):
    """What ``scaffold`` wrote, and the make target that runs and gates it."""

    root: str
    project: str
    benchmark: str
    language: Language
    files: list[str]
    make_target: str


def project_name_for(directory: Path) -> str:
    """A safe project name from a directory name: unsafe characters become '-'."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", directory.resolve().name).lstrip(".-")[:128]
    return name or "project"


def make_target(project: str, benchmark: str) -> str:
    """The Makefile target: ``bench run`` then ``bench evaluate``, whose exit code make reports.

    make stops at the first failing recipe line and prints its status (``Error 1`` for REJECT,
    ``Error 2`` for NEEDS_MORE_DATA); make itself then exits non-zero.
    """
    return (
        "# benchstone: measure HEAD, then gate it. Fails unless the verdict is PROMOTE (or PASS);\n"
        "# make's \"Error N\" is bench evaluate's exit code: 1 REJECT, 2 NEEDS_MORE_DATA.\n"
        f"BENCHSTONE ?= {DEFAULT_BENCH_COMMAND}\n"
        ".PHONY: bench\n"
        "bench:\n"
        f"\t$(BENCHSTONE) run {project} {benchmark}\n"
        f"\t$(BENCHSTONE) evaluate {project} {benchmark}\n"
    )


def _render(language: Language, template: str, project: str, benchmark: str) -> str:
    text = (TEMPLATES / language / template).read_text()
    return text.replace("@PROJECT@", project).replace("@BENCHMARK@", benchmark)


def scaffold(path: str | Path, language: Language = "python", *, name: str | None = None,
             benchmark: str = DEFAULT_BENCHMARK) -> ScaffoldResult:
    """Write ``bench/manifest.toml`` and a runner into the project at ``path``.

    Raises ScaffoldError when ``path`` is not a directory or any of the files exists (nothing
    is written then), InvalidNameError for an unsafe project or benchmark name.
    """
    if language not in LANGUAGES:
        raise ScaffoldError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ScaffoldError(f"{root} is not a directory", fix="create the project first, or pass "
                            "the path of an existing one")
    project = check_name(name, "project name") if name is not None else project_name_for(root)
    check_name(benchmark, "benchmark name")
    runner = f"bench/{RUNNERS[language]}"
    contents = {
        str(MANIFEST_RELATIVE_PATH): _render(language, "manifest.toml", project, benchmark),
        runner: _render(language, RUNNERS[language], project, benchmark),
    }
    parse_manifest(contents[str(MANIFEST_RELATIVE_PATH)].encode())  # a broken template is a bug
    existing = [relative for relative in contents if (root / relative).exists()]
    if existing:
        raise ScaffoldError(f"refusing to overwrite {', '.join(existing)} in {root}",
                            fix="move the existing files away, or edit them by hand")
    (root / "bench").mkdir(exist_ok=True)
    for relative, text in contents.items():
        target = root / relative
        try:
            with open(target, "x") as handle:
                handle.write(text)
        except FileExistsError:
            raise ScaffoldError(f"refusing to overwrite {relative} in {root}") from None
        if target.suffix == ".sh":
            os.chmod(target, 0o755)
    return ScaffoldResult(root=str(root.resolve()), project=project, benchmark=benchmark,
                          language=language, files=list(contents),
                          make_target=make_target(project, benchmark))
