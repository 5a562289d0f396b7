"""The service: accept requests on the Unix socket, run each verb in a child process under the
service user, stream its output back.

The caller is whoever the kernel says is on the other end (``SO_PEERCRED``); nothing in the
request can claim otherwise. Requests are bounded in size, in time to arrive and in number at
once (overall and per caller): over a bound, a one-line refusal, and the service carries on.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import grp
import hashlib
import io
import json
import os
import pwd
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tarfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchstone.errors import BenchstoneError, Refused
from benchstone.paths import private_dir
from benchstone.service import commits, protocol
from benchstone.service.peers import Peer, peer_of
from benchstone.system.host import now

READ_TIMEOUT_SECONDS = 15.0
API_FUNCTIONS = frozenset({
    "register", "list_projects", "unregister", "run", "evaluate", "evaluate_all", "promote",
    "explain", "compare", "establish_baseline", "history", "timeline", "status", "cancel",
    "corpora", "reference_history", "background_required", "metric_source", "calibrate"})


@dataclasses.dataclass(frozen=True)
class Settings:
    socket_path: Path
    state_dir: Path
    max_request_bytes: int = protocol.DEFAULT_MAX_REQUEST_BYTES
    max_concurrent: int = 16
    max_per_caller: int = 4
    admin_group: str = "benchstone-admins"

    @property
    def home(self) -> Path:
        return self.state_dir / "home"

    @property
    def mirrors(self) -> Path:
        return self.state_dir / "mirrors"

    @property
    def uploads(self) -> Path:
        return self.state_dir / "uploads"


class Admission:
    """At most ``total`` requests at once, and at most ``each`` from one caller."""

    def __init__(self, total: int, each: int) -> None:
        self.total, self.each = total, each
        self.active: Counter[int] = Counter()
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def admit(self, peer: Peer) -> Iterator[None]:
        with self.lock:
            if sum(self.active.values()) >= self.total:
                raise Refused(f"the service is busy: {self.total} requests are running",
                              fix="try again in a moment")
            if self.active[peer.uid] >= self.each:
                raise Refused(f"you have {self.each} requests running already, the most one "
                              "caller may have at once", fix="wait for one to finish")
            self.active[peer.uid] += 1
        try:
            yield
        finally:
            with self.lock:
                self.active[peer.uid] -= 1


def log(message: str) -> None:
    print(f"{now()} {message}", file=sys.stderr, flush=True)


class Handler(socketserver.BaseRequestHandler):
    server: Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        peer = peer_of(sock)
        try:
            with self.server.admission.admit(peer):
                sock.settimeout(READ_TIMEOUT_SECONDS)
                request, attachments = self._read(sock)
                sock.settimeout(None)
                log(f"{peer.name} (uid {peer.uid}, pid {peer.pid}): "
                    f"{request.get('kind')} {request.get('argv') or request.get('function')}")
                self._serve(sock, peer, request, attachments)
        except (BenchstoneError, TimeoutError) as exc:
            message = (f"no complete request within {READ_TIMEOUT_SECONDS:.0f}s"
                       if isinstance(exc, TimeoutError) else str(exc))
            log(f"{peer.name} (uid {peer.uid}) refused: {message}")
            fix = getattr(exc, "fix", None)
            with contextlib.suppress(OSError):
                protocol.send_json(sock, {"error": {"type": type(exc).__name__,
                                                    "message": message, "fix": fix}})
        except OSError as exc:
            log(f"{peer.name} (uid {peer.uid}): connection lost: {exc}")
        except Exception as exc:  # a bug here must not take the service down
            log(f"{peer.name} (uid {peer.uid}): internal error: {type(exc).__name__}: {exc}")
            with contextlib.suppress(OSError):
                protocol.send_json(sock, {"error": {
                    "type": "ServiceError", "fix": "see the service's log, and please report it",
                    "message": f"internal error in the service: {type(exc).__name__}"}})

    def _read(self, sock: socket.socket) -> tuple[dict[str, Any], list[bytes]]:
        limit = self.server.settings.max_request_bytes
        request = protocol.read_json(sock, min(protocol.MAX_JSON_BYTES, limit))
        if request is None:
            raise Refused("an empty request")
        if request.get("version") != protocol.VERSION:
            raise Refused(f"protocol version {request.get('version')!r} is not "
                          f"{protocol.VERSION}", fix="use a bench of the service's version")
        sizes = request.get("attachments", [])
        if not (isinstance(sizes, list) and len(sizes) <= 2
                and all(isinstance(size, int) and size >= 0 for size in sizes)):
            raise Refused("the request's attachments must be a list of at most 2 sizes")
        if sum(sizes) > limit:
            raise Refused(f"the request's {sum(sizes)} bytes are over the service's bound of "
                          f"{limit} bytes", fix="make the project or the corpus smaller")
        attachments = []
        for size in sizes:
            blob = protocol.read_frame(sock, size)
            if blob is None or len(blob) != size:
                raise Refused("an attachment is missing or not of its announced size")
            attachments.append(blob)
        return request, attachments

    def _serve(self, sock: socket.socket, peer: Peer, request: dict[str, Any],
               attachments: list[bytes]) -> None:
        kind = request.get("kind")
        if kind == "status":
            settings = self.server.settings
            protocol.send_json(sock, {"up": True, "caller": peer.name, "uid": peer.uid,
                                      "service_user": _me(), "socket": str(settings.socket_path),
                                      "state_dir": str(settings.state_dir)})
            return
        if kind not in ("cli", "api"):
            raise Refused(f"unknown request kind {kind!r}")
        with self._project(request, attachments) as project:
            if kind == "cli":
                argv = request.get("argv")
                if not (isinstance(argv, list) and all(isinstance(word, str) for word in argv)):
                    raise Refused("argv must be a list of strings")
                argv = self._rewrite(request, list(argv), project, peer, attachments)
                self._run_child(sock, peer, [sys.executable, "-m", "benchstone", *argv],
                                project, stdin=b"", stream=True)
            else:
                call = self._api_call(request, project, peer)
                self._run_child(sock, peer, [sys.executable, "-m", "benchstone.cli.service_call"],
                                project, stdin=json.dumps(call).encode(), stream=False)

    @contextlib.contextmanager
    def _project(self, request: dict[str, Any], attachments: list[bytes]
                 ) -> Iterator[Path | None]:
        if "commit" not in request:
            yield None
            return
        if not attachments:
            raise Refused("a commit came without its bundle")
        claim = commits.parse(request["commit"])
        with commits.checked_out(private_dir(self.server.settings.mirrors), claim,
                                 attachments[0]) as project:
            yield project

    def _is_admin(self, peer: Peer) -> bool:
        if peer.uid in (0, os.getuid()):
            return True
        try:
            admins = grp.getgrnam(self.server.settings.admin_group).gr_gid
            account = pwd.getpwuid(peer.uid)
        except KeyError:
            return False
        return admins in os.getgrouplist(account.pw_name, account.pw_gid)

    def _rewrite(self, request: dict[str, Any], argv: list[str], project: Path | None, peer: Peer,
                 attachments: list[bytes]) -> list[str]:
        """The argv with the caller's paths replaced by the service's own copies."""
        refused = protocol.refused_option(argv)
        if refused is not None:
            raise Refused(f"{refused[0]} is refused through the benchstone service",
                          fix=refused[1])
        privileged = protocol.needs_admin(argv)
        if privileged and not self._is_admin(peer):
            raise Refused(f"{privileged} through the service is for its administrators",
                          fix=f"ask a member of the group {self.server.settings.admin_group} "
                              "(or root)")
        found = protocol.verb_of(argv)
        verb = found[1] if found else None
        if verb in ("service", "init", "corpus-hash"):
            raise Refused(f"bench {verb} runs on the caller's side, not in the service")
        index = request.get("project_arg")
        has_path = found is not None and bool(protocol.positionals(argv, found[0]))
        if (verb == "register" and has_path) or index is not None:
            # The caller's path is never opened here: the service's checkout of the commit
            # takes its place.
            if project is None or not (isinstance(index, int) and 0 <= index < len(argv)):
                raise Refused("register through the service needs the project's commit")
            argv[index] = str(project)
        corpus = verb == "corpus" and "add" in argv
        index = request.get("corpus_arg")
        if corpus or index is not None:
            if not (isinstance(index, int) and 0 <= index < len(argv)) or not attachments:
                raise Refused("corpus add through the service needs the corpus's archive")
            argv[index] = str(self._unpack(attachments[-1]))
        return argv

    def _unpack(self, archive: bytes) -> Path:
        """The corpus archive unpacked into the upload area (private to the service), named by
        its content's hash: a copy the caller cannot change, which ``corpus add`` then copies
        into the corpus store."""
        digest = hashlib.sha256(archive).hexdigest()
        target = private_dir(self.server.settings.uploads) / digest
        if not target.is_dir():
            staging = private_dir(self.server.settings.uploads / f".{digest}.{os.getpid()}"
                                  f".{threading.get_ident()}")
            try:
                _unpack_plain(archive, staging)
            except (tarfile.TarError, OSError) as exc:
                raise Refused(f"the corpus archive cannot be unpacked: {exc}") from None
            with contextlib.suppress(OSError):
                staging.rename(target)
        entries = list(target.iterdir())
        if len(entries) != 1:
            raise Refused("the corpus archive must hold one file or directory")
        return entries[0]

    def _api_call(self, request: dict[str, Any], project: Path | None,
                  peer: Peer) -> dict[str, Any]:
        function, args = request.get("function"), request.get("args")
        if function not in API_FUNCTIONS:
            raise Refused(f"the service does not offer the API function {function!r}")
        if not isinstance(args, dict) or "home" in args:
            raise Refused("the arguments must be an object of JSON values, without home")
        privileged = function == "unregister" or (function == "promote" and args.get("force"))
        if privileged and not self._is_admin(peer):
            raise Refused(f"api.{function}{'(force=True)' if function == 'promote' else ''} "
                          "through the service is for its administrators",
                          fix=f"ask a member of the group {self.server.settings.admin_group}")
        if function == "register":
            if project is None:
                raise Refused("register needs the project's commit")
            args = {**args, "path": str(project)}
        if args.get("allow_dirty"):
            raise Refused("allow_dirty is refused through the benchstone service: it runs "
                          "committed code only", fix="commit your changes and run again")
        return {"function": function, "args": args}

    def _run_child(self, sock: socket.socket, peer: Peer, command: list[str],
                   project: Path | None, *, stdin: bytes, stream: bool) -> None:
        settings = self.server.settings
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(settings.state_dir), "LANG": "C.UTF-8",
            "BENCHSTONE_HOME": str(private_dir(settings.home)),
            "BENCHSTONE_SERVICE": "local", "BENCHSTONE_CALLER": peer.name,
            "BENCHSTONE_CALLER_IS_ADMIN": "1" if self._is_admin(peer) else "0",
            "COLUMNS": "100",
        }
        for name in ("PYTHONPATH", "DOCKER_HOST", "BENCHSTONE_DEBUG"):
            if name in os.environ:
                env[name] = os.environ[name]
        child = subprocess.Popen(command, cwd=str(project or settings.state_dir), env=env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
        assert child.stdin is not None and child.stdout is not None and child.stderr is not None
        send_lock = threading.Lock()
        threading.Thread(target=_stop_when_gone, args=(sock, child, peer), daemon=True).start()
        if stream:
            child.stdin.close()
            pumps = [threading.Thread(target=_pump, args=(pipe, name, sock, send_lock))
                     for pipe, name in ((child.stdout, "stdout"), (child.stderr, "stderr"))]
            for pump in pumps:
                pump.start()
            code = child.wait()
            for pump in pumps:
                pump.join()
            with send_lock, contextlib.suppress(OSError):
                protocol.send_json(sock, {"exit": code})
            return
        output, errors = child.communicate(stdin)
        if child.returncode != 0:
            log(f"api child failed ({child.returncode}): {errors.decode(errors='replace')[-2000:]}")
            raise Refused("the service could not complete the call (see the service's log)")
        protocol.send_frame(sock, output)


def _unpack_plain(archive: bytes, target: Path) -> None:
    """Unpack only directories and regular files whose names stay inside ``target``; a link,
    a device or a name with ``..`` refuses the whole archive."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if (not parts or Path(member.name).is_absolute() or ".." in parts
                    or not (member.isdir() or member.isfile())):
                raise Refused(f"the corpus archive holds {member.name!r}, which is not a plain "
                              "file or directory inside it", fix="send plain files")
            path = target.joinpath(*parts)
            if member.isdir():
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
                continue
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            with source, open(path, "xb") as handle:
                shutil.copyfileobj(source, handle)


def _pump(pipe: Any, name: str, sock: socket.socket, send_lock: threading.Lock) -> None:
    """Relay one of the child's outputs; once the client is gone, keep draining it."""
    gone = False
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        chunk = pipe.read1(65536)
        text = decoder.decode(chunk, final=not chunk)
        if text and not gone:
            try:
                with send_lock:
                    protocol.send_json(sock, {name: text})
            except OSError:
                gone = True
        if not chunk:
            return


def _stop_when_gone(sock: socket.socket, child: subprocess.Popen[bytes], peer: Peer) -> None:
    """The client sends nothing after its request: end of input means it is gone (Ctrl-C,
    killed). Its verb is then stopped as Ctrl-C stops it, so what ran is on record."""
    with contextlib.suppress(OSError):
        while sock.recv(4096):
            pass
    if child.poll() is None:
        log(f"{peer.name} disconnected: stopping its request (pid {child.pid})")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admission = Admission(settings.max_concurrent, settings.max_per_caller)
        path = settings.socket_path
        if path.exists() or path.is_symlink():
            if answers(path):
                raise BenchstoneError(f"a service already listens on {path}",
                                      fix="stop it first, or use another --socket")
            path.unlink()
        old = os.umask(0o117)
        try:
            super().__init__(str(path), Handler)
        finally:
            os.umask(old)
        os.chmod(path, 0o660)


def answers(path: Path) -> bool:
    """Whether a service listens on the socket at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; the socket is removed on the way out."""
    private_dir(settings.state_dir)
    private_dir(settings.home)
    server = Server(settings)
    stopping = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"benchstone service as {_me()} on {settings.socket_path}, state in "
        f"{settings.state_dir}")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        with contextlib.suppress(OSError):
            settings.socket_path.unlink()
        log("benchstone service stopped")
