"""Attacks on resources and time: fork bombs, memory, disk (scratch, /tmp, inodes), output
floods, ignoring SIGTERM, children that outlive their parent, and a scratch directory the
harness is not meant to be able to clean up."""

from __future__ import annotations

import threading
from pathlib import Path

from benchstone.sandbox.capture import disk_usage
from redteam.attack import attack, benchmark, expect_failures
from redteam.lab import Lab

MiB = 1024 * 1024


@attack("fork_bomb",
        "b(){ b|b& };b - an exponential fork bomb",
        "fork-bomb")
def fork_bomb(lab: Lab) -> None:
    lab.make_project("b(){ b|b& };b\n", benchmarks=[benchmark(timeout_seconds=10, repetitions=1)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={1}, timeout=180)
    expect_failures(lab, {"timeout", "runner_exit", "no_result"}, 1)


@attack("exhaust_memory",
        "allocate and touch memory until something gives, under memory = 128m",
        "exhaust memory", engine=True)
def exhaust_memory(lab: Lab) -> None:
    lab.make_project("blocks = []\nwhile True:\n    blocks.append(b'x' * (16 * 1024 * 1024))\n",
                     python=True, benchmarks=[benchmark(memory="128m", repetitions=1)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={1}, timeout=120)
    expect_failures(lab, {"out_of_memory"}, 1)


@attack("flood_scratch",
        "write 8 GB of zeros into scratch (scratch_size = 64m)",
        "exhaust disk through the writable scratch directory")
def flood_scratch(lab: Lab) -> None:
    lab.make_project('dd if=/dev/zero of="$(dirname "$3")/flood" bs=1M count=8192 2>/dev/null\n'
                     'printf \'{"status": "ok", "metric": 0.001}\' > "$3"\n',
                     benchmarks=[benchmark(scratch_size="64m", repetitions=1, timeout_seconds=60)])
    lab.register()
    lab.arm()
    with PeakScratch(lab) as peak:
        call = lab.bench("run", lab.project_name, "probe", allow={1}, timeout=180)
    expect_failures(lab, {"scratch_limit"}, 1)
    lab.expect(call.seconds < 60, f"the flood was not cut off early ({call.seconds:.0f} s)")
    lab.expect(peak.bytes < 4096 * MiB, f"scratch reached {peak.bytes // MiB} MiB of the 8192 written")
    lab.notes.append(f"peak scratch usage seen from the host: {peak.bytes / MiB:.0f} MiB "
                     f"(scratch_size 64 MiB: a tmpfs the kernel bounds)")


DEEP_SCRATCH = """\
os.chdir(scratch)
for level in range(1500):  # past PATH_MAX, and past Python's recursion limit
    os.mkdir("d" * 200)
    os.chdir("d" * 200)
with open("hidden", "wb") as handle:
    for _ in range(96):
        handle.write(b"x" * (1 << 20))
report(0.001)
"""


@attack("scratch_too_deep_to_walk",
        "nest 1500 directories with 200-character names in scratch (past PATH_MAX and Python's "
        "recursion limit) and write 96 MiB at the bottom (scratch_size = 16m)",
        "exhaust disk through scratch unseen; leave something behind; crash the clean-up",
        as_user_too=True)
def scratch_too_deep_to_walk(lab: Lab) -> None:
    lab.make_project(DEEP_SCRATCH, python=True,
                     benchmarks=[benchmark(scratch_size="16m", repetitions=1, timeout_seconds=60)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={1}, timeout=180)
    expect_failures(lab, {"scratch_limit"}, 1)


class PeakScratch:
    """Samples, from the host, the largest scratch usage of the lab's repetitions."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            for scratch in self.lab.tmp.glob("benchstone-run-*/rep-*/scratch"):
                self.bytes = max(self.bytes, disk_usage(scratch, 1 << 62))

    def __enter__(self) -> PeakScratch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@attack("flood_tmp",
        "write 4 GB into the /tmp tmpfs (tmpfs_size = 32m) and report how much stuck",
        "exhaust disk or memory through /tmp")
def flood_tmp(lab: Lab) -> None:
    lab.make_project(
        "import shutil\nwritten = 0\ntry:\n    with open('/tmp/flood', 'wb') as handle:\n"
        "        for _ in range(4096):\n            handle.write(b'\\0' * (1024 * 1024))\n"
        "            written += 1024 * 1024\nexcept OSError as exc:\n    error = exc.strerror\n"
        "else:\n    error = None\nreport(float(open('src/metric').read()), written=written, error=error)\n",
        python=True, benchmarks=[benchmark(tmpfs_size="32m", repetitions=1)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0, 1})
    rows = lab.runs()
    lab.expect(len(rows) == 1, f"{len(rows)} rows")
    if rows and rows[0]["status"] == "ok":
        written = lab.metadata(rows[0]).get("written", 0)
        lab.expect(written <= 32 * MiB, f"wrote {written} bytes into a 32 MiB /tmp")
        lab.expect(rows[0]["metric"] == 1.0, "a non-honest metric was recorded")


@attack("flood_stdout",
        "write 3 GB to stdout, then exit without a result (timeout_seconds = 15)",
        "print huge output")
def flood_stdout(lab: Lab) -> None:
    lab.make_project("head -c 3000000000 /dev/zero | tr '\\0' 'x'\nexit 0\n",
                     benchmarks=[benchmark(timeout_seconds=15, repetitions=1)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={1}, timeout=240)
    expect_failures(lab, {"timeout", "no_result"}, 1)
    for row in lab.runs():
        for key in ("stdout_path", "stderr_path"):
            size = Path(row[key]).stat().st_size if row[key] else 0
            lab.expect(size <= 5 * MiB, f"{key} holds {size} bytes")


@attack("flood_stderr_one_line",
        "write one 64 MB line without a newline to stderr, then exit 3",
        "print huge or garbage output")
def flood_stderr_one_line(lab: Lab) -> None:
    lab.make_project("head -c 64000000 /dev/zero | tr '\\0' 'e' >&2\nexit 3\n",
                     benchmarks=[benchmark(repetitions=1, timeout_seconds=60)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={1}, timeout=240)
    expect_failures(lab, {"runner_exit", "timeout"}, 1)
    for row in lab.runs():
        lab.expect(len(row["message"] or "") <= 500, f"a {len(row['message'])}-character message")


@attack("flood_scratch_inodes",
        "create 300,000 empty files in scratch",
        "exhaust disk (inodes) and the harness's clean-up")
def flood_scratch_inodes(lab: Lab) -> None:
    lab.make_project("for i in range(300000):\n    open(os.path.join(scratch, 'f%d' % i), 'w').close()\n"
                     "report(0.001)\n", python=True,
                     benchmarks=[benchmark(repetitions=1, timeout_seconds=60)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={1}, timeout=300)
    expect_failures(lab, {"scratch_limit"}, 1)


IGNORES_SIGTERM = """\
import signal, time
for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(number, signal.SIG_IGN)
while True:
    time.sleep(1)
"""


@attack("ignores_sigterm",
        "ignore SIGTERM, SIGINT and SIGHUP and sleep forever (timeout_seconds = 5)",
        "hang")
def ignores_sigterm(lab: Lab) -> None:
    lab.make_project(IGNORES_SIGTERM, python=True,
                     benchmarks=[benchmark(timeout_seconds=5, repetitions=1)])
    lab.register()
    lab.arm()
    call = lab.bench("run", lab.project_name, "probe", allow={1}, timeout=120)
    expect_failures(lab, {"timeout"}, 1)
    lab.expect(call.seconds < 60, f"the run took {call.seconds:.0f} s for a 5 s timeout")


ORPHAN = """\
setsid sh -c 'trap "" TERM HUP INT; sleep 30
    printf "{\\"status\\": \\"ok\\", \\"metric\\": 0.001}" > "$0"' "$3" </dev/null >/dev/null 2>&1 &
( trap '' TERM HUP; sleep 30; echo late > "$(dirname "$3")/late" ) &
printf '{"status": "ok", "metric": 1.0}' > "$3"
exit 0
"""


@attack("child_outlives_parent",
        "fork children (one setsid, all ignoring SIGTERM) that sleep past the 8 s timeout and "
        "then overwrite the result, while the parent exits at once",
        "hang; write results after the harness has read them")
def child_outlives_parent(lab: Lab) -> None:
    lab.make_project(ORPHAN, benchmarks=[benchmark(timeout_seconds=8, repetitions=2)])
    lab.register()
    lab.arm()
    call = lab.bench("run", lab.project_name, "probe", allow={0}, timeout=120)
    rows = lab.runs()
    lab.expect([row["metric"] for row in rows] == [1.0, 1.0],
               f"metrics {[row['metric'] for row in rows]}")
    lab.expect(all((row["harness_wall_seconds"] or 99) < 8 for row in rows),
               "the harness waited for the children")
    lab.expect(call.seconds < 30, f"the run took {call.seconds:.0f} s")


UNREMOVABLE = """\
import stat
os.makedirs(os.path.join(scratch, "a/b/c/d"))
for index in range(2000):
    open(os.path.join(scratch, "a/b/c/d", "f%d" % index), "w").close()
open(os.path.join(scratch, "a", "new\\nline \\x1b[31m"), "w").close()
os.symlink("/", os.path.join(scratch, "a/root"))
os.symlink("../../../../..", os.path.join(scratch, "a/up"))
os.mkfifo(os.path.join(scratch, "a/fifo"))
for directory in ("a/b/c/d", "a/b/c", "a/b", "a"):
    os.chmod(os.path.join(scratch, directory), 0)
report(float(open("src/metric").read()))
os.chmod(scratch, 0o500)
"""


@attack("scratch_the_harness_cannot_clean",
        "leave mode-000 directories, a FIFO, symlinks to / and odd names in scratch",
        "leave something behind; trick the clean-up into following a link", as_user_too=True)
def scratch_the_harness_cannot_clean(lab: Lab) -> None:
    lab.make_project(UNREMOVABLE, python=True, benchmarks=[benchmark(repetitions=1)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0, 1})
    rows = lab.runs()
    # A harness running as root reads everything: the row is ok. One running as a user cannot
    # read the mode-000 directories, so their contents escape the scratch watchdog, which then
    # counts scratch as over budget: an error row.
    allowed = {("ok", None)} if lab.user is None else {("ok", None), ("error", "scratch_limit")}
    lab.expect(len(rows) == 1 and (rows[0]["status"], rows[0]["failure"]) in allowed,
               f"rows {[(row['status'], row['message']) for row in rows]}")
