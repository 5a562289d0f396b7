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


def _stop(_signum: int, _frame: FrameType | None) -> None:
    # Later SIGTERMs are ignored so that the clean-up this one starts is not cut short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
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
    previous = signal.getsignal(signal.SIGTERM)
    stop_on_sigterm()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
