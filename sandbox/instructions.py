# benchstone's instruction-count collector, run inside the sandbox container as root (with no
# capabilities) beside the benchmark, which runs as an unprivileged user under Valgrind.
#
# Every Valgrind process of the benchmark's tree (--trace-children=yes) opens its own
# connection to 127.0.0.1:PORT when it starts (--log-socket) and sends its log there, its
# instruction count last, when it exits. This collector writes each line, tagged with its
# connection, to OUTPUT: a file in a directory that the benchmark's user can neither write nor
# read, and that the harness reads after the container ends. It never judges what it receives;
# the harness does.
#
# argv: PORT OUTPUT MARKS. MARKS is a directory this collector makes (root's, before any code of
# the benchmark runs): MARKS/ready appears once the port listens; MARKS/idle exists while no
# connection is open after at least one has closed (the entry waits for it before it ends).
import os
import selectors
import socket
import sys

PER_CONNECTION = 64 * 1024
TOTAL = 4 * 1024 * 1024
CONNECTIONS = 4096

port, output, marks = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.umask(0o022)
os.mkdir(marks, 0o755)
ready, idle = os.path.join(marks, "ready"), os.path.join(marks, "idle")
out = open(output, "a", buffering=1, encoding="utf-8", errors="replace")
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(256)
server.setblocking(False)
selector = selectors.DefaultSelector()
selector.register(server, selectors.EVENT_READ)
state = {"next": 0, "open": 0, "closed": 0, "written": 0, "overflow": False}
buffers = {}


def mark(path, present):
    if present:
        temporary = path + ".tmp"
        with open(temporary, "w") as handle:
            handle.write(str(state["closed"]))
        os.replace(temporary, path)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def emit(number, text):
    if state["overflow"]:
        return
    if state["written"] + len(text) > TOTAL:
        state["overflow"] = True
        out.write("*\tOVERFLOW\n")
        return
    state["written"] += len(text)
    out.write(f"{number}\t{text}\n")


mark(ready, True)
while True:
    for key, _events in selector.select():
        if key.fileobj is server:
            try:
                connection, _address = server.accept()
            except OSError:
                continue
            state["next"] += 1
            state["open"] += 1
            if state["next"] > CONNECTIONS and not state["overflow"]:
                state["overflow"] = True
                out.write("*\tOVERFLOW\n")
            connection.setblocking(False)
            buffers[connection] = [state["next"], b"", 0]
            selector.register(connection, selectors.EVENT_READ)
            mark(idle, False)
            continue
        connection = key.fileobj
        entry = buffers[connection]
        try:
            data = connection.recv(65536)
        except OSError:
            data = b""
        if data:
            entry[2] += len(data)
            if entry[2] > PER_CONNECTION:
                if entry[1] is not None:
                    emit(entry[0], "OVERFLOW")
                entry[1] = None
                continue
            if entry[1] is None:
                continue
            entry[1] += data
            *lines, entry[1] = entry[1].split(b"\n")
            for line in lines:
                emit(entry[0], line.decode("utf-8", "replace").replace("\t", " "))
            continue
        if entry[1]:
            emit(entry[0], entry[1].decode("utf-8", "replace").replace("\t", " "))
        emit(entry[0], "EOF")
        selector.unregister(connection)
        connection.close()
        del buffers[connection]
        state["open"] -= 1
        state["closed"] += 1
        if state["open"] == 0:
            mark(idle, True)
