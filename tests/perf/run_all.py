"""`make perf`: run every tests/perf/perf_*.py in turn; each prints its own figures.

Exits non-zero if any benchmark script missed its target (they exit non-zero themselves).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

failed = []
for script in sorted(Path(__file__).parent.glob("perf_*.py")):
    print(f"\n=== {script.stem} ===", flush=True)
    if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
        failed.append(script.stem)
if failed:
    print(f"\nmissed targets: {', '.join(failed)}")
sys.exit(1 if failed else 0)
