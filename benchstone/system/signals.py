"""SIGTERM stops a run as Ctrl-C does: finished repetitions are kept, the container removed.

``bench cancel``, ``timeout``, CI runners and process supervisors stop a process with SIGTERM,
and a shell that starts ``bench`` in the background has it ignore SIGINT, so SIGTERM is the one
stop signal that always reaches the harness."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_stop_requested = False


def _stop(_signum: int, _frame: FrameType | None) -> None:
    global _stop_requested
    _stop_requested = True
    # Later SIGTERMs are ignored so that the clean-up this one starts is not cut short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def raise_stop_if_lost() -> None:
    """Raise the stop again if a SIGTERM arrived where Python drops exceptions: in the functions
    it calls around a fork (a subprocess with a ``preexec_fn`` runs them in this process), the
    ``KeyboardInterrupt`` of :func:`_stop` is printed as "ignored" and lost, and with SIGTERM
    ignored from then on the stop would never come. Call it where that can have happened."""
    global _stop_requested
    # handlers run in the main thread only, so only its forks can have dropped one
    if _stop_requested and threading.current_thread() is threading.main_thread():
        _stop_requested = False
        raise KeyboardInterrupt


def stop_on_sigterm(*, even_if_ignored: bool = False) -> None:
    """Turn the first SIGTERM into ``KeyboardInterrupt`` for the rest of the process. A SIGTERM
    inherited as ignored stays ignored unless ``even_if_ignored`` (a background worker, whose
    only way to be cancelled is SIGTERM). Only the main thread may install a handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN and not even_if_ignored:
        return  # whoever started us asked for it to be ignored
    signal.signal(signal.SIGTERM, _stop)


@contextlib.contextmanager
def stopping_on_sigterm() -> Iterator[None]:
    """:func:`stop_on_sigterm` for the body only, then the caller's own handler again: a run
    started through the Python API is cancelled cleanly without changing its host process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _stop_requested
    previous = signal.getsignal(signal.SIGTERM)
    _stop_requested = False
    stop_on_sigterm()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        _stop_requested = False
