"""The command reference (``docs/cli.md``), generated from every command's own ``--help``.

Run ``python -m benchstone.cli.reference > docs/cli.md`` (or ``make docs``) after changing a
command's options or help text; a test compares the committed page with a fresh one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer

from benchstone.cli import app

# A fixed width, so that the page does not depend on the terminal it was generated in.
HELP_WIDTH = 100

PREAMBLE = """\
# Command reference

Every `bench` command and sub-command with its `--help`, in the order `bench --help` lists them.
This page is generated from the commands themselves (`make docs`); do not edit it by hand.

Exit codes are described in the [README](../README.md#exit-codes). Reading commands take
`--json`; `python -m benchstone` is the same as `bench`.
"""


def _contexts(command: Any, ctx: Any) -> Iterator[Any]:
    """The context of ``command`` and of every command below it, depth first."""
    yield ctx
    # duck-typed: typer's groups derive from its bundled click, not from click.Group
    if not hasattr(command, "list_commands"):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None:
            continue  # hidden ones are aliases kept for the original's scripts: listed here too
        sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        yield from _contexts(sub, sub_ctx)


@dataclass(frozen=True)
class CommandHelp:
    name: str  # as typed: "bench baseline establish"
    summary: str  # the first sentence of its help
    text: str  # the whole --help


def command_help() -> list[CommandHelp]:
    """Every command's ``--help``, ``bench`` itself first, then in the order ``--help`` lists."""
    root = typer.main.get_command(app)
    ctx = root.make_context("bench", [], resilient_parsing=True, terminal_width=HELP_WIDTH,
                            max_content_width=HELP_WIDTH, color=False)
    return [CommandHelp(name=sub_ctx.command_path,
                        summary=sub_ctx.command.get_short_help_str(limit=300),
                        text=sub_ctx.get_help())
            for sub_ctx in _contexts(root, ctx)]


def reference() -> str:
    """The Markdown page: a preamble, a list of commands, then one section per command."""
    entries = command_help()
    lines = [PREAMBLE, "## Commands", ""]
    lines += [f"- [`{entry.name}`](#{_anchor(entry.name)}): {entry.summary}" for entry in entries]
    for entry in entries:
        lines += ["", f"## {entry.name}", "", "```text", entry.text.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading made of lower-case words, digits and hyphens."""
    return heading.lower().replace(" ", "-")


def main() -> None:
    sys.stdout.write(reference())


if __name__ == "__main__":
    main()
