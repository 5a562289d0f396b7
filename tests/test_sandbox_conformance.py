"""The conformance suite every sandbox backend must pass, run against the real backends.

Each property is one test, parametrized over the backends. The ``process`` backend isolates
nothing but paths; what it cannot do is listed in KNOWN_FAILURES and expected to fail (the
dangerous ones, such as a fork bomb on the host, are not run at all).

The docker backend runs under the engine's default runtime, or under the one named by
``$BENCHSTONE_RUNTIME`` (``BENCHSTONE_RUNTIME=runsc`` runs the whole suite under gVisor).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchstone.run.protocol import InvocationConfig
from benchstone.sandbox import choose_runtime, create_backend
from benchstone.sandbox.base import (
    CONFIG_FILE,
    CorpusMount,
    Limits,
    Outcome,
    Repetition,
    RunSetSpec,
    Sandbox,
)

KNOWN_FAILURES: dict[str, set[str]] = {
    "docker": set(),
    "process": {
        "network_only_loopback", "tmp_fresh_per_repetition", "non_root",
        "store_invisible", "memory_limit", "pids_limit", "engine_socket_unreachable",
        "corpus_read_only",
    },
}
NOT_RUN_ON_HOST = {"memory_limit", "pids_limit"}
BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "process"]


@dataclass
class Harness:
    """One backend prepared for a run set, with helpers to run shell snippets as repetitions."""

    backend: Sandbox
    spec: RunSetSpec
    workdir: Path
    count: int = 0

    def run(self, script: str) -> tuple[Outcome, Path]:
        """Run ``script`` (sh) as one repetition; returns the outcome and the host's scratch dir,
        which is kept until the test ends.

        A backend whose scratch directory is not on the host (docker: a tmpfs gone with the
        container) hands over only the result and the artifact, so what the script leaves in
        its scratch directory when it ends is listed on its stdout and written back here."""
        (self.spec.project_dir / "bench" / "run.sh").write_text(
            f"(\n{script}\n)\nstatus=$?\n{_LIST_SCRATCH}\nexit $status\n")
        scratch = self.workdir / f"rep-{self.count}" / "scratch"
        scratch.mkdir(parents=True, mode=0o700)
        repetition = Repetition(index=self.count, scratch_dir=scratch,
                                log_stem=self.workdir / "logs" / f"rep{self.count}")
        self.count += 1
        layout = self.backend.layout(self.spec, repetition)
        config = InvocationConfig(benchmark="probe", seed=1, repetition_index=0,
                                  repetition_total=1,
                                  corpus_path=str(layout.corpus_path or ""))
        (scratch / CONFIG_FILE).write_text(config.to_json())
        os.chmod(scratch / CONFIG_FILE, 0o600)
        outcome = self.backend.run(self.spec, repetition)
        _write_back(outcome, scratch)
        return outcome, scratch


_MARK = "@@benchstone-test-file "
_LIST_SCRATCH = (
    'for f in "$(dirname "$2")"/*; do [ -f "$f" ] && [ ! -L "$f" ] || continue; '
    f'printf "\\n{_MARK}%s\\n" "${{f##*/}}"; cat "$f"; done; printf "\\n{_MARK}\\n"'
)


def _write_back(outcome: Outcome, scratch: Path) -> None:
    if outcome.stdout_path is None or not outcome.stdout_path.exists():
        return
    parts = outcome.stdout_path.read_text(errors="replace").split("\n" + _MARK)
    for part in parts[1:]:
        name, _, content = part.partition("\n")
        target = scratch / name
        if name and not os.path.lexists(target):
            target.write_text(content)


def _expect(request: pytest.FixtureRequest, backend: str, prop: str) -> None:
    """Mark a known failure: it still runs, and must fail (strict), unless running it on the
    host would be harmful."""
    known = KNOWN_FAILURES[backend] - ({"non_root"} if os.geteuid() != 0 else set())
    if prop in known:
        if prop in NOT_RUN_ON_HOST:
            pytest.skip(f"{backend} cannot enforce {prop}; not run on the host on purpose")
        request.applymarker(pytest.mark.xfail(reason=f"{backend} does not provide {prop}",
                                              strict=True))


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path, home: Path) -> Iterator[Harness]:
    name = request.param
    if name == "docker":
        request.getfixturevalue("docker_client")
    project = tmp_path / "export"
    (project / "bench").mkdir(parents=True)
    (project / "data.txt").write_text("committed\n")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "input.txt").write_text("corpus\n")
    os.chmod(corpus, 0o755)
    os.chmod(corpus / "input.txt", 0o644)
    for path in (tmp_path, project, project / "bench"):
        os.chmod(path, 0o755)
    workdir = tmp_path / "work"
    workdir.mkdir()
    spec = RunSetSpec(
        project="conformance", benchmark="probe", run_token=f"conformance-{os.getpid()}",
        project_dir=project, corpus=CorpusMount(corpus, True),
        invocation="sh bench/run.sh {config_path} {output_path}", entry_point="probe",
        limits=Limits(timeout_seconds=20, memory_bytes=256 * 1024**2, pids=128,
                      tmpfs_bytes=64 * 1024**2, scratch_bytes=32 * 1024**2),
        runtime=choose_runtime(None) if name == "docker" else None,
    )
    backend = create_backend(name)
    backend.prepare(spec, lambda message: None)
    home.mkdir(parents=True, exist_ok=True)
    (home / "bench.db").write_text("the store")
    try:
        yield Harness(backend, spec, workdir)
    finally:
        backend.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def test_runs_the_invocation_with_config_and_writes_the_result(harness: Harness) -> None:
    outcome, scratch = harness.run(
        'cat "$1" > /dev/null && pwd > "$(dirname "$2")/cwd" && echo \'{"status":"ok","metric":1}\' > "$2"'
    )
    assert outcome.exit_code == 0
    assert (scratch / "result.json").read_text().strip() == '{"status":"ok","metric":1}'
    assert (scratch / "cwd").read_text().strip().endswith("project")


def test_exit_code_and_stderr_are_reported(harness: Harness) -> None:
    outcome, _ = harness.run("echo 'something broke' >&2; exit 3")
    assert outcome.exit_code == 3
    assert outcome.stderr_tail == "something broke"
    assert outcome.stderr_path is not None and outcome.stderr_path.exists()
    assert outcome.stderr_path.stat().st_mode & 0o777 == 0o600


def test_corpus_readable_not_writable(harness: Harness, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "corpus_read_only")
    _outcome, scratch = harness.run(
        'dir=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\'corpus_path\'])" "$1")\n'
        'cat "$dir/input.txt" > "$(dirname "$2")/read"\n'
        'echo tampered > "$dir/input.txt" && echo wrote > "$(dirname "$2")/wrote"\n'
        "exit 0\n"
    )
    assert (scratch / "read").read_text() == "corpus\n"
    assert not (scratch / "wrote").exists()
    assert (harness.spec.corpus.host_path / "input.txt").read_text() == "corpus\n"


def test_project_read_only(harness: Harness, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "project_read_only")
    _outcome, scratch = harness.run(
        'echo changed > data.txt; touch new-file; echo done > "$(dirname "$2")/done"'
    )
    assert (scratch / "done").exists()
    assert (harness.spec.project_dir / "data.txt").read_text() == "committed\n"
    assert not (harness.spec.project_dir / "new-file").exists()


@pytest.mark.slow
def test_timeout_kills(harness: Harness) -> None:
    harness.spec = _with_timeout(harness.spec, 2)
    started = time.monotonic()
    outcome, _ = harness.run("sleep 30")
    assert outcome.timed_out
    assert time.monotonic() - started < 15


@pytest.mark.slow
def test_child_outliving_the_parent_is_killed(harness: Harness) -> None:
    outcome, scratch = harness.run('(sleep 2; touch "$(dirname "$2")/late") & exit 0')
    assert outcome.exit_code == 0
    time.sleep(3.5)
    assert not (scratch / "late").exists()


def test_non_root(harness: Harness, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "non_root")
    _outcome, scratch = harness.run('id -u > "$(dirname "$2")/uid"')
    assert int((scratch / "uid").read_text()) != 0


def test_network_only_loopback(harness: Harness, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "network_only_loopback")
    _outcome, scratch = harness.run(  # gVisor has no /sys/class/net: ask the kernel instead
        'python3 -c "import socket; print(*(n for _, n in socket.if_nameindex()))" '
        '> "$(dirname "$2")/interfaces"')
    assert (scratch / "interfaces").read_text().split() == ["lo"]


def test_tmp_fresh_per_repetition(harness: Harness, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "tmp_fresh_per_repetition")
    harness.run("echo secret > /tmp/left-behind")
    _outcome, scratch = harness.run(
        'if [ -e /tmp/left-behind ]; then echo found; else echo clean; fi > "$(dirname "$2")/tmp"'
    )
    assert (scratch / "tmp").read_text().strip() == "clean"


def test_store_invisible(harness: Harness, home: Path, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "store_invisible")
    _outcome, scratch = harness.run(
        f'cat {home}/bench.db > "$(dirname "$2")/stolen" 2>/dev/null; '
        f'ls / > "$(dirname "$2")/root"'
    )
    assert not (scratch / "stolen").read_text()


def test_engine_socket_unreachable(harness: Harness, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "engine_socket_unreachable")
    _outcome, scratch = harness.run(
        'for s in /var/run/docker.sock /run/docker.sock; do [ -e "$s" ] && echo "$s"; done '
        '> "$(dirname "$2")/sockets"; exit 0'
    )
    assert (scratch / "sockets").read_text() == ""


def test_memory_limit(harness: Harness, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "memory_limit")
    outcome, _ = harness.run('python3 -c "x = bytearray(1024 * 1024 * 1024); print(len(x))"')
    assert outcome.oom_killed or outcome.exit_code != 0
    assert outcome.oom_killed


def test_pids_limit(harness: Harness, request: pytest.FixtureRequest) -> None:
    _expect(request, harness.backend.name, "pids_limit")
    harness.spec = _with_timeout(harness.spec, 15)
    outcome, scratch = harness.run(
        'i=0; while [ $i -lt 400 ]; do sleep 30 & i=$((i+1)); done 2> "$(dirname "$2")/err"; '
        'echo "$i" > "$(dirname "$2")/spawned"; exit 0'
    )
    assert not outcome.timed_out
    if harness.backend.runtime == "runsc":
        # gVisor's processes are not the host's: the limit holds the sandbox's own threads, and
        # a fork bomb ends the whole sandbox (the runtime's status 2) instead of failing a fork
        assert outcome.exit_code == 2 and not (scratch / "spawned").exists()
        return
    assert "fork" in (scratch / "err").read_text().lower() or \
        "resource" in (scratch / "err").read_text().lower()


def test_runs_under_the_chosen_runtime(harness: Harness) -> None:
    """The runtime the backend reports is the one the repetition's kernel shows: gVisor's own
    kernel log under runsc, the host's kernel under runc."""
    if harness.backend.name != "docker":
        pytest.skip("only the docker backend has container runtimes")
    _outcome, scratch = harness.run('dmesg > "$(dirname "$2")/dmesg" 2>&1; exit 0')
    gvisor = "gVisor" in (scratch / "dmesg").read_text()
    assert harness.backend.runtime == (harness.spec.runtime or "runc")
    assert gvisor == (harness.backend.runtime == "runsc")


def test_first_process_survives_the_code_under_test(harness: Harness) -> None:
    """The container's first process keeps its deadline (``timeout``): the code under test can
    neither stop nor kill it and go on without a deadline. Under runc PID 1 ignores both signals
    and hands over the status; gVisor lets the kill through, which ends the whole container."""
    if harness.backend.name != "docker":
        pytest.skip("on the host, PID 1 is the machine's init: not signalled on purpose")
    outcome, scratch = harness.run(
        'kill -STOP 1; kill -KILL 1; echo alive > "$(dirname "$2")/alive"; sleep 1; exit 7')
    assert not outcome.timed_out
    if harness.backend.runtime == "runsc":
        assert outcome.exit_code == 137
    else:
        assert (scratch / "alive").exists()
        assert outcome.exit_code == 7  # the first process lived on to hand over the status


def test_scratch_budget(harness: Harness) -> None:
    outcome, _ = harness.run(
        'dd if=/dev/zero of="$(dirname "$2")/big" bs=1M count=64 2>/dev/null; sleep 2; exit 0'
    )
    assert outcome.scratch_exceeded


def test_stdout_flood_is_capped(harness: Harness) -> None:
    outcome, _ = harness.run("head -c 30000000 /dev/zero | tr '\\0' 'x'; echo; exit 0")
    assert outcome.exit_code == 0
    assert outcome.stdout_path is not None
    assert outcome.stdout_path.stat().st_size < 6 * 1024 * 1024


@pytest.mark.slow
def test_harness_measures_time(harness: Harness) -> None:
    outcome, _ = harness.run(
        "sleep 1; python3 -c \"import time\nt=time.process_time()\n"
        "while time.process_time() - t < 0.5: pass\""
    )
    assert outcome.wall_seconds is not None and 1.4 <= outcome.wall_seconds < 5
    if harness.backend.name == "docker" and outcome.cpu_seconds is None:
        pytest.skip("this engine does not expose the cgroup CPU time")
    assert outcome.cpu_seconds is not None and 0.4 <= outcome.cpu_seconds < 3


def _with_timeout(spec: RunSetSpec, seconds: float) -> RunSetSpec:
    from dataclasses import replace

    return replace(spec, limits=replace(spec.limits, timeout_seconds=seconds))
