"""``bench init``: scaffold a manifest and a runner into an existing project."""

import textwrap
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchstone.cli._app import JsonOpt, app, dump, echo_lines
from benchstone.project.defaults import DEFAULT_BENCHMARK, RUNNERS

if TYPE_CHECKING:
    from benchstone.project.scaffold import ScaffoldResult


def _quoted(word: str) -> str:
    """``word`` as a shell reads it back (shlex loads only when a path is printed: --help
    imports this module)."""
    import shlex

    return shlex.quote(word)


class LanguageChoice(StrEnum):
    python = "python"
    shell = "shell"


def _in(path: Path, tool: str) -> str:
    """``tool`` run on the project at ``path`` from the directory bench init ran in."""
    return tool if path == Path(".") else f"{tool} -C {_quoted(str(path))}"


STEP_INDENT = " " * 7
WIDTH = 96


def _step(lines: list[str], text: str, commands: list[str]) -> None:
    number = len([line for line in lines if line[2:3].isdigit()]) + 1
    lines.extend(textwrap.wrap(f"{number}. {text}", WIDTH, initial_indent="  ",
                               subsequent_indent="     ", break_on_hyphens=False))
    lines.extend(f"{STEP_INDENT}{command}" for command in commands)


def init_lines(result: "ScaffoldResult", path: Path) -> list[str]:
    """What bench init wrote, then numbered next steps; every line indented by seven spaces
    under a step is a command to run as it is (or, for a make file, lines to add to it)."""
    if result.added_to_existing:
        return _added_lines(result, path)
    runner = result.files[1]
    makefile = result.makefile or "Makefile"
    lines = [f"created {name}" for name in result.files]
    if result.makefile_created:
        lines.append(f"created {makefile} (its bench target measures HEAD and gates it)")
    lines.append(f"  project {result.project}, benchmark {result.benchmark}, "
                 f"{result.language} runner")
    lines.append("next (benchstone measures committed files only: commit before you register):")
    steps: list[str] = []
    _step(steps, f"put the code you want measured into workload() in {runner}; keep that code "
          "outside bench/, whose files are protected (a change there is TAMPERED)", [])
    if not result.makefile_created:
        _step(steps, f"add this target to {makefile}; `make bench` then measures HEAD and gates "
              "it:", result.make_target.rstrip("\n").splitlines())
    git = _in(path, "git")
    start = "" if result.git_repository else f"git init {_quoted(str(path))} && "
    _step(steps, ("" if result.git_repository else "make the directory a git repository and ")
          + "commit them, with your code (runs measure the committed tree, and refuse a "
          "tree with uncommitted or untracked files: list in .gitignore what must stay out):",
          [f"{start}{git} add -A && {git} commit -m 'Add a benchstone benchmark'"])
    _step(steps, "read bench/manifest.toml, then pin it:", [f"bench register {_quoted(str(path))}"])
    _step(steps, "measure the baseline:",
          [f"bench baseline establish {result.project} {result.benchmark}"])
    _step(steps, "change your code and commit it; then measure HEAD and gate it (make fails "
          "unless the verdict is PROMOTE):", [f"{_in(path, 'make')} bench"])
    return lines + steps


def _added_lines(result: "ScaffoldResult", path: Path) -> list[str]:
    manifest = result.files[0]
    lines = [f"added benchmark {result.benchmark} to {manifest}"]
    runner = f"bench/{RUNNERS[result.language]}"
    if result.workload is not None:
        lines.append(f"added entry point {result.benchmark} to {runner}")
    lines.append(f"  project {result.project}, benchmark {result.benchmark}, "
                 f"{result.language} runner")
    if result.other_benchmarks:
        names = ", ".join(result.other_benchmarks)
        one = len(result.other_benchmarks) == 1
        which = f"the benchmark {names} protects" if one else f"the benchmarks {names} protect"
        baselines = "its baseline is" if one else "their baselines are"
        lines += textwrap.wrap(
            f"note: this changed {manifest}, which {which} (protected_paths): until the new "
            f"manifest is registered and {baselines} established again (steps 3 and 4 below), "
            f"{'its' if one else 'their'} runs are TAMPERED", WIDTH, subsequent_indent="  ",
            break_on_hyphens=False)
    lines.append("next:")
    steps: list[str] = []
    if result.workload is None:
        _step(steps, f"make {runner} answer entry point {result.benchmark} (bench init left it "
              "unchanged)", [])
    elif result.language == "shell":
        _step(steps, f"{runner} runs workload() for every entry point: branch on $entry there "
              f"for what {result.benchmark} measures", [])
    else:
        _step(steps, f"put the code you want measured into {result.workload}() in {runner}", [])
    git = _in(path, "git")
    _step(steps, "commit the change, with your code:",
          [f"{git} add -A && {git} commit -m 'Add the benchmark {result.benchmark}'"])
    _step(steps, "read bench/manifest.toml, then pin the new version:",
          [f"bench register {_quoted(str(path))}"])
    everyone = [*result.other_benchmarks, result.benchmark]
    _step(steps, "measure the baselines" + (", again for every benchmark the change touched:"
                                            if result.other_benchmarks else ":"),
          [f"bench baseline establish {result.project} {name}" for name in everyone])
    if result.makefile is not None:
        _step(steps, f"to gate it with make too, add these lines to the bench target of "
              f"{result.makefile}:", [f"\t$(BENCHSTONE) run {result.project} {result.benchmark}",
                                      f"\t$(BENCHSTONE) evaluate {result.project} "
                                      f"{result.benchmark}"])
    return lines + steps


@app.command(epilog="Example: bench init ~/src/myproject --language shell")
def init(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The project's directory.")] = Path("."),
    language: Annotated[LanguageChoice | None, typer.Option(
        "--language", "-l", help="The runner: a Python script, or a POSIX sh script that needs "
        "no Python (default: python; when adding a benchmark, the project's runner's).",
        show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Project name (default: the directory's name).")] = None,
    benchmark: Annotated[str, typer.Option(
        "--benchmark", help="Benchmark name.")] = DEFAULT_BENCHMARK,
    as_json: JsonOpt = False,
) -> None:
    """Scaffold bench/manifest.toml, a runner that speaks the protocol and a Makefile; never
    overwrites.

    The Makefile (written when the project has no make file; else printed, to add) has a
    `bench` target: bench run, then bench evaluate, whose exit code make passes on. The next
    steps it prints work as written: commit, register, establish the baseline, make bench.

    In a project that has a manifest, adds the benchmark to it (and its entry point to the
    runner bench init wrote). That changes bench/, which every benchmark protects by default:
    register the manifest again and establish the other benchmarks' baselines again, or their
    runs are TAMPERED.
    """
    from benchstone.project import scaffold

    result = scaffold.scaffold(path, language.value if language else None, name=name,
                               benchmark=benchmark)
    dump(result) if as_json else echo_lines(init_lines(result, path))
