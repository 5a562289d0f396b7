"""``bench init``: scaffold a benchmark into an existing project.

In a project without ``bench/manifest.toml`` it writes the manifest and a runner that speaks
the protocol (a Python one, or a POSIX sh one that needs no Python) from the templates shipped
in the package, and a ``Makefile`` whose ``bench`` target runs the benchmark at HEAD and gates
it when the project has no make file yet; it never overwrites a file.

In a project that has a manifest, it adds a benchmark to it: a ``[[benchmarks]]`` entry at the
end of the manifest and, in a runner ``bench init`` wrote, an entry point for it. That changes
``bench/``, which every benchmark protects by default, so the result names the benchmarks whose
baselines must be measured again.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from benchstone.errors import BenchstoneError, ScaffoldError
from benchstone.paths import check_name
from benchstone.project.defaults import DEFAULT_BENCHMARK, RUNNERS
from benchstone.project.manifest import MANIFEST_RELATIVE_PATH, Manifest, parse_manifest
from benchstone.project.provenance import in_work_tree, is_protected

Language = Literal["python", "shell"]
LANGUAGES: tuple[Language, ...] = ("python", "shell")
TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_BENCH_COMMAND = "bench"
# GNU make reads the first of these that exists
MAKEFILES = ("GNUmakefile", "makefile", "Makefile")
PYTHON_TABLE = re.compile(r"^BENCHMARKS = \{(?P<entries>[^\n]*)\}[ \t]*$", re.MULTILINE)
PYTHON_WORKLOAD = re.compile(r"^def workload\(.*?(?=\n\n\n)", re.MULTILINE | re.DOTALL)
SHELL_CASE = re.compile(r"^case \$entry in\n", re.MULTILINE)


class ScaffoldResult(BaseModel):
    """What ``scaffold`` wrote, and the make target that runs and gates it."""

    root: str
    project: str
    benchmark: str
    language: Language
    files: list[str]
    make_target: str
    # the make file holding the target: created here (``makefile_created``) or the project's own
    makefile: str | None = None
    makefile_created: bool = False
    # a benchmark added to an existing manifest: the benchmarks it had that protect the
    # manifest, whose runs are TAMPERED against their baselines until the manifest is registered
    # and they are measured again; where the new entry point's code goes (None: the runner was
    # not changed)
    added_to_existing: bool = False
    other_benchmarks: list[str] = Field(default_factory=list)
    workload: str | None = None
    git_repository: bool = True  # False: the next steps begin with git init


def project_name_for(directory: Path) -> str:
    """A safe project name from a directory name: unsafe characters become '-'."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", directory.resolve().name).lstrip(".-")[:128]
    return name or "project"


def make_target(project: str, benchmark: str) -> str:
    """The Makefile target: ``bench run --until-decided`` (pairs, or repetitions, until the
    sequential gate decides), then ``bench evaluate``, whose exit code make reports.

    make stops at the first failing recipe line and prints its status (``Error 1`` for REJECT,
    ``Error 2`` for NEEDS_MORE_DATA); make itself then exits non-zero.
    """
    return (
        "# benchstone: measure HEAD, then gate it. Fails unless the verdict is PROMOTE (or PASS);\n"
        "# make's \"Error N\" is the verdict's exit code (run --until-decided exits as evaluate\n"
        "# does): 1 REJECT, 2 NEEDS_MORE_DATA.\n"
        f"BENCHSTONE ?= {DEFAULT_BENCH_COMMAND}\n"
        ".PHONY: bench\n"
        "bench:\n"
        f"\t$(BENCHSTONE) run {project} {benchmark} --until-decided\n"
        f"\t$(BENCHSTONE) evaluate {project} {benchmark}\n"
    )


def _render(language: Language, template: str, project: str, benchmark: str) -> str:
    text = (TEMPLATES / language / template).read_text()
    return text.replace("@PROJECT@", project).replace("@BENCHMARK@", benchmark)


def _root(path: str | Path) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ScaffoldError(f"{root} is not a directory", fix="create the project first, or pass "
                            "the path of an existing one")
    return root


def existing_makefile(root: Path) -> str | None:
    return next((name for name in MAKEFILES if (root / name).exists()), None)


def scaffold(path: str | Path, language: Language | None = None, *, name: str | None = None,
             benchmark: str = DEFAULT_BENCHMARK) -> ScaffoldResult:
    """Write ``bench/manifest.toml``, a runner and (when the project has no make file) a
    ``Makefile`` into the project at ``path``; or, when it has a manifest, add ``benchmark`` to
    it (see ``add_benchmark``). ``language`` None means python, or when adding, the language of
    the runner the project has.

    Raises ScaffoldError when ``path`` is not a directory or a file it would write exists
    (nothing is written then), InvalidNameError for an unsafe project or benchmark name.
    """
    if language is not None and language not in LANGUAGES:
        raise ScaffoldError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    root = _root(path)
    check_name(benchmark, "benchmark name")
    if (root / MANIFEST_RELATIVE_PATH).exists():
        return add_benchmark(root, benchmark, language, name=name)
    language = language or "python"
    project = check_name(name, "project name") if name is not None else project_name_for(root)
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
    target = make_target(project, benchmark)
    makefile = existing_makefile(root)
    created = makefile is None
    if created:
        makefile = "Makefile"
        contents[makefile] = target
    repository = in_work_tree(root)
    (root / "bench").mkdir(exist_ok=True)
    for relative, text in contents.items():
        destination = root / relative
        try:
            with open(destination, "x") as handle:
                handle.write(text)
        except FileExistsError:
            raise ScaffoldError(f"refusing to overwrite {relative} in {root}") from None
        if destination.suffix == ".sh":
            os.chmod(destination, 0o755)
    return ScaffoldResult(root=str(root.resolve()), project=project, benchmark=benchmark,
                          language=language, files=[str(MANIFEST_RELATIVE_PATH), runner],
                          make_target=target, makefile=makefile, makefile_created=created,
                          workload="workload", git_repository=repository)


def _load_existing(root: Path) -> Manifest:
    path = root / MANIFEST_RELATIVE_PATH
    try:
        return parse_manifest(path.read_bytes())
    except BenchstoneError as exc:
        raise ScaffoldError(f"cannot add a benchmark to {path}: {exc}",
                            fix=exc.fix or "correct the manifest first") from None


def _benchmark_block(language: Language, project: str, benchmark: str) -> str:
    text = _render(language, "manifest.toml", project, benchmark)
    return text[text.index("[[benchmarks]]"):]


def _function_name(benchmark: str, text: str) -> str:
    base = "workload_" + re.sub(r"\W", "_", benchmark)
    name, number = base, 2
    while re.search(rf"^def {re.escape(name)}\(", text, re.MULTILINE):
        name, number = f"{base}_{number}", number + 1
    return name


def _add_python_entry(text: str, benchmark: str) -> tuple[str, str] | None:
    """The scaffolded Python runner with a workload function for ``benchmark`` and its entry in
    BENCHMARKS, and that function's name; None when the runner is not the scaffold's shape."""
    table = PYTHON_TABLE.search(text)
    template = PYTHON_WORKLOAD.search((TEMPLATES / "python" / RUNNERS["python"]).read_text())
    if table is None or template is None or f'"{benchmark}":' in table.group("entries"):
        return None
    function = _function_name(benchmark, text)
    definition = template.group(0).replace("def workload(", f"def {function}(", 1)
    entries = table.group("entries").rstrip().rstrip(",")
    line = f'BENCHMARKS = {{{entries}, "{benchmark}": {function}}}'
    return (text[:table.start()] + definition + "\n\n\n" + line + text[table.end():], function)


def _add_shell_entry(text: str, benchmark: str) -> tuple[str, str] | None:
    """The scaffolded sh runner with ``benchmark`` among the entry points it answers (they share
    its one workload function); None when the runner is not the scaffold's shape."""
    case = SHELL_CASE.search(text)
    if case is None:
        return None
    return text[:case.end()] + f"    {benchmark}) ;;\n" + text[case.end():], "workload"


def add_benchmark(root: Path, benchmark: str, language: Language | None = None, *,
                  name: str | None = None) -> ScaffoldResult:
    """Add ``benchmark`` to the project's existing manifest, and its entry point to the runner
    ``bench init`` wrote (left alone when it no longer has the scaffold's shape)."""
    path = root / MANIFEST_RELATIVE_PATH
    manifest = _load_existing(root)
    project = manifest.project.name
    if name is not None and name != project:
        raise ScaffoldError(f"{path} names the project {project!r}, not {name!r}",
                            fix="leave out --name to add a benchmark to this project")
    others = [bench.name for bench in manifest.benchmarks]
    # those whose protected files include the manifest: their next runs are TAMPERED
    affected = [bench.name for bench in manifest.benchmarks
                if is_protected(str(MANIFEST_RELATIVE_PATH), bench.protected_paths)]
    if language is None:
        language = next((lang for lang in LANGUAGES if (root / "bench" / RUNNERS[lang]).exists()),
                        manifest.project.language if manifest.project.language in LANGUAGES
                        else "python")
    runner = root / "bench" / RUNNERS[language]
    if benchmark in others:
        existing = [str(MANIFEST_RELATIVE_PATH)] + ([f"bench/{runner.name}"] if runner.exists()
                                                    else [])
        raise ScaffoldError(f"refusing to overwrite {', '.join(existing)} in {root}: "
                            f"benchmark {benchmark!r} is in the manifest already",
                            fix="pass --benchmark NAME to add another benchmark, or edit the "
                            "files by hand")
    text = path.read_text()
    new_text = text + ("" if text.endswith("\n") else "\n") + "\n" + _benchmark_block(
        language, project, benchmark)
    parse_manifest(new_text.encode())  # refuse what would not load, before writing anything
    edited = None
    if runner.is_file():
        add = _add_python_entry if language == "python" else _add_shell_entry
        edited = add(runner.read_text(), benchmark)
    path.write_text(new_text)
    files = [str(MANIFEST_RELATIVE_PATH)]
    workload = None
    if edited is not None:
        runner.write_text(edited[0])
        files.append(f"bench/{runner.name}")
        workload = edited[1]
    makefile = existing_makefile(root)
    return ScaffoldResult(root=str(root.resolve()), project=project, benchmark=benchmark,
                          language=language, files=files,
                          make_target=make_target(project, benchmark), makefile=makefile,
                          added_to_existing=True, other_benchmarks=affected, workload=workload)
