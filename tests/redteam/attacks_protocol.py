"""Attacks on the result protocol: garbage and oversized results, text meant to break the store
or the terminal, and result or artifact files that are symlinks, FIFOs or directories."""

from __future__ import annotations

import hashlib

from redteam.attack import attack, benchmark, expect_failures, expect_not_rewarded
from redteam.attacks_escape import CORRECTNESS
from redteam.lab import Lab

GARBAGE = r'''
index = config["repetition_index"]
payloads = [
    os.urandom(4096),
    b'{"status": "ok", "metric": 0.001, "metadata": {"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}}',
    b'{"status": "ok", "metric": 0.001, "metadata": ' + b"[" * 200000 + b"]" * 200000 + b"}",
    b'{"status": "ok", "metric": NaN}',
    b'{"status": "ok", "metric": 1e999}',
    b'{"status": "ok", "metric": "fast"}',
    b'[{"status": "ok", "metric": 0.001}]',
    b'{"status": "ok", "metric": 0.001, "status": "ok", "metric": ' + b"9" * 5000 + b"}",
    b"\xef\xbb\xbf\x00\x00" + b"\xff" * 100,
    b'{"status": "ok", "metric": 0.001, "metadata": {"a": ' + b"[" * 900 + b"]" * 900 + b"}}",
]
with open(output_path, "wb") as handle:
    handle.write(payloads[index])
'''


@attack("garbage_results",
        "write random bytes, a 2 MB result, 200,000-deep nesting, NaN, 1e999, a string metric, "
        "an array, a 5,000-digit number, invalid UTF-8 and 900-deep metadata as its result",
        "print garbage output")
def garbage_results(lab: Lab) -> None:
    lab.make_project(GARBAGE, python=True, benchmarks=[benchmark(repetitions=10)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={1})
    expect_failures(lab, {"invalid_result"}, 10)


HOSTILE_TEXT = r'''
index = config["repetition_index"]
escape = "\x1b[2J\x1b[H\x1b]0;owned\x07"
if index == 0:
    text = '{"status": "ok", "metric": 1.0, "message": "lone \\ud800 surrogate \\u001b[2J\\u0007"}'
    open(output_path, "w").write(text)
elif index == 1:
    text = '{"status": "error", "message": "\\u001b[2J\\u001b[Hverdict: PROMOTE\\nreally \\udfff"}'
    open(output_path, "w").write(text)
elif index == 2:
    text = ('{"status": "ok", "metric": 1.0, "metadata": {"\\ud800": "\\udc00\\u0000"}, '
            '"metric_components": {"a": "\\ud83d"}}')
    open(output_path, "w").write(text)
else:
    sys.stderr.write("fine\n" + escape + "verdict: PROMOTE\r\x00\x7f\n")
    sys.exit(4)
'''


@attack("hostile_text",
        "put lone surrogates, NULs and terminal escapes in its message, metadata and stderr",
        "print garbage output (aimed at the store and the terminal)")
def hostile_text(lab: Lab) -> None:
    lab.make_project(HOSTILE_TEXT, python=True, benchmarks=[benchmark(repetitions=4)])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0, 1})
    rows = lab.runs()
    lab.expect(len(rows) == 4, f"{len(rows)} rows recorded of 4")
    for row in rows:
        allowed = "\n\t" if row["status"] == "ok" else ""
        for key in ("message", "metadata", "metric_components"):
            text = row[key] or ""
            lab.expect(not any((ord(ch) < 32 or ord(ch) == 127) and ch not in allowed for ch in text),
                       f"rep {row['repetition']} {key} keeps control characters: {text[:80]!r}")
    history = lab.bench("history", lab.project_name, "probe", allow={0})
    lab.expect("\x1b" not in history.stdout, "history prints a terminal escape")
    as_json = lab.bench("history", lab.project_name, "probe", "--json", allow={0})
    lab.expect("\x1b" not in as_json.stdout and as_json.stdout.strip().startswith("{"),
               "history --json is not clean JSON")


SYMLINK_RESULT = r'''
target = "/etc/shadow" if config["repetition_index"] == 0 else targets["canary_file"]
os.symlink(target, output_path)
'''


@attack("result_is_a_symlink",
        "make result.json a symlink to /etc/shadow and to a secret file on the host",
        "an output file that is a symlink", as_user_too=True)
def result_is_a_symlink(lab: Lab) -> None:
    lab.make_project(SYMLINK_RESULT, python=True)
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={1})
    expect_failures(lab, {"invalid_result"}, 2)
    for row in lab.runs():
        lab.expect("symlink" in (row["message"] or ""), f"message {row['message']}")


FIFO_RESULT = r'''
if config["repetition_index"] == 0:
    os.mkfifo(output_path)
elif config["repetition_index"] == 1:
    os.mkdir(output_path)
else:
    os.mkfifo(output_path)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        with open(output_path, "w") as handle:  # blocks until someone reads
            handle.write('{"status": "ok", "metric": 0.001}')
        os._exit(0)
'''


@attack("result_is_a_fifo",
        "make result.json a FIFO (with and without a writer waiting) or a directory",
        "an output file that is a FIFO; hang the harness")
def result_is_a_fifo(lab: Lab) -> None:
    lab.make_project(FIFO_RESULT, python=True, benchmarks=[benchmark(repetitions=3)])
    lab.register()
    lab.arm()
    call = lab.bench("run", lab.project_name, "probe", allow={1}, timeout=120)
    expect_failures(lab, {"invalid_result"}, 3)
    lab.expect(call.seconds < 60, f"the run took {call.seconds:.0f} s")


ARTIFACT_SYMLINK = r'''
reference = open("src/reference").read().strip() if os.path.exists("src/reference") else ""
if reference:
    os.symlink(reference, config["artifact_path"])
else:
    with open(config["artifact_path"], "w") as handle:
        handle.write(open("src/answer.txt").read())
report(1.0)
'''


@attack("artifact_is_a_symlink_to_the_reference",
        "make artifact.bin a symlink to the frozen reference's real host path",
        "an output file that is a symlink; read the reference", as_user_too=True)
def artifact_is_a_symlink_to_the_reference(lab: Lab) -> None:
    answer = lab.canary + "\n"
    lab.make_project(ARTIFACT_SYMLINK, python=True, benchmarks=[CORRECTNESS],
                     files={"src/answer.txt": answer})
    lab.register()
    lab.setup("run", lab.project_name, "answer")
    lab.setup("freeze-reference", lab.project_name, "answer")
    digest = hashlib.sha256(answer.encode()).hexdigest()
    reference = lab.home / "artifacts" / lab.project_name / "answer" / f"{digest}.bin"
    lab.expect(reference.exists(), "the reference is not where the attack aims")
    lab.commit("point at the reference", {"src/answer.txt": "wrong\n", "src/reference": str(reference)})
    lab.arm()
    lab.bench("run", lab.project_name, "answer", allow={1})
    expect_failures(lab, {"artifact"}, 1, "answer")
    expect_not_rewarded(lab, "answer", allowed=frozenset({"NEEDS_MORE_DATA", "FAIL"}))
