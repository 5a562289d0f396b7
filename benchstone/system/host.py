"""Who and where: this host's name, the user, and the time, as every stored row records them."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket


def now() -> str:
    """The current UTC time as an ISO 8601 string with microseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def host_name() -> str:
    return socket.gethostname()


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
