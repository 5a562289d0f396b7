"""Attacks that try to get out of the sandbox: read the store, the references or a held-out corpus
at their real host paths, write results into the store, leak state between repetitions, reach
the network or the engine, gain privileges, or kill the harness."""

from __future__ import annotations

import json
import os

from redteam.attack import attack, benchmark, expect_not_rewarded
from redteam.lab import Lab, manifest_text

CORRECTNESS = {"name": "answer", "tier": "correctness", "deterministic": True,
               "timeout_seconds": 20, "repetitions": 1}

# Reads everything an attacker might aim at and reports what it got, contents included, so a
# successful read would carry the lab's canary into the stored row and the logs.
WALK_AND_REPORT = r'''
import time
found = {}
def grab(path):
    data = try_read(path, 200000)
    if data:
        found[path] = data
started = time.monotonic()
for root in ROOTS:
    for directory, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
        for name in files:
            grab(os.path.join(directory, name))
        if time.monotonic() - started > 10:
            break
for path in EXTRA:
    grab(path)
print(json.dumps(found)[:500000])
try:
    info = os.stat("/benchstone/corpus")
    corpus = {"uid": info.st_uid, "mode": oct(info.st_mode & 0o7777)}
except OSError:
    corpus = None
report(float(open("src/metric").read()), message=json.dumps(found)[:600000], found=sorted(found),
       corpus=corpus)
'''


def walker(roots: str, extra: str = "[]") -> str:
    return f"ROOTS = {roots}\nEXTRA = {extra}\n" + WALK_AND_REPORT


def plant_store_canary(lab: Lab) -> None:
    """Register a decoy project whose path holds the canary: now bench.db holds it too."""
    decoy = lab.root / f"decoy-{lab.canary}"
    lab.write({"bench/manifest.toml": manifest_text(f"decoy_{lab.token}", [benchmark()]),
               "bench/run.sh": "exit 1\n"}, root=decoy)
    lab.git("init", "-q", "-b", "main", root=decoy)
    lab.git("add", "-A", root=decoy)
    lab.git("commit", "-q", "-m", "decoy", root=decoy)
    lab.setup("register", str(decoy))


def found_in(lab: Lab, benchmark_name: str = "probe") -> list[str]:
    return [path for row in lab.runs(benchmark_name) for path in lab.metadata(row).get("found", [])]


@attack("read_store_database",
        "open bench.db at its real host path and search the container for the store",
        "read the database", as_user_too=True)
def read_store_database(lab: Lab) -> None:
    lab.make_project(walker('["/benchstone", "/tmp", "/home", "/root", "/var", "/mnt", "/opt", '
                            '"/srv", "/run"]',
                            'list(targets.values()) + ["/root/.local/share/benchstone/bench.db"]'),
                     python=True)
    plant_store_canary(lab)
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    stolen = [path for path in found_in(lab) if "bench.db" in path or path.startswith(str(lab.home))]
    lab.expect(not stolen, f"read the store: {stolen}")


READ_REFERENCE = r'''
import glob
stolen = None
for pattern in (targets["artifacts"] + "/*/*/*.bin", "/root/.local/share/benchstone/artifacts/*/*/*.bin",
                os.path.expanduser("~/.local/share/benchstone/artifacts/*/*/*.bin")):
    for path in glob.glob(pattern):
        stolen = try_read(path) or stolen
answer = stolen if stolen is not None else open("src/answer.txt").read()
with open(config["artifact_path"], "w") as handle:
    handle.write(answer)
report(1.0, stolen=stolen is not None)
'''


@attack("read_reference_artifact",
        "read the frozen reference at its real host path and hand it back as its own artifact",
        "read the reference artifacts", as_user_too=True)
def read_reference_artifact(lab: Lab) -> None:
    lab.make_project(READ_REFERENCE, python=True, benchmarks=[CORRECTNESS],
                     files={"src/answer.txt": lab.canary + "\n"})
    lab.register()
    lab.setup("run", lab.project_name, "answer")
    lab.setup("freeze-reference", lab.project_name, "answer")
    lab.commit("a wrong answer", {"src/answer.txt": "wrong\n"})
    lab.arm()
    lab.bench("run", lab.project_name, "answer", allow={0})
    rows = lab.runs("answer")
    lab.expect(not any(lab.metadata(row).get("stolen") for row in rows), "the reference was read")
    expect_not_rewarded(lab, "answer", allowed=frozenset({"FAIL"}))


@attack("read_held_out_corpus",
        "read a harness-owned corpus of another benchmark from $BENCHSTONE_HOME/corpora",
        "read held-out corpora", as_user_too=True)
def read_held_out_corpus(lab: Lab) -> None:
    lab.make_project(walker('[targets["corpora"], "/benchstone"]', '["/benchstone/corpus/secret.txt"]'),
                     python=True)
    held_out = lab.root / "held-out"
    lab.write({"secret.txt": lab.canary + "\n"}, root=held_out)
    lab.register()
    lab.setup("corpus", "add", f"heldout_{lab.token}", str(held_out))
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    stolen = [path for path in found_in(lab) if "secret" in path or "corpora" in path]
    lab.expect(not stolen, f"read the held-out corpus: {stolen}")


WRITE_STORE = r'''
import sqlite3
attempts = {}
try:
    db = sqlite3.connect(targets["database"], timeout=2)
    db.execute("INSERT INTO runs (run_set_id, project, benchmark, git_sha, git_dirty, seed, "
               "repetition, status, metric, message, sandbox, host, started_at, finished_at) "
               "VALUES (1, 'x', 'probe', 'x', 0, 1, 99, 'ok', 0.0001, 'FORGED', 'docker', 'x', 'x', 'x')")
    db.commit()
    attempts["sqlite"] = "WROTE"
except Exception as exc:
    attempts["sqlite"] = type(exc).__name__
for path in (targets["home"] + "/forged.txt", targets["artifacts"] + "/forged.bin",
             "/root/.local/share/benchstone/forged.txt", "/benchstone/project/forged.txt",
             "/benchstone/forged.txt", "/forged.txt"):
    try:
        with open(path, "w") as handle:
            handle.write("FORGED")
        attempts[path] = "WROTE"
    except OSError as exc:
        attempts[path] = exc.strerror
report(float(open("src/metric").read()), attempts=attempts)
'''


@attack("write_results_into_store",
        "insert a forged row into bench.db and drop files into $BENCHSTONE_HOME",
        "write results directly", as_user_too=True)
def write_results_into_store(lab: Lab) -> None:
    lab.make_project(WRITE_STORE, python=True)
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    rows = lab.runs()
    for row in rows:
        wrote = [path for path, what in lab.metadata(row).get("attempts", {}).items() if what == "WROTE"]
        lab.expect(not wrote, f"wrote {wrote}")
    with lab.database() as db:
        forged = db.execute("SELECT COUNT(*) FROM runs WHERE message = 'FORGED'").fetchone()[0]
        total = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    lab.expect(forged == 0 and total == 2, f"{forged} forged row(s), {total} rows in all")


TMP_LEAK = r'''
places = ["/tmp/.leak", "/dev/shm/.leak", os.path.expanduser("~/.cache/leak"), "/var/tmp/.leak",
          "/run/lock/.leak", "/benchstone/.leak", "/benchstone/project/.leak", "/benchstone/corpus/.leak"]
found = [path for path in places if os.path.exists(path)]
written = []
for path in places:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(str(config["repetition_index"]))
        written.append(path)
    except OSError:
        pass
base = float(open("src/metric").read())
report(base / 2 if found else base, found=found, written=written)
'''


@attack("leak_state_between_repetitions",
        "leave a cache in /tmp, /dev/shm and $HOME for the next repetition to find and exploit",
        "leak state from one repetition into the next", as_user_too=True)
def leak_state_between_repetitions(lab: Lab) -> None:
    lab.make_project(TMP_LEAK, python=True, benchmarks=[benchmark(repetitions=3)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    rows = lab.runs()
    lab.expect(len(rows) == 3, f"{len(rows)} rows")
    lab.expect("/tmp/.leak" in lab.metadata(rows[0]).get("written", []), "the cache was never written")
    for row in rows:
        lab.expect(not lab.metadata(row).get("found"), f"rep {row['repetition']} found "
                   f"{lab.metadata(row).get('found')}")
        lab.expect(row["metric"] == 1.0, f"rep {row['repetition']} metric {row['metric']}")


NETWORK = r'''
import socket
port = json.load(open("src/net.json"))["port"]
interfaces = sorted(os.listdir("/sys/class/net"))
reached = []
for family, address in ((socket.AF_INET, ("127.0.0.1", port)), (socket.AF_INET6, ("::1", port))):
    try:
        connection = socket.socket(family, socket.SOCK_STREAM)
        connection.settimeout(3)
        connection.connect(address)
        reached.append(str(address))
        connection.close()
    except OSError:
        pass
report(float(open("src/metric").read()), interfaces=interfaces, reached=reached)
'''


@attack("reach_host_network",
        "connect to a listener the lab opened on the host's 127.0.0.1 and list interfaces",
        "open network connections")
def reach_host_network(lab: Lab) -> None:
    listener = lab.listener()
    lab.make_project(NETWORK, python=True, files={"src/net.json": json.dumps({"port": listener.port})})
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    for row in lab.runs():
        meta = lab.metadata(row)
        lab.expect(meta.get("interfaces") == ["lo"], f"interfaces {meta.get('interfaces')}")
        lab.expect(not meta.get("reached"), f"reached {meta.get('reached')}")
    lab.expect(listener.accepted == 0, f"the host listener accepted {listener.accepted} connection(s)")


ENGINE = r'''
import socket, stat
candidates = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
              "/var/run/docker/containerd/containerd.sock", "/run/docker/containerd/containerd.sock"]
candidates += targets.get("engine_sockets", [])
sockets = []
for root in ("/", ):
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(directory, d) not in ("/proc", "/sys")]
        for name in files + dirs:
            path = os.path.join(directory, name)
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    sockets.append(path)
            except OSError:
                pass
reached = []
for path in candidates + sockets:
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(3)
        connection.connect(path)
        connection.sendall(b"GET /version HTTP/1.0\r\n\r\n")
        reached.append(path + ": " + connection.recv(200).decode(errors="replace"))
    except OSError:
        pass
environment = sorted(key for key in os.environ if "DOCKER" in key or "BENCHSTONE" in key)
report(float(open("src/metric").read()), sockets=sockets, reached=reached, environment=environment,
       present=[path for path in candidates if os.path.lexists(path)])
'''


@attack("reach_engine_socket",
        "find and talk to the Docker or containerd socket (or DOCKER_HOST) from inside",
        "escape through the container engine", as_user_too=True)
def reach_engine_socket(lab: Lab) -> None:
    host = os.environ.get("DOCKER_HOST", "")
    sockets = [host.removeprefix("unix://")] if host.startswith("unix://") else []
    targets = {**lab.targets(), "engine_sockets": sockets}
    lab.make_project(ENGINE, python=True, files={"src/targets.json": json.dumps(targets)})
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    for row in lab.runs():
        meta = lab.metadata(row)
        for key in ("sockets", "reached", "environment", "present"):
            lab.expect(not meta.get(key), f"{key}: {meta.get(key)}")


PRIVILEGES = r'''
import subprocess
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
escalated = []
if os.getuid() == 0 or os.geteuid() == 0:
    escalated.append("uid 0")
if int(status["CapEff"].strip(), 16):
    escalated.append("capabilities " + status["CapEff"].strip())
if status.get("NoNewPrivs", "0").strip() != "1":
    escalated.append("no_new_privs is off")
try:
    os.setuid(0)
    escalated.append("setuid(0)")
except OSError:
    pass
os.makedirs("/tmp/m", exist_ok=True)
for label, argv in (("setuid mount", ["/usr/bin/mount", "-t", "tmpfs", "none", "/tmp/m"]),
                    ("setuid su", ["/usr/bin/su", "-c", "id -u", "root"]),
                    ("user namespace", ["/usr/bin/unshare", "-r", "id", "-u"]),
                    ("mount namespace", ["/usr/bin/unshare", "-m", "true"]),
                    ("chroot", ["/usr/sbin/chroot", "/", "true"]),
                    ("nsenter", ["/usr/bin/nsenter", "-t", "1", "-m", "true"])):
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        if done.returncode == 0:
            escalated.append(label)
    except (OSError, subprocess.TimeoutExpired):
        pass
for path in ("/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/sys/kernel/uevent_helper",
             "/sys/fs/cgroup/pids/pids.max", "/etc/passwd"):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        escalated.append("wrote " + path)
    except OSError:
        pass
for path in ("/dev/mem", "/dev/kmem", "/proc/kcore", "/dev/vda", "/dev/sda", "/etc/shadow"):
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        escalated.append("read " + path)
    except OSError:
        pass
report(float(open("src/metric").read()), escalated=escalated, uid=os.getuid())
'''


@attack("gain_privileges",
        "become root: setuid binaries, setuid(0), user/mount namespaces, chroot, /proc and /dev",
        "run as root or setuid", as_user_too=True)
def gain_privileges(lab: Lab) -> None:
    lab.make_project(PRIVILEGES, python=True)
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    for row in lab.runs():
        meta = lab.metadata(row)
        lab.expect(meta.get("uid") not in (None, 0), f"uid {meta.get('uid')}")
        lab.expect(not meta.get("escalated"), f"escalated: {meta.get('escalated')}")


KILL_HARNESS = r'''
import signal
visible = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        command = (try_read("/proc/%s/cmdline" % pid) or "").replace("\0", " ")
        if "-m benchstone" in command or "pytest" in command or "dockerd" in command \
                or "redteam" in command:
            visible.append(command[:100])
report(float(open("src/metric").read()), visible=visible)
os.kill(-1, signal.SIGKILL)
'''


@attack("kill_the_harness",
        "look for the harness's processes and kill -9 every process it can see",
        "hang or kill the harness")
def kill_the_harness(lab: Lab) -> None:
    lab.make_project(KILL_HARNESS, python=True)
    lab.register()
    lab.arm()
    call = lab.bench("run", lab.project_name, "probe", allow={0, 1})
    rows = lab.runs()
    lab.expect(len(rows) == 2, f"{len(rows)} rows recorded; the run set did not finish: {call.describe()}")
    for row in rows:
        lab.expect(not lab.metadata(row).get("visible"), f"saw {lab.metadata(row).get('visible')}")
