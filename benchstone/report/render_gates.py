"""Text for the gate commands (evaluate --all, compare, run --until-decided, explain).
Every function returns lines; only the CLI prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchstone.kinds import VerdictKind
from benchstone.report.render import short, verdict_lines

if TYPE_CHECKING:  # read only: importing them would load the runner for evaluate --all's text
    from benchstone.evaluate.all_benchmarks import AllVerdict
    from benchstone.evaluate.compare import CompareResult
    from benchstone.evaluate.until_decided import UntilDecidedResult


def all_lines(result: AllVerdict) -> list[str]:
    lines = [f"overall: {result.kind}  {result.reason}"]
    if result.fdr is not None:
        lines.append(f"  false-discovery rate {result.fdr:g} (Benjamini-Hochberg) across the "
                     "calibrated benchmarks")
    for verdict in result.benchmarks:
        lines.append("")
        lines.append(f"{verdict.benchmark}:")
        lines.extend(f"  {line}" for line in verdict_lines(verdict))
    lines.extend(f"warning: {warning}" for warning in result.warnings)
    return lines


def compare_lines(result: CompareResult) -> list[str]:
    lines = verdict_lines(result.verdict)
    lines.append(f"  compared {short(result.baseline_sha)} (baseline) with "
                 f"{short(result.candidate_sha)} (candidate): {result.pairs_run} pair(s) run now, "
                 f"{result.pairs_total} in the gate")
    if result.comparison_id is not None and result.design == "duet":
        cores = "  ".join(f"{b}|{c}" for b, c in result.duet_cores)
        lines.append(f"  comparison {result.comparison_id}  meta_seed={result.meta_seed}  "
                     f"duet, cores baseline|candidate in each pair: {cores}")
    elif result.comparison_id is not None:
        firsts = "".join("B" if side == "baseline" else "C" for side in result.first_sides)
        lines.append(f"  comparison {result.comparison_id}  meta_seed={result.meta_seed}  "
                     f"first in each pair: {firsts}")
    return lines


def until_decided_lines(result: UntilDecidedResult) -> list[str]:
    lines = verdict_lines(result.verdict)
    state = "still undecided" if result.verdict.kind == VerdictKind.NEEDS_MORE_DATA else "decided"
    lines.append(f"  {state} after {result.repetitions} repetition(s) in this run "
                 f"({result.total} ok candidate run(s) at this commit in the gate)")
    if result.baseline_repetitions:
        lines.append(f"  and {result.baseline_repetitions} baseline repetition(s) of the "
                     "baseline commit")
    return lines
