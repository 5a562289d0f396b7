"""The client side: ``bench`` forwards its argv, the Python API a call, to the service.

Only committed code and (for ``bench corpus add``) a corpus archive cross the socket; see
docs/service.md for the protocol.
"""

from __future__ import annotations

import io
import socket
import sys
import tarfile
from pathlib import Path
from typing import Any

from benchstone.errors import ServiceError
from benchstone.service import commits, protocol

# Verbs that need nothing of the service: they read or write only the caller's own files.
LOCAL_VERBS = frozenset({"service", "init", "corpus-hash"})
# Verbs that read a project's commit: the client sends its HEAD.
PROJECT_VERBS = frozenset({"register", "run", "evaluate", "promote", "compare", "explain",
                           "baseline", "freeze-reference", "replace-reference", "reference",
                           "references"})
ERROR_EXIT = 5


def connect(path: Path, timeout: float | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except PermissionError:
        sock.close()
        raise ServiceError(f"not allowed to use the benchstone service at {path}",
                           fix="ask an administrator to add you to the group benchstone-users "
                               "(then log in again)") from None
    except OSError as exc:
        sock.close()
        raise ServiceError(f"the benchstone service at {path} does not answer: "
                           f"{exc.strerror or exc}",
                           fix="start it (as root): bench service run; or unset "
                               "BENCHSTONE_SERVICE to work locally") from None
    return sock


def cli_request(argv: list[str], cwd: Path) -> tuple[dict[str, Any], list[bytes]] | None:
    """The request for ``argv``, and its attachments; None when the verb runs locally."""
    found = protocol.verb_of(argv)
    if found is None:
        return None
    at, verb = found
    if verb in LOCAL_VERBS or (verb == "doctor" and "--service" in argv):
        return None  # (installing the service is root's business on this host)
    refused = protocol.refused_option(argv)
    if refused is not None:
        raise ServiceError(f"{refused[0]} is refused through the benchstone service",
                           fix=refused[1])
    request: dict[str, Any] = {"version": protocol.VERSION, "kind": "cli", "argv": list(argv)}
    attachments: list[bytes] = []
    where = cwd
    if verb == "register":
        places = protocol.positionals(argv, at)
        if not places:  # let bench itself say the PATH is missing
            return request, attachments
        where = (cwd / argv[places[0]]).resolve()
        request["project_arg"] = places[0]
    if verb in PROJECT_VERBS:
        commit = commits.describe(where)
        if commit is None and verb == "register":
            raise ServiceError(f"{where} is not inside a git repository with a commit",
                               fix="git init, commit the project, and register it again")
        if commit is not None:
            request["commit"] = commit.as_json()
            attachments.append(commits.bundle(where))
            if commits.dirty(where):
                print(f"warning: uncommitted changes are not sent: the service reads commit "
                      f"{commit.sha[:10]} (HEAD)", file=sys.stderr)
    if verb == "corpus":
        places = protocol.positionals(argv, at)
        if len(places) >= 3 and argv[places[0]] == "add":
            request["corpus_arg"] = places[2]
            attachments.append(corpus_archive((cwd / argv[places[2]]).resolve()))
    request["attachments"] = [len(blob) for blob in attachments]
    return request, attachments


def corpus_archive(path: Path) -> bytes:
    """``path`` (a file or a directory) as an uncompressed tar of one top entry, its name."""
    if not path.exists():
        raise ServiceError(f"no corpus at {path}", fix="pass the path of a file or directory")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(path), arcname=path.name or "corpus", recursive=True)
    return buffer.getvalue()


def send(sock: socket.socket, request: dict[str, Any], attachments: list[bytes]) -> None:
    """Send a request. The service may refuse it before reading it all (over its bound, beyond
    the caller's share): it answers and closes, and the rest is not sent; the answer, already
    waiting on the socket, is read next and says why."""
    try:
        protocol.send_json(sock, request)
        for blob in attachments:
            protocol.send_frame(sock, blob)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _read_answer(sock: socket.socket, limit: int) -> dict[str, Any] | None:
    """The service's next message; a connection it reset (it stopped or restarted with the
    request unread) is said in one line."""
    try:
        return protocol.read_json(sock, limit)
    except ConnectionResetError:
        raise ServiceError("the service broke off the request (it stopped or restarted)",
                           fix="see the service's log; the request may not have run") from None


def forward_cli(argv: list[str], socket_path: Path) -> int | None:
    """Run ``bench argv`` in the service, writing its output here; its exit code, or None
    when the verb runs locally."""
    try:
        built = cli_request(argv, Path.cwd())
        if built is None:
            return None
        sock = connect(socket_path)
        with sock:
            send(sock, *built)
            return _relay(sock)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return ERROR_EXIT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _relay(sock: socket.socket) -> int:
    while True:
        message = _read_answer(sock, protocol.MAX_JSON_BYTES * 4)
        if message is None:
            raise ServiceError("the service closed the connection without an exit code",
                               fix="see the service's log; the request may not have run")
        if "stdout" in message:
            sys.stdout.write(message["stdout"])
            sys.stdout.flush()
        elif "stderr" in message:
            sys.stderr.write(message["stderr"])
            sys.stderr.flush()
        elif "exit" in message:
            return int(message["exit"])
        elif "error" in message:
            error = message["error"]
            raise ServiceError(error.get("message", "refused"), fix=error.get("fix"))


def call_api(function: str, args: dict[str, Any], socket_path: Path,
             commit_from: Path | None) -> dict[str, Any]:
    """Call the API function ``function`` in the service; its encoded result (see
    ``benchstone.cli.service_call``). A benchstone error comes back as its message and fix."""
    request: dict[str, Any] = {"version": protocol.VERSION, "kind": "api",
                               "function": function, "args": args}
    attachments: list[bytes] = []
    commit = commits.describe(commit_from) if commit_from is not None else None
    if commit is not None and commit_from is not None:
        # a call about another commit than HEAD (run's revision, evaluate's git_sha) names it
        # by its SHA and sends it, so that the service has it
        key = next((k for k in ("revision", "git_sha") if isinstance(args.get(k), str)), None)
        if key is not None:
            request["args"] = {**args, key: commits.resolve(commit_from, args[key])}
            commit = commits.describe(commit_from, request["args"][key])
        if commit is not None:
            request["commit"] = commit.as_json()
            attachments.append(commits.bundle(commit_from, commit.ref))
    request["attachments"] = [len(blob) for blob in attachments]
    with connect(socket_path) as sock:
        send(sock, request, attachments)
        answer = _read_answer(sock, 64 << 20)
    if answer is None:
        raise ServiceError("the service closed the connection without an answer")
    return answer


def status(socket_path: Path) -> dict[str, Any]:
    with connect(socket_path, timeout=10) as sock:
        send(sock, {"version": protocol.VERSION, "kind": "status", "attachments": []}, [])
        answer = _read_answer(sock, protocol.MAX_JSON_BYTES)
    if answer is None or "error" in answer:
        error = (answer or {}).get("error", {})
        raise ServiceError(error.get("message", "the service did not answer"),
                           fix=error.get("fix"))
    return answer

