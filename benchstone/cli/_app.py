"""The typer application and what every command module shares: options and output helpers.

``bench --help`` imports every command module, so this module and they import only typer at
the top; the API, pydantic, the store and the renderers load inside the command that uses them.

This module and the command modules do not postpone their annotations (no ``from __future__
import annotations``): typer reads every command's annotations at each start, and evaluating
them from strings took a third of ``bench --help``.
"""

import copy
import functools
import inspect
import types
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

try:  # recent typer releases carry their own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions

if TYPE_CHECKING:
    from benchstone.run.runner import Progress
    from benchstone.store.records import Run, RunSet


def _usage_name(argument: Any) -> str:
    """A positional in a usage line as click writes it: ``PROJECT`` when required,
    ``[BENCHMARK]`` when optional (typer would write ``{PROJECT}``)."""
    name = argument.metavar or argument.name.upper()
    name = name if argument.required else f"[{name}]"
    return f"{name}..." if argument.nargs != 1 else name


if hasattr(typer.core.TyperArgument, "_usage_display_name"):
    typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]


def _already_typed(annotation: Any, value: Any) -> bool:
    """Whether ``value`` is absent or already of the parameter's type (a default, or a name
    given to a text parameter): nothing to coerce."""
    if value is None:
        return True
    kinds = get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    return any(isinstance(kind, type) and isinstance(value, kind) for kind in kinds)


def _process_value_without_pydantic(typer_process_value: Any) -> Any:
    """typer coerces each parameter's value through a pydantic adapter that it builds on first
    use, even for a default or a name that is already text: importing pydantic for that is most
    of a short command's start. A single value that is absent or already of the parameter's type
    is passed as it is; it is still refused when required and absent, and still passed to a
    callback."""

    def process_value(self: Any, ctx: Any, value: Any) -> Any:
        single = not self.multiple and self.nargs == 1
        if not single or not _already_typed(self.type_descriptor.annotation, value):
            return typer_process_value(self, ctx, value)
        if self.required and value is None:
            raise click_exceptions.MissingParameter(ctx=ctx, param=self)
        return self.callback(ctx, self, value) if self.callback is not None else value

    return process_value


if hasattr(typer.core, "_TyperParameter"):  # typer releases that coerce through pydantic
    typer.core._TyperParameter.process_value = _process_value_without_pydantic(
        typer.core._TyperParameter.process_value)

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
image_app = typer.Typer(help="The runner image the docker sandbox runs benchmarks in.",
                        epilog="Example: bench image build --offline",
                        no_args_is_help=True, rich_markup_mode=None)
reference_app = typer.Typer(
    help="Correctness references: freeze a run's artifact, replace it (logged), list the events. "
    "The original's names freeze-reference, replace-reference and references still work.",
    epilog="Example: bench reference freeze myproject output", no_args_is_help=True,
    rich_markup_mode=None)
app.add_typer(baseline_app, name="baseline")
app.add_typer(corpus_app, name="corpus")
app.add_typer(image_app, name="image")
app.add_typer(reference_app, name="reference")


def _print_version(value: bool) -> None:
    if value:
        from benchstone import __version__

        typer.echo(f"bench {__version__}")
        raise typer.Exit(0)


def collect_leftovers() -> None:
    """On the way into every command: the containers of this state directory's harnesses that
    were killed (a directory listing when there are none; never a live harness's)."""
    import contextlib

    from benchstone.errors import BenchstoneError
    from benchstone.paths import Home
    from benchstone.system.harnesses import gone_harnesses

    home = Home()
    if not gone_harnesses(home):
        return
    from benchstone.sandbox import collect_gone_harnesses

    # on failure the next command tries again: this one may need no engine to go on
    with contextlib.suppress(BenchstoneError, OSError):
        collect_gone_harnesses(home, lambda message: typer.echo(message, err=True))


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print the version and exit.")] = False) -> None:
    collect_leftovers()


ProjectArg = Annotated[str, typer.Argument(metavar="PROJECT", help="Registered project name.",
                                           show_default=False)]
BenchmarkArg = Annotated[str, typer.Argument(metavar="BENCHMARK",
                                             help="Benchmark name from the manifest.",
                                             show_default=False)]
NotesOpt = Annotated[str | None, typer.Option(
    "--notes", metavar="TEXT", help="A free-form note stored with the baseline move or reference "
    "and shown by bench history.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
SandboxOpt = Annotated[str | None, typer.Option(
    "--sandbox", metavar="NAME",
    help="Sandbox backend: docker (default) or process (NO isolation). Also $BENCHSTONE_SANDBOX "
    "or the manifest's sandbox key.")]


def echo_lines(lines: list[str] | str) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(line)


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def dump(value: Any) -> None:
    import json

    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        typer.echo(value.model_dump_json(indent=2))
    elif isinstance(value, list):
        typer.echo(json.dumps([item.model_dump(mode="json") if isinstance(item, BaseModel)
                               else item for item in value], indent=2))
    else:
        typer.echo(json.dumps(value, indent=2))


PROGRESS_VARIABLE = "BENCHSTONE_PROGRESS_SECONDS"
RUNNING_EVERY_TERMINAL = 10.0
RUNNING_EVERY_LOG = 60.0


def running_every() -> float:
    """How often a running repetition says so on stderr: ``$BENCHSTONE_PROGRESS_SECONDS`` (0:
    never), else every 10 s on a terminal and every 60 s into a log or a pipe."""
    import os
    import sys

    value = os.environ.get(PROGRESS_VARIABLE, "").strip()
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            warn(f"${PROGRESS_VARIABLE} is not a number of seconds: {value!r}; ignored")
    return RUNNING_EVERY_TERMINAL if sys.stderr.isatty() else RUNNING_EVERY_LOG


def progress_printer(quiet: bool, source: str = "runner") -> "Progress":
    """Prints the run set header and one line per repetition, with a count and an estimate
    (stdout, left out with ``quiet``; the gated value under a ``harness_*`` metric ``source``);
    an error row's log files; and, on stderr, a line while a long repetition runs."""
    from benchstone.report import render
    from benchstone.run.runner import Progress

    def on_start(run_set: "RunSet") -> None:
        if not quiet:
            typer.echo(render.run_set_header(run_set))

    def on_repetition(run: "Run", done: int, total: int, elapsed: float) -> None:
        if quiet:
            return
        remaining = (elapsed / done) * (total - done)
        eta = f", about {remaining:.0f}s left" if done < total else ""
        typer.echo(f"{render.run_line(run, source)}  [{done}/{total}{eta}]")
        if logs := render.log_line(run):
            typer.echo(logs)

    def on_running(index: int, total: int, seed: int, elapsed: float) -> None:
        typer.echo(render.running_line(index, total, seed, elapsed), err=True)

    def on_notice(message: str) -> None:
        typer.echo(message, err=True)

    return Progress(on_warning=warn, on_notice=on_notice, on_start=on_start,
                    on_repetition=on_repetition, on_running=on_running,
                    running_every=running_every())


def usage_error(message: str) -> Exception:
    """A usage error (exit 64) for a combination of options the parser cannot express."""
    return click_exceptions.UsageError(message)


def app_for(argv: list[str]) -> typer.Typer:
    """The app that runs ``bench argv``, built into click commands at every start: the whole app
    costs a signature inspection of each of its commands, most of a short command's start. A
    command names itself (``bench list ...``: an app of that command alone); top-level help, the
    version and an unknown command need only the names and the short help of every command."""
    for word in argv:
        if word in ("-h", "--help") or not word.startswith("-"):
            return _app_of(None if word.startswith("-") else word)
    return _app_of(None)


@functools.cache
def _app_of(name: str | None) -> typer.Typer:
    commands = {_command_name(info): info for info in app.registered_commands}
    groups = {info.name: info for info in app.registered_groups}
    narrowed = copy.copy(app)
    if name in commands or name in groups:
        narrowed.registered_commands = [commands[name]] if name in commands else []
        narrowed.registered_groups = [groups[name]] if name in groups else []
        return narrowed
    # Listed, never run: each command's help without the parameters behind it. A group lists
    # after the commands (typer's order) and by its own help.
    narrowed.registered_commands = [_listed_only(_command_name(info), info.help, info)
                                    for info in app.registered_commands]
    narrowed.registered_commands += [
        _listed_only(info.name, typer.main.solve_typer_info_defaults(info).help, None)
        for info in app.registered_groups]
    narrowed.registered_groups = []
    return narrowed


def _command_name(info: typer.models.CommandInfo) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)


def _listed_only(name: str, help_text: str | None,
                 info: typer.models.CommandInfo | None) -> typer.models.CommandInfo:
    listed = copy.copy(info) if info is not None else typer.models.CommandInfo()
    if info is not None and help_text is None:
        help_text = inspect.getdoc(info.callback)
    listed.name, listed.help, listed.callback = name, help_text, _never_run
    return listed


def _never_run() -> None:  # pragma: no cover - a listed-only command is never dispatched to
    raise AssertionError("a command built for the help listing ran")
