"""Engine faults, on a private engine (never the shared one): the engine stopped in the middle of
a repetition, restarted between two repetitions, and restarted in the middle of one.

What must hold: the run either recovers through retries or ends with a clear one-line harness
error (exit 5); a repetition the engine broke is never recorded as the benchmark's failure;
rows recorded before the fault are kept; the store is intact; after the engine is back,
``bench gc`` leaves no container and the next run works.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from redteam.attack import benchmark
from redteam.crash import store_problems
from redteam.lab import Lab
from redteam.private_engine import PrivateEngine

SLOW = """\
sleep "$(cat src/sleep)"
printf '{"status": "ok", "metric": 1.0}\\n' > "$3"
"""


@dataclass
class FaultResult:
    name: str
    outcome: str = ""
    details: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _running(lab: Lab) -> bool:
    try:
        client = lab.docker_client()
        try:
            return bool(client.containers.list(
                filters={"label": f"benchstone.project={lab.project_name}", "status": "running"}))
        finally:
            client.close()
    except Exception:
        return False


def _scenario(base: Path, engine: PrivateEngine, name: str, sleep: float, repetitions: int,
              fault) -> FaultResult:
    result = FaultResult(name)
    lab = Lab(base / name, name, docker_host=engine.host)
    try:
        lab.make_project(SLOW, files={"src/sleep": f"{sleep}\n"},
                         benchmarks=[benchmark(repetitions=repetitions, timeout_seconds=60)])
        lab.register()
        process = subprocess.Popen(
            [sys.executable, "-m", "benchstone", "run", lab.project_name, "probe", "--sandbox",
             "docker"], cwd=lab.root, env=lab.environment(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        fault(lab, process)
        _stdout, stderr = process.communicate(timeout=600)
        if not engine.answers():
            engine.start()
        rows = lab.runs()
        errors = [row for row in rows if row["status"] != "ok"]
        if process.returncode == 0 and len(rows) == repetitions and not errors:
            result.outcome = "recovered through retries"
        elif process.returncode == 5:
            result.outcome = "clear harness error"
            lines = stderr.strip().splitlines()
            if not lines or not lines[0].startswith("error: ") or len(lines) > 2 \
                    or "Traceback" in stderr or "internal error" in stderr:
                result.problems.append(f"not a one-line harness error: {stderr.strip()[-300:]}")
        else:
            result.problems.append(f"bench run exited {process.returncode}: {stderr.strip()[-300:]}")
        for row in errors:
            result.problems.append(f"the engine's fault was recorded as the benchmark's: rep "
                                   f"{row['repetition']} {row['failure']} ({row['message']})")
        result.details = f"exit {process.returncode}, {len(rows)} of {repetitions} rows kept" + (
            f": {stderr.strip().splitlines()[0][:160]}" if process.returncode else "")
        result.problems += store_problems(lab.home / "bench.db")
        gc = lab.bench("gc")
        if gc.returncode != 0 or lab.containers():
            result.problems.append(f"containers left after bench gc: {gc.describe()}")
        if list(lab.tmp.iterdir()):
            result.problems.append("work directories left after bench gc")
        after = lab.bench("run", lab.project_name, "probe", sandbox="docker")
        if after.returncode != 0 or [row["status"] for row in lab.runs()] != ["ok"] * repetitions:
            result.problems.append(f"the next run failed: {after.describe()}")
        with lab.database() as db:
            total = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        if total != len(rows) + repetitions:
            result.problems.append(f"rows were lost: {total} in the store")
    finally:
        lab.close()
    return result


def _after_first_row(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "[1/" in line or not line:
            return


def stopped_mid_run(base: Path, engine: PrivateEngine) -> FaultResult:
    def fault(lab: Lab, process: subprocess.Popen[str]) -> None:
        _after_first_row(process)
        _wait_for(lambda: _running(lab), 120)
        time.sleep(0.5)
        engine.stop()
        process.wait(timeout=300)  # the run must end on its own while the engine is down

    return _scenario(base, engine, "engine_stopped_mid_run", 3.0, 3, fault)


def restarted_between_repetitions(base: Path, engine: PrivateEngine) -> FaultResult:
    def fault(lab: Lab, process: subprocess.Popen[str]) -> None:
        _after_first_row(process)
        engine.restart()

    return _scenario(base, engine, "engine_restarted_between_repetitions", 0.2, 4, fault)


def restarted_mid_repetition(base: Path, engine: PrivateEngine) -> FaultResult:
    def fault(lab: Lab, process: subprocess.Popen[str]) -> None:
        _after_first_row(process)
        _wait_for(lambda: _running(lab), 120)
        time.sleep(0.5)
        engine.restart()

    return _scenario(base, engine, "engine_restarted_mid_repetition", 3.0, 3, fault)


SCENARIOS = [stopped_mid_run, restarted_between_repetitions, restarted_mid_repetition]


def campaign(base: Path, image: str = "benchstone-runner:python", say=lambda line: None
             ) -> list[FaultResult]:
    """Start a private engine, copy the runner image in, play every scenario, clean up."""
    engine = PrivateEngine()
    try:
        engine.start()
        engine.load_image(image)
        results = []
        for scenario in SCENARIOS:
            result = scenario(base, engine)
            say(f"  {result.name:<38} {result.outcome or 'FAILED':<26} {result.details}")
            for problem in result.problems:
                say(f"      {problem}")
            results.append(result)
        return results
    finally:
        engine.close()
