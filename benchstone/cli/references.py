"""Correctness references: bench reference freeze|replace|list.

The original's top-level names (freeze-reference, replace-reference, and references) stay as
aliases: the same commands, hidden from ``bench --help``'s list but documented in docs/cli.md.
"""

from typing import Annotated

import typer

from benchstone.cli._app import (
    BenchmarkArg,
    JsonOpt,
    NotesOpt,
    ProjectArg,
    app,
    dump,
    echo_lines,
    reference_app,
    usage_error,
)

AtShaOpt = Annotated[str | None, typer.Option(
    "--at-sha", metavar="REV", help="Use the newest ok artifact at this commit (default: HEAD).")]
FromRunOpt = Annotated[int | None, typer.Option(
    "--from-run", metavar="RUN_ID", min=1, help="Use the artifact of this run (an id from bench "
    "history --json); refused when the run has no artifact or is another benchmark's.")]


def _one_source(at_sha: str | None, from_run: int | None) -> None:
    if at_sha is not None and from_run is not None:
        raise usage_error("--at-sha and --from-run both name the artifact: pass one of them")


def freeze(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    at_sha: AtShaOpt = None,
    from_run: FromRunOpt = None,
    notes: NotesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Freeze the newest ok artifact at HEAD (or a named run's) as a correctness benchmark's
    reference."""
    from benchstone import api
    from benchstone.report import render

    _one_source(at_sha, from_run)
    event = api.freeze_reference(project, benchmark, at_sha=at_sha, run_id=from_run, notes=notes)
    dump(event) if as_json else typer.echo(
        f"reference frozen: {project}/{benchmark} = {event.new_sha256[:12]} "
        f"(artifact of run {event.run_id} at {render.short(event.git_sha)})")


def replace(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    reason: Annotated[str, typer.Option("--reason", help="Why; required and logged.")],
    at_sha: AtShaOpt = None,
    from_run: FromRunOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a frozen reference with the newest ok artifact (or a named run's); the old one
    stays on disk."""
    from benchstone import api

    _one_source(at_sha, from_run)
    event = api.replace_reference(project, benchmark, reason=reason, at_sha=at_sha,
                                  run_id=from_run)
    dump(event) if as_json else typer.echo(
        f"reference replaced: {project}/{benchmark} {event.old_sha256[:12]} -> "
        f"{event.new_sha256[:12]}  reason: {event.reason}")


def list_events(project: ProjectArg, benchmark: BenchmarkArg, as_json: JsonOpt = False) -> None:
    """Show every freeze and replace of a benchmark's reference."""
    from benchstone import api
    from benchstone.report import render

    events = api.reference_history(project, benchmark)
    dump(events) if as_json else echo_lines(render.reference_lines(events))


_COMMANDS = (
    # (name under bench reference, the original's top-level name, function, example arguments)
    ("freeze", "freeze-reference", freeze, "myproject output"),
    ("replace", "replace-reference", replace, 'myproject output --reason "new format"'),
    ("list", "references", list_events, "myproject output"),
)
for _name, _alias, _function, _example in _COMMANDS:
    reference_app.command(_name, epilog=f"Example: bench reference {_name} {_example}")(_function)
    app.command(_alias, hidden=True,
                help=f"Alias of bench reference {_name}, under the original's name. "
                + (_function.__doc__ or "").split("\n\n")[0],
                epilog=f"Example: bench {_alias} {_example}")(_function)
