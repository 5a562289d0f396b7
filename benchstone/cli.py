"""The ``bench`` command line: a thin layer over :mod:`benchstone.api`.

Each command parses its options, calls one API function and renders the result. Errors from
benchstone print as ``error: ...`` (and the fix, when there is one) without a traceback.

Exit codes: ``evaluate`` uses VERDICT_EXIT_CODES (0 PROMOTE/PASS, 1 REJECT/FAIL/TAMPERED,
2 NEEDS_MORE_DATA/NO_BASELINE/NO_REFERENCE, 3 unknown, 4 --expect mismatch). Every command
exits 5 on an error (configuration, git, sandbox or store), 64 on a usage error and 130 when
interrupted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from pydantic import BaseModel

from benchstone import api, render
from benchstone.errors import BenchstoneError, Interrupted
from benchstone.records import Run, RunSet
from benchstone.runner import Progress
from benchstone.verdict import (
    EXPECT_MISMATCH_EXIT,
    VERDICT_EXIT_CODES,
    VerdictKind,
    exit_code_for,
)

__all__ = ["ERROR_EXIT", "INTERRUPTED_EXIT", "USAGE_EXIT", "VERDICT_EXIT_CODES", "app", "main"]

# typer >= 0.20 runs on its own bundled copy of click, whose exceptions are not click's: catch both.
try:
    from typer._click import exceptions as _typer_click
except ImportError:  # an older typer, built on click itself
    _typer_click = click.exceptions  # type: ignore[assignment]
_NO_ARGS_ERRORS = (click.exceptions.NoArgsIsHelpError, _typer_click.NoArgsIsHelpError)
_USAGE_ERRORS = (click.UsageError, _typer_click.UsageError)
_CLICK_ERRORS = (click.ClickException, _typer_click.ClickException)
_ABORTS = (click.Abort, typer.Abort, KeyboardInterrupt)

ERROR_EXIT = 5
USAGE_EXIT = 64
INTERRUPTED_EXIT = 130

app = typer.Typer(
    name="bench",
    help="Trustworthy benchmark gating: did this commit make the benchmark meaningfully better?",
    epilog="Example: bench evaluate myproject solve_speed",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
baseline_app = typer.Typer(help="Establish the baseline a candidate is compared with.",
                           epilog="Example: bench baseline establish myproject solve_speed",
                           no_args_is_help=True, rich_markup_mode=None)
corpus_app = typer.Typer(help="Harness-owned corpora: held-out data the project never holds.",
                         epilog="Example: bench corpus add heldout ~/data/heldout",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(baseline_app, name="baseline")
app.add_typer(corpus_app, name="corpus")

ProjectArg = Annotated[str, typer.Argument(help="Registered project name.", show_default=False)]
BenchmarkArg = Annotated[str, typer.Argument(help="Benchmark name from the manifest.",
                                             show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
SandboxOpt = Annotated[str | None, typer.Option(
    "--sandbox", metavar="NAME",
    help="Sandbox backend: docker (default) or process (NO isolation). Also $BENCHSTONE_SANDBOX "
    "or the manifest's sandbox key.")]


def _echo(lines: list[str] | str) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(line)


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def _dump(value: Any) -> None:
    if isinstance(value, BaseModel):
        typer.echo(value.model_dump_json(indent=2))
    elif isinstance(value, list):
        typer.echo(json.dumps([item.model_dump(mode="json") if isinstance(item, BaseModel)
                               else item for item in value], indent=2))
    else:
        typer.echo(json.dumps(value, indent=2))


def _progress(quiet: bool) -> Progress:
    """Prints the run set header and one line per repetition, with a count and an estimate."""

    def on_start(run_set: RunSet) -> None:
        if not quiet:
            typer.echo(render.run_set_header(run_set))

    def on_repetition(run: Run, done: int, total: int, elapsed: float) -> None:
        if quiet:
            return
        remaining = (elapsed / done) * (total - done)
        eta = f", about {remaining:.0f}s left" if done < total else ""
        typer.echo(f"{render.run_line(run)}  [{done}/{total}{eta}]")

    return Progress(on_warning=_warn, on_start=on_start, on_repetition=on_repetition)


@app.command(epilog="Example: bench register ~/src/myproject")
def register(
    path: Annotated[Path, typer.Argument(help="Project directory holding bench/manifest.toml.")],
    as_json: JsonOpt = False,
) -> None:
    """Register a project: pin a copy of its manifest as the trusted one.

    Only register a project whose manifest you have read: its invocation runs on every run.
    Re-registering a changed manifest pins the new version and keeps the old ones.
    """
    result = api.register(path)
    for warning in result.warnings:
        _warn(warning)
    _dump(result) if as_json else _echo(render.register_lines(result))


@app.command("list", epilog="Example: bench list --json")
def list_command(as_json: JsonOpt = False) -> None:
    """List registered projects: benchmarks, tier, gate, baseline and corpus status."""
    projects = api.list_projects()
    if as_json:
        _dump(projects)
        return
    if not projects:
        typer.echo("no projects registered (bench register PATH)")
    for project in projects:
        _echo(render.project_lines(project))


def _run_exit(report: Any) -> None:
    runs = report.runs
    if runs and not any(run.status == "ok" for run in runs):
        typer.echo(f"every repetition failed ({len(runs)} error row(s) recorded)", err=True)
        raise typer.Exit(1)


@app.command(epilog="Example: bench run myproject solve_speed --repetitions 10")
def run(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    repetitions: Annotated[int | None, typer.Option(
        "--repetitions", "-n", min=1, help="Repetitions (default: the manifest's).")] = None,
    meta_seed: Annotated[int | None, typer.Option(
        "--meta-seed", min=0, help="Seed the run set's seeds derive from (default: random).")] = None,
    allow_dirty: Annotated[bool, typer.Option(
        "--allow-dirty", help="Run although the tree has uncommitted changes; the committed tree "
        "is still what runs, the diff is saved and the rows are marked dirty.")] = False,
    foreground: Annotated[bool, typer.Option(
        "--foreground", help="Run here even if the benchmark has background_required.")] = False,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a candidate run set at HEAD: one sandboxed repetition per seed, one row each.

    Exits 0 when at least one repetition succeeded, 1 when every one failed (the error rows are
    still recorded), 5 on a harness error.
    """
    report = api.run(project, benchmark, repetitions=repetitions, meta_seed=meta_seed,
                     allow_dirty=allow_dirty, sandbox=sandbox, force_foreground=foreground,
                     progress=_progress(as_json))
    if as_json:
        _dump(report)
    _run_exit(report)


@baseline_app.command("establish", epilog="Example: bench baseline establish myproject "
                      "solve_speed --at-sha v1.2.0")
def baseline_establish(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    at_sha: Annotated[str | None, typer.Option(
        "--at-sha", metavar="REV", help="Measure this commit instead of HEAD; the working tree "
        "and index are not touched.")] = None,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="As for run.")] = False,
    foreground: Annotated[bool, typer.Option(
        "--foreground", help="Run here even if the benchmark has background_required.")] = False,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the manifest's baseline_seeds and point the baseline at that run set."""
    result = api.establish_baseline(project, benchmark, at_sha=at_sha, allow_dirty=allow_dirty,
                                    sandbox=sandbox, force_foreground=foreground,
                                    progress=_progress(as_json))
    if as_json:
        _dump(result)
    elif result.pointer is not None:
        typer.echo(f"baseline set: {project}/{benchmark} -> {render.short(result.pointer.git_sha)}"
                   f" ({result.report.ok} run(s))")
    if result.pointer is None:
        typer.echo("baseline not set: every repetition failed", err=True)
        raise typer.Exit(1)


@app.command(epilog="Example: bench evaluate myproject solve_speed --expect PROMOTE")
def evaluate(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    meta_seed: Annotated[int | None, typer.Option(
        "--meta-seed", help="Evaluate this candidate run set (default: the newest at HEAD).")] = None,
    expect: Annotated[VerdictKind | None, typer.Option(
        "--expect", help="Exit 4 unless the verdict is this kind.", case_sensitive=False)] = None,
    include_dirty: Annotated[bool, typer.Option(
        "--include-dirty", help="Let rows recorded on a dirty tree into the gate.")] = False,
    allow_cross_env: Annotated[bool, typer.Option(
        "--allow-cross-env", help="Compare a performance benchmark across environments.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Say PROMOTE, REJECT or NEEDS_MORE_DATA (PASS/FAIL for correctness). Read-only.

    Exit codes: 0 PROMOTE/PASS, 1 REJECT/FAIL/TAMPERED, 2 NEEDS_MORE_DATA/NO_BASELINE/
    NO_REFERENCE, 3 unknown verdict, 4 --expect mismatch.
    """
    verdict = api.evaluate(project, benchmark, meta_seed=meta_seed, include_dirty=include_dirty,
                           allow_cross_env=allow_cross_env)
    _dump(verdict) if as_json else _echo(render.verdict_lines(verdict))
    if expect is not None and verdict.kind != expect.value:
        typer.echo(f"expected {expect.value}, got {verdict.kind}", err=True)
        raise typer.Exit(EXPECT_MISMATCH_EXIT)
    raise typer.Exit(exit_code_for(verdict.kind))


@app.command(epilog="Example: bench promote myproject solve_speed")
def promote(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    meta_seed: Annotated[int | None, typer.Option(
        "--meta-seed", help="The candidate run set to promote when several exist at HEAD.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Promote although the gate did not say PROMOTE (recorded as forced; "
        "never for TAMPERED).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move the baseline pointer to the candidate run set the gate promoted."""
    result = api.promote(project, benchmark, meta_seed=meta_seed, force=force)
    if as_json:
        _dump(result)
        return
    forced = "  (forced)" if result.pointer.forced else ""
    typer.echo(f"baseline promoted: {project}/{benchmark} -> {render.short(result.pointer.git_sha)}"
               f"  (baseline meta_seed={result.pointer.meta_seed}){forced}")


@app.command(epilog="Example: bench history myproject solve_speed --limit 5")
def history(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Run sets to show.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """A textual timeline: run sets by time and commit, their metrics, and baseline moves."""
    timeline = api.timeline(project, benchmark, limit=limit)
    _dump(timeline) if as_json else _echo(render.timeline_lines(timeline))


@app.command("freeze-reference", epilog="Example: bench freeze-reference myproject output")
def freeze_reference(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    at_sha: Annotated[str | None, typer.Option("--at-sha", metavar="REV",
                                               help="Commit whose artifact to freeze.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Freeze the newest ok artifact at HEAD as a correctness benchmark's reference."""
    event = api.freeze_reference(project, benchmark, at_sha=at_sha)
    _dump(event) if as_json else typer.echo(
        f"reference frozen: {project}/{benchmark} = {event.new_sha256[:12]} "
        f"(artifact of run {event.run_id} at {render.short(event.git_sha)})")


@app.command("replace-reference",
             epilog='Example: bench replace-reference myproject output --reason "new format"')
def replace_reference(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    reason: Annotated[str, typer.Option("--reason", help="Why; required and logged.")],
    at_sha: Annotated[str | None, typer.Option("--at-sha", metavar="REV",
                                               help="Commit whose artifact to use.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a frozen reference with the newest ok artifact; the old one stays on disk."""
    event = api.replace_reference(project, benchmark, reason=reason, at_sha=at_sha)
    _dump(event) if as_json else typer.echo(
        f"reference replaced: {project}/{benchmark} {event.old_sha256[:12]} -> "
        f"{event.new_sha256[:12]}  reason: {event.reason}")


@app.command("references", epilog="Example: bench references myproject output")
def references_command(project: ProjectArg, benchmark: BenchmarkArg,
                       as_json: JsonOpt = False) -> None:
    """Show every freeze and replace of a benchmark's reference."""
    events = api.reference_history(project, benchmark)
    _dump(events) if as_json else _echo(render.reference_lines(events))


@app.command("corpus-hash", epilog="Example: bench corpus-hash bench/corpus/data --type tree")
def corpus_hash(
    path: Annotated[Path, typer.Argument(help="The corpus file or directory.")],
    corpus_type: Annotated[str, typer.Option(
        "--type", help="bytes (one file), spec (directory with corpus_spec.toml) or tree "
        "(whole directory).")] = "bytes",
) -> None:
    """Print the sha256:... value to put in a manifest's corpus_hash."""
    typer.echo(api.corpus_hash(path, corpus_type))


@corpus_app.command("add", epilog="Example: bench corpus add heldout ~/data/heldout")
def corpus_add(
    name: Annotated[str, typer.Argument(help="Name a manifest refers to with corpus = NAME.")],
    path: Annotated[Path, typer.Argument(help="A directory (or one file) to copy.")],
    as_json: JsonOpt = False,
) -> None:
    """Copy a corpus into the harness's store: read-only, content-addressed, hashed as tree."""
    record = api.add_corpus(name, path)
    _dump(record) if as_json else typer.echo(f"corpus {record.name} = {record.sha256}")


@corpus_app.command("list", epilog="Example: bench corpus list")
def corpus_list(as_json: JsonOpt = False) -> None:
    """List the harness-owned corpora."""
    records = api.corpora()
    if as_json:
        _dump(records)
        return
    if not records:
        typer.echo("no harness-owned corpora (bench corpus add NAME PATH)")
    for record in records:
        typer.echo(f"{record.name:<24} {record.sha256[:19]}  added {render.when(record.added_at)}"
                   f"  from {record.source}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bench`` console script."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="bench", standalone_mode=False)
    except _NO_ARGS_ERRORS as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except _USAGE_ERRORS as exc:
        exc.show()
        return USAGE_EXIT
    except _CLICK_ERRORS as exc:
        exc.show()
        return ERROR_EXIT
    except _ABORTS:
        typer.echo("interrupted", err=True)
        return INTERRUPTED_EXIT
    except Interrupted as exc:
        typer.echo(str(exc), err=True)
        return INTERRUPTED_EXIT
    except BenchstoneError as exc:
        typer.echo(f"error: {exc}", err=True)
        if exc.fix:
            typer.echo(f"  fix: {exc.fix}", err=True)
        return ERROR_EXIT
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in benchstone: one line, the traceback only on request
        if os.environ.get("BENCHSTONE_DEBUG"):
            raise
        typer.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("  (set BENCHSTONE_DEBUG=1 for the traceback, and please report it)", err=True)
        return ERROR_EXIT
    return result if isinstance(result, int) else 0
