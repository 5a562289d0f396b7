"""Frames over a Unix stream socket: a 4-byte big-endian length, then that many bytes.

The first frame of a request is a JSON object; it may announce attachments, raw frames that
follow it. Every read is bounded in size, so a peer cannot make the other side allocate more
than the bound.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from benchstone.errors import FrameTooLarge, ServiceError

VERSION = 1
HEADER = struct.Struct(">I")
MAX_JSON_BYTES = 1 << 20
DEFAULT_MAX_REQUEST_BYTES = 256 << 20


# Options that name a file the verb would write: through the service it would be written by the
# service user, so they are refused (and --allow-dirty: only commits cross the socket).
REFUSED_OPTIONS = {
    "--allow-dirty": "commit (or git stash) your changes and run again: the service runs "
                     "committed code only",
    "--plot": "draw the plot from `bench history --json` on your side",
    "--keep": "run bench demo without the service (BENCHSTONE_SERVICE=local) to keep its files",
}
_NO_VERB = {"--help", "-h", "--version", "--install-completion", "--show-completion"}


def verb_of(argv: list[str]) -> tuple[int, str] | None:
    """The position and name of ``bench``'s verb in ``argv``; None for help or version."""
    for index, word in enumerate(argv):
        if word in _NO_VERB:
            return None
        if not word.startswith("-"):
            return index, word
    return None


def positionals(argv: list[str], after: int) -> list[int]:
    """The positions of the words after ``after`` that are not options."""
    return [index for index in range(after + 1, len(argv)) if not argv[index].startswith("-")]


# What moves a baseline or a reference without the gate, or undoes another's work: through the
# service only an administrator (root, the service user, a member of the administrators' group)
# may ask for it. gc too: collecting corpus snapshots makes the next run set the one that sees a
# young snapshot, which code could tell from older ones. (verb, option or None for the verb)
ADMIN_ONLY = (("promote", "--force"), ("replace-reference", None), ("reference", "replace"),
              ("unregister", None), ("gc", None))


def needs_admin(argv: list[str]) -> str | None:
    """What in ``argv`` only an administrator may ask the service for, or None."""
    found = verb_of(argv)
    if found is None:
        return None
    words = {word.split("=", 1)[0] for word in argv[found[0] + 1:]}
    for verb, option in ADMIN_ONLY:
        if found[1] == verb and (option is None or option in words):
            return f"bench {verb}{' ' + option if option else ''}"
    return None


def refused_option(argv: list[str]) -> tuple[str, str] | None:
    """The first option of REFUSED_OPTIONS in ``argv`` and its fix, if any."""
    for word in argv:
        name = word.split("=", 1)[0]
        if name in REFUSED_OPTIONS:
            return name, REFUSED_OPTIONS[name]
    return None


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(HEADER.pack(len(payload)) + payload)


def send_json(sock: socket.socket, message: dict[str, Any]) -> None:
    send_frame(sock, json.dumps(message, separators=(",", ":")).encode())


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = sock.recv(min(count - len(chunks), 1 << 20))
        if not chunk:
            raise ServiceError("the connection closed in the middle of a message")
        chunks += chunk
    return bytes(chunks)


def read_frame(sock: socket.socket, limit: int) -> bytes | None:
    """One frame, or None when the peer closed cleanly before it. Raises FrameTooLarge when the
    announced length is over ``limit`` (without reading it)."""
    first = sock.recv(HEADER.size)
    if not first:
        return None
    header = first + (_read_exactly(sock, HEADER.size - len(first))
                      if len(first) < HEADER.size else b"")
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise FrameTooLarge(f"a message of {length} bytes is over the bound of {limit} bytes")
    return _read_exactly(sock, length)


def read_json(sock: socket.socket, limit: int = MAX_JSON_BYTES) -> dict[str, Any] | None:
    frame = read_frame(sock, limit)
    if frame is None:
        return None
    try:
        message = json.loads(frame)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ServiceError("a message is not JSON") from None
    if not isinstance(message, dict):
        raise ServiceError("a message is not a JSON object")
    return message
