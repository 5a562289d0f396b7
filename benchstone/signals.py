"""SIGTERM stops a run as Ctrl-C does: finished repetitions are kept, the container removed.

``bench cancel``, ``timeout``, CI runners and process supervisors stop a process with SIGTERM,
and a shell that starts ``bench`` in the background has it ignore SIGINT, so SIGTERM is the one
stop signal that always reaches the harness."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_on_sigterm() -> None:
    """Turn the first SIGTERM into ``KeyboardInterrupt``; later ones are ignored so that the
    clean-up it starts is not cut short. Only the main thread may install a handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        return  # whoever started us asked for it to be ignored

    def stop(_signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
