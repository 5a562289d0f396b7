"""SIGTERM stops a run as Ctrl-C does: finished repetitions are kept, the container removed.

``bench cancel``, ``timeout``, CI runners and process supervisors stop a process with SIGTERM,
and a shell that starts ``bench`` in the background has it ignore SIGINT, so SIGTERM is the one
stop signal that always reaches the harness."""

from __future__ import annotations

import _thread
import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOPS = (signal.SIGINT, signal.SIGTERM)
# The longest a stop waits while this thread waits for something. Python runs signal handlers
# in the main thread only; when the kernel hands a stop to another thread (one reading a
# repetition's output), the main thread's blocking wait is not interrupted, and the stop would
# wait for the repetition to end.
STOP_CHECK_SECONDS = 0.2


_received: list[int] = []  # the stops this process was sent, while a command ran


def _stop(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    if signum == signal.SIGTERM:
        # Later SIGTERMs are ignored so that the clean-up this one starts is not cut short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _stop_again_where_it_can_be_raised(unraisable: Any) -> None:
    """``sys.unraisablehook`` while a command runs: a stop whose KeyboardInterrupt landed where
    Python cannot raise it (a weakref callback of the import system, a ``__del__``) was printed
    as "Exception ignored" with a traceback, and lost. It is asked for again instead, to be
    raised at the main flow's next check."""
    if (isinstance(unraisable.exc_value, KeyboardInterrupt) and _received
            and signal.getsignal(signal.SIGINT) in (_stop, signal.default_int_handler)):
        # from another thread, a moment later: raised here, in the hook, it would be lost too
        again = threading.Timer(0.01, _interrupt_if_still_running)
        again.daemon = True
        again.start()
        return
    _outer_hook[-1](unraisable)


def _interrupt_if_still_running() -> None:
    if len(_outer_hook) > 1:  # a command is still under stopping_on_sigterm: not after it
        _thread.interrupt_main(signal.SIGINT)


_outer_hook: list[Any] = [sys.__unraisablehook__]  # the hook in place before a command's


def stop_received() -> bool:
    """Whether a command was sent Ctrl-C or SIGTERM (under :func:`stopping_on_sigterm`). An
    interrupt that lands inside a library may come out as another error: pydantic's compiled
    core, building a model's validator, reports it as a SchemaError."""
    return bool(_received)


class HeldStops:
    """Ctrl-C and SIGTERM held back during a block, and delivered by :meth:`release`.

    Starting a process is such a block. Python drops an exception raised in the functions it
    runs around a fork (a subprocess with a ``preexec_fn`` runs them in this process), so a stop
    that came there was printed as "ignored" and lost; one that came after the fork but before
    the caller held the process would leave it running. Held, it is delivered where the caller
    can kill what it started: use the block inside the ``try`` whose ``finally`` does, since a
    stop may also arrive as the handlers are put back. Only the main thread, where handlers run,
    holds anything."""

    def __init__(self) -> None:
        self.held: list[int] = []
        self._previous: dict[int, object] = {}

    def _hold(self, signum: int, _frame: FrameType | None) -> None:
        self.held.append(signum)

    def __enter__(self) -> HeldStops:
        if threading.current_thread() is threading.main_thread():
            try:
                for signum in STOPS:
                    previous = signal.getsignal(signum)
                    if previous not in (signal.SIG_IGN, None):
                        self._previous[signum] = previous
                        signal.signal(signum, self._hold)
            except BaseException:  # a stop before both were held: none is left held
                self.__exit__(None)
                raise
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()
        if exc_type is not None:  # the block failed: a stop it held is not left undelivered
            self.release()

    def release(self) -> None:
        """Deliver what was held to the handlers in place again (a stop then raises here)."""
        held, self.held = self.held, []
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)


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
    started through the Python API is cancelled cleanly without changing its host process.
    Ctrl-C keeps raising KeyboardInterrupt, and is noted (:func:`stop_received`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    previous_interrupt = signal.getsignal(signal.SIGINT)
    outermost = _stop not in (previous, previous_interrupt)
    if outermost:
        _received.clear()  # a stop belongs to the command it came in
    previous_hook = sys.unraisablehook
    try:
        stop_on_sigterm()
        if previous_interrupt is signal.default_int_handler:
            signal.signal(signal.SIGINT, _stop)
        if previous_hook is not _stop_again_where_it_can_be_raised:
            _outer_hook.append(previous_hook)
            sys.unraisablehook = _stop_again_where_it_can_be_raised
        yield
    finally:
        # Ctrl-C's handler first: one arriving between the two then finds SIGTERM's still ours
        if previous_interrupt is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous_interrupt)
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        if previous_hook is not _stop_again_where_it_can_be_raised:
            sys.unraisablehook = _outer_hook.pop()


def wait_for_exit(pid: int) -> tuple[int, Any]:
    """Reap the child ``pid``: its wait status and resource use (``os.wait4``), waiting in
    steps of :data:`STOP_CHECK_SECONDS` so that a stop is handled meanwhile. The exit is seen
    at once: the wait is on the process's own descriptor, not a poll. Where there is no such
    descriptor (Linux before 5.3), the wait is one blocking ``wait4``, which a stop handed to
    another thread does not interrupt."""
    try:
        descriptor = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return os.wait4(pid, 0)[1:]
    try:
        exited = select.poll()  # not select.select: a descriptor may be above 1023
        exited.register(descriptor, select.POLLIN)
        while not exited.poll(STOP_CHECK_SECONDS * 1000):
            pass
    finally:
        os.close(descriptor)
    return os.wait4(pid, 0)[1:]
