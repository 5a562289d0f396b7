"""Stops while the harness waits: ``wait_for_exit`` and ``stopping_on_sigterm``
(``benchstone.system.signals``). Each case runs in a Python process of its own, since signal
handlers belong to the whole process; the signals are real."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest


def _python(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=120, check=False)


def test_wait_for_exit_reaps_the_child_with_its_status_and_resource_use() -> None:
    done = _python("""
        import os, subprocess
        from benchstone.system.signals import wait_for_exit
        child = subprocess.Popen(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3"])
        status, usage = wait_for_exit(child.pid)
        print(os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime > 0)
    """)
    assert done.stdout.split() == ["3", "True"], done.stderr


def test_a_stop_handed_to_another_thread_ends_the_wait() -> None:
    """The kernel may deliver a process's SIGTERM to any thread that does not block it, such as
    one reading a repetition's output. Python runs the handler in the main thread only, so a
    main thread blocked in wait4 heard of it when the child ended (here after 30 s); waiting in
    short steps, it hears of it within one."""
    done = _python("""
        import os, signal, subprocess, threading, time
        from benchstone.system.signals import stop_received, stopping_on_sigterm, wait_for_exit
        child = subprocess.Popen(["sleep", "30"], start_new_session=True)
        reading, writing = os.pipe()
        reader = threading.Thread(target=os.read, args=(reading, 1), daemon=True)
        reader.start()
        with stopping_on_sigterm():
            threading.Timer(0.3, signal.pthread_kill, (reader.ident, signal.SIGTERM)).start()
            started = time.monotonic()
            try:
                wait_for_exit(child.pid)
                print("waited", round(time.monotonic() - started, 1))
            except KeyboardInterrupt:
                print("stopped", time.monotonic() - started < 10, stop_received())
            finally:
                os.killpg(child.pid, signal.SIGKILL)
    """)
    assert done.stdout.split() == ["stopped", "True", "True"], done.stdout + done.stderr


def test_handlers_are_put_back_and_a_nested_use_keeps_the_outer_stop() -> None:
    done = _python("""
        import signal
        from benchstone.system.signals import stop_received, stopping_on_sigterm
        before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
        with stopping_on_sigterm():
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                pass
            with stopping_on_sigterm():  # as the API does inside a command
                pass
            print("noted", stop_received())
        after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
        print("restored", after == before)
        with stopping_on_sigterm():
            print("fresh", stop_received())
    """)
    assert done.stdout.split() == ["noted", "True", "restored", "True", "fresh", "False"], (
        done.stdout + done.stderr)


def test_a_stop_python_could_not_raise_is_raised_at_the_next_step(
        capfd: pytest.CaptureFixture[str]) -> None:
    """A stop whose KeyboardInterrupt lands in a weakref callback (the import system's module
    locks) or a ``__del__`` is "ignored" by Python, with a traceback on stderr, and lost. Under
    a command it is raised again where the command can handle it, and nothing is printed."""
    import gc
    import time

    from benchstone.system import signals

    class Interrupted:
        def __del__(self) -> None:  # where Python can only print what is raised
            signals._stop(signal.SIGTERM, None)

    caught = False
    before = sys.unraisablehook
    try:
        with signals.stopping_on_sigterm():
            Interrupted()
            gc.collect()
            for _ in range(200):  # the main flow's next checks
                time.sleep(0.005)
    except KeyboardInterrupt:
        caught = True
    assert caught and signals.stop_received()
    assert "Traceback" not in capfd.readouterr().err
    assert sys.unraisablehook is before
