"""``python -m benchstone.cli.worker SPEC``: the detached process that runs one background job.

Started by ``bench run --background`` (or ``baseline establish --background``) in a session of
its own, its output going to the job's log. SIGTERM (``bench cancel``) stops it cleanly: the
first one is turned into the same interruption as Ctrl-C, which removes the running container,
keeps the finished repetitions and records the job as cancelled; later ones are ignored so
that this cleanup cannot itself be cut short.
"""

from __future__ import annotations

import sys
import traceback

from benchstone import api
from benchstone.cli._app import running_every
from benchstone.errors import BenchstoneError, Interrupted
from benchstone.report import render
from benchstone.run.runner import Progress
from benchstone.store.records import Run, RunSet
from benchstone.system.signals import stop_on_sigterm

ERROR_EXIT = 5
INTERRUPTED_EXIT = 130


def _say(message: str) -> None:
    print(message, flush=True)


def _log_progress() -> Progress:
    def on_repetition(run: Run, done: int, total: int, _elapsed: float) -> None:
        _say(f"{render.run_line(run)}  [{done}/{total}]")
        if logs := render.log_line(run):
            _say(logs)

    def on_start(run_set: RunSet) -> None:
        _say(render.run_set_header(run_set))

    def on_running(index: int, total: int, seed: int, elapsed: float) -> None:
        _say(render.running_line(index, total, seed, elapsed))

    return Progress(on_warning=lambda message: _say(f"warning: {message}"), on_notice=_say,
                    on_start=on_start, on_repetition=on_repetition, on_running=on_running,
                    running_every=running_every())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchstone.cli.worker SPEC_FILE", file=sys.stderr)
        return 64
    stop_on_sigterm(even_if_ignored=True)
    try:
        status = api.run_job(args[0], progress=_log_progress())
    except (KeyboardInterrupt, Interrupted) as exc:
        _say(f"cancelled: {exc}" if str(exc) else "cancelled")
        return INTERRUPTED_EXIT
    except BenchstoneError as exc:
        _say(f"error: {exc}" + (f"\n  fix: {exc.fix}" if exc.fix else ""))
        return ERROR_EXIT
    except Exception:
        traceback.print_exc()
        return ERROR_EXIT
    _say(f"job {status.id} {status.state}: {status.message or ''}".rstrip())
    return 0 if status.state == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
