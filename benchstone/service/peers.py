"""Who is on the other end of a Unix socket, as the kernel says (``SO_PEERCRED``)."""

from __future__ import annotations

import dataclasses
import pwd
import socket
import struct

_UCRED = struct.Struct("3i")


@dataclasses.dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int

    @property
    def name(self) -> str:
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return f"uid{self.uid}"


def peer_of(sock: socket.socket) -> Peer:
    pid, uid, gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return Peer(pid=pid, uid=uid, gid=gid)
