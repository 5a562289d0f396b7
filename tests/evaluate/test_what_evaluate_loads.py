"""``bench evaluate`` of run sets already recorded loads what judging them needs: not the
runner, the sandboxes or the code that runs pairs, nor the text of other commands.

Checked in a fresh interpreter through ``sys.modules``, not timed: ``make perf`` times it
(tests/perf/perf_evaluate.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from stored_runs import stored_runs, wobbled

LOADED_BY = """
import contextlib, io, json, sys
from benchstone.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "output": out.getvalue(),
                  "roots": sorted({name.split(".")[0] for name in sys.modules}),
                  "benchstone": sorted(n for n in sys.modules if n.startswith("benchstone"))}))
"""

NOT_FOR_JUDGING = ("benchstone.run.runner", "benchstone.sandbox.docker", "benchstone.sandbox",
                   "benchstone.evaluate.compare", "benchstone.evaluate.duet",
                   "benchstone.evaluate.explain", "benchstone.evaluate.all_benchmarks",
                   "benchstone.report.render_gates", "benchstone.report.github",
                   "benchstone.project.history", "benchstone.jobs.scheduler")


def test_evaluate_of_recorded_runs_loads_neither_the_runner_nor_other_commands(
        make_project, home) -> None:
    with stored_runs(make_project, home) as state:
        state.establish("speedw", wobbled(1.0, 10))
        state.commit()
        state.record("speedw", [v * 0.9 for v in wobbled(1.0, 8, first_seed=20)])
        root = state.root
    env = {**os.environ, "BENCHSTONE_HOME": str(home), "BENCHSTONE_SERVICE": "local"}
    done = subprocess.run([sys.executable, "-c", LOADED_BY, "evaluate", "toy", "speedw"],
                          capture_output=True, text=True, check=True, timeout=120, cwd=root,
                          env=env)
    loaded = json.loads(done.stdout)
    assert loaded["code"] == 0 and loaded["output"].startswith("verdict: PROMOTE"), loaded["output"]
    assert [name for name in NOT_FOR_JUDGING if name in loaded["benchstone"]] == []
    assert [name for name in ("docker", "scipy", "sqlite_utils") if name in loaded["roots"]] == []
