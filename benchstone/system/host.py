"""Who and where: this host's name, the user, and the time, as every stored row records them."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket


def now() -> str:
    """The current UTC time as an ISO 8601 string with microseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


TIME_FORMATS = ("2025-03-01, 2025-03-01T14:30, 2025-03-01 14:30:00, with an optional offset "
                "(+02:00) or Z; without one, UTC, as bench history shows times")


def stored_time(text: str) -> str:
    """An ISO 8601 date or date and time (see TIME_FORMATS) in the form :func:`now` writes, so
    that stored times compare with it as strings. Raises ValueError for anything else."""
    moment = dt.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def host_name() -> str:
    return socket.gethostname()


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


CALLER_VARIABLE = "BENCHSTONE_CALLER"


def caller_name() -> str:
    """Who asked for what this process records: the harness service names the caller from its
    socket's peer credentials in ``$BENCHSTONE_CALLER`` for the child that runs the request;
    otherwise the local user (who owns the local store, so may write what they like anyway)."""
    return os.environ.get(CALLER_VARIABLE) or user_name()


ADMIN_VARIABLE = "BENCHSTONE_CALLER_IS_ADMIN"


def served_caller() -> str | None:
    """The caller the harness service named for this process, when it runs one's request for
    a caller who is not one of its administrators; None in local mode or for an administrator."""
    if os.environ.get(ADMIN_VARIABLE) == "1":
        return None
    return os.environ.get(CALLER_VARIABLE) or None
