"""``bench init``: scaffold a manifest and a runner into an existing project."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchstone.cli._app import JsonOpt, app, dump, echo_lines
from benchstone.project.defaults import DEFAULT_BENCHMARK

if TYPE_CHECKING:
    from benchstone.project.scaffold import ScaffoldResult


class LanguageChoice(StrEnum):
    python = "python"
    shell = "shell"


def init_lines(result: ScaffoldResult, path: Path) -> list[str]:
    runner = result.files[1]
    lines = [f"created {name}" for name in result.files]
    lines += [
        f"  project {result.project}, benchmark {result.benchmark}, {result.language} runner",
        "next:",
        f"  1. put the code you want measured into workload() in {runner}, then commit:",
        "       git add bench && git commit -m 'Add a benchstone benchmark'",
        f"  2. read bench/manifest.toml, then pin it:  bench register {path}",
        f"  3. measure the baseline:  bench baseline establish {result.project} {result.benchmark}",
        "  4. add this target to your Makefile; `make bench` then measures HEAD and gates it:",
        "",
    ]
    return lines + result.make_target.rstrip("\n").splitlines()


@app.command(epilog="Example: bench init ~/src/myproject --language shell")
def init(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The project's directory.")] = Path("."),
    language: Annotated[LanguageChoice, typer.Option(
        "--language", "-l", help="The runner: a Python script, or a POSIX sh script that needs "
        "no Python.")] = LanguageChoice.python,
    name: Annotated[str | None, typer.Option(
        "--name", help="Project name (default: the directory's name).")] = None,
    benchmark: Annotated[str, typer.Option(
        "--benchmark", help="Benchmark name.")] = DEFAULT_BENCHMARK,
    as_json: JsonOpt = False,
) -> None:
    """Scaffold bench/manifest.toml and a runner that speaks the protocol; never overwrites.

    Prints the `make bench` target to add to the project's Makefile: bench run, then bench
    evaluate, whose exit code make passes on.
    """
    from benchstone.project import scaffold

    result = scaffold.scaffold(path, language.value, name=name, benchmark=benchmark)
    dump(result) if as_json else echo_lines(init_lines(result, path))
