"""Correctness references: freeze-reference, replace-reference, references."""

from __future__ import annotations

from typing import Annotated

import typer

from benchstone.cli._app import (
    BenchmarkArg,
    JsonOpt,
    ProjectArg,
    app,
    dump,
    echo_lines,
)


@app.command("freeze-reference", epilog="Example: bench freeze-reference myproject output")
def freeze_reference(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    at_sha: Annotated[str | None, typer.Option("--at-sha", metavar="REV",
                                               help="Commit whose artifact to freeze.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Freeze the newest ok artifact at HEAD as a correctness benchmark's reference."""
    from benchstone import api
    from benchstone.report import render

    event = api.freeze_reference(project, benchmark, at_sha=at_sha)
    dump(event) if as_json else typer.echo(
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
    from benchstone import api

    event = api.replace_reference(project, benchmark, reason=reason, at_sha=at_sha)
    dump(event) if as_json else typer.echo(
        f"reference replaced: {project}/{benchmark} {event.old_sha256[:12]} -> "
        f"{event.new_sha256[:12]}  reason: {event.reason}")


@app.command("references", epilog="Example: bench references myproject output")
def references_command(project: ProjectArg, benchmark: BenchmarkArg,
                       as_json: JsonOpt = False) -> None:
    """Show every freeze and replace of a benchmark's reference."""
    from benchstone import api
    from benchstone.report import render

    events = api.reference_history(project, benchmark)
    dump(events) if as_json else echo_lines(render.reference_lines(events))
