"""Is a service configured? Read at every start of ``bench``, so it imports nothing heavy."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SOCKET = Path("/run/benchstone/bench.sock")
CLIENT_CONFIG = Path("/etc/benchstone/client.toml")
LOCAL = "local"


def configured_socket() -> Path | None:
    """The service's socket when one is configured: ``$BENCHSTONE_SERVICE`` (``local`` or
    empty turns the service off), else the ``socket`` of the client configuration file
    (``$BENCHSTONE_CLIENT_CONFIG``, default /etc/benchstone/client.toml)."""
    explicit = os.environ.get("BENCHSTONE_SERVICE")
    if explicit is not None:
        return None if explicit.strip() in ("", LOCAL) else Path(explicit)
    config = Path(os.environ.get("BENCHSTONE_CLIENT_CONFIG") or CLIENT_CONFIG)
    if not config.is_file():
        return None
    import tomllib

    from benchstone.errors import BenchstoneError

    try:
        value = tomllib.loads(config.read_text()).get("socket")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BenchstoneError(f"cannot read the client configuration {config}: {exc}",
                              fix=f"fix or remove {config}, or set BENCHSTONE_SERVICE") from None
    return Path(value) if isinstance(value, str) and value else None
