"""Host side of the model-server forwarding for ``gpu = "ollama"`` benchmarks.

The container has no network interface but ``lo``. The harness listens on a Unix socket that
is mounted into the container, and relays each connection to the one configured address on
the host (default 127.0.0.1:11434). Nothing else on the host or the network is reachable.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

SOCKET_NAME = "model.sock"


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"model server address must look like HOST:PORT (got {address!r})")
    return host.strip("[]"), int(port)


class ModelServerForward:
    """Relays connections on ``directory/model.sock`` to ``address`` until closed."""

    def __init__(self, directory: Path, address: str, uid: int | None = None) -> None:
        self.target = parse_address(address)
        self.path = directory / SOCKET_NAME
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        os.chmod(self.path, 0o666)
        if uid is not None:
            os.chown(directory, uid, uid)
        self._listener.listen(64)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="model-forward", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.target[1]

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                inbound, _ = self._listener.accept()
            except OSError:
                return
            try:
                outbound = socket.create_connection(self.target, timeout=10)
                outbound.settimeout(None)
            except OSError:
                inbound.close()
                continue
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=2)
