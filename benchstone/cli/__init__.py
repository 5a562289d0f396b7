"""The ``bench`` command line: a thin layer over :mod:`benchstone.api`.

Each command parses its options, calls one API function and renders the result. Errors from
benchstone print as ``error: ...`` (and the fix, when there is one) without a traceback.

Exit codes: ``evaluate`` uses VERDICT_EXIT_CODES (0 PROMOTE/PASS, 1 REJECT/FAIL/TAMPERED,
2 NEEDS_MORE_DATA/NO_BASELINE/NO_REFERENCE, 3 unknown, 4 --expect mismatch). Every command
exits 5 on an error (configuration, git, sandbox or store), 64 on a usage error and 130 when
interrupted.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import typer

# Importing a command module registers its commands; this order is the order in --help.
# isort: off
from benchstone.cli import loop, gates, jobs, references, corpora, scaffold, machine, service  # noqa: F401
# isort: on
from benchstone.cli._app import app, app_for, click_exceptions
from benchstone.errors import BenchstoneError, Interrupted
from benchstone.kinds import VERDICT_EXIT_CODES
from benchstone.service.config import configured_socket
from benchstone.system.signals import stop_received, stopping_on_sigterm

__all__ = ["ERROR_EXIT", "INTERRUPTED_EXIT", "USAGE_EXIT", "VERDICT_EXIT_CODES", "app", "main"]

ERROR_EXIT = 5
USAGE_EXIT = 64
INTERRUPTED_EXIT = 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bench`` console script; a client of the harness service when one is
    configured (docs/service.md)."""
    with _reader_may_leave():
        forwarded = _through_service(argv)
        if forwarded is not None:
            return forwarded
        try:
            with stopping_on_sigterm():
                return _dispatch(argv)
        except KeyboardInterrupt:  # one that came while the handlers were being put back
            typer.echo("interrupted", err=True)
            return INTERRUPTED_EXIT


class _OutputWhoseReaderMayLeave:
    """An output stream that stops writing, without an error, once its reader has gone
    (``bench evaluate P B | head -1``): the command still ends with its own exit code, the
    verdict's, where the error would have ended it with 1, which reads as REJECT."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._reader_gone()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_gone()

    def _reader_gone(self) -> None:
        self._gone = True
        # what is still buffered then goes nowhere, and the interpreter's last flush succeeds
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _reader_may_leave() -> Iterator[None]:
    """Both output streams, so that ``2>&1`` into a pipe, or one closed before the start
    (``>&-``: no stream at all), ends with the command's own exit code too."""
    streams = sys.stdout, sys.stderr
    with contextlib.ExitStack() as stack:
        sys.stdout, sys.stderr = (  # type: ignore[assignment]
            _OutputWhoseReaderMayLeave(stream if stream is not None
                                       else stack.enter_context(open(os.devnull, "w")))
            for stream in streams)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = streams


def _through_service(argv: list[str] | None) -> int | None:
    try:
        socket_path = configured_socket()
    except BenchstoneError as exc:
        typer.echo(f"error: {exc}", err=True)
        typer.echo(f"  fix: {exc.fix}", err=True)
        return ERROR_EXIT
    if socket_path is None:
        return None
    from benchstone.service import client

    return client.forward_cli(list(sys.argv[1:] if argv is None else argv), socket_path)


def _dispatch(argv: list[str] | None) -> int:
    try:
        command = typer.main.get_command(app_for(sys.argv[1:] if argv is None else argv))
        result = command.main(args=argv, prog_name="bench", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click_exceptions.UsageError as exc:
        exc.show()
        return USAGE_EXIT
    except click_exceptions.ClickException as exc:
        exc.show()
        return ERROR_EXIT
    except (typer.Abort, KeyboardInterrupt):
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
        if stop_received():  # an interrupt a library reported as an error of its own
            typer.echo("interrupted", err=True)
            return INTERRUPTED_EXIT
        typer.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("  (set BENCHSTONE_DEBUG=1 for the traceback, and please report it)", err=True)
        return ERROR_EXIT
    if result == INTERRUPTED_EXIT:  # typer's own answer to a Ctrl-C inside a command
        typer.echo("interrupted", err=True)
    return result if isinstance(result, int) else 0
