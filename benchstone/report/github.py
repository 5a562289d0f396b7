"""GitHub Actions output for verdicts: a Markdown job summary and workflow-command annotations.

Every function takes a list of verdicts, so one ``bench evaluate`` and an evaluation of many
benchmarks render the same way. Exit codes are not this module's business: the caller keeps
them exactly as for the other formats.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchstone.errors import BenchstoneError
from benchstone.gates.verdict import Verdict, exit_code_for
from benchstone.gates.wording import signed_percent
from benchstone.kinds import FAILING_KINDS, WAITING_KINDS

SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"
ICONS = {0: "✅", 1: "❌", 2: "⏳"}


def _escape_data(text: str) -> str:
    """A workflow command's message: '%', CR and LF are encoded (GitHub's own escaping)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.4e}"


def _side(verdict: Verdict, which: str) -> str:
    sample = verdict.baseline if which == "baseline" else verdict.candidate
    if sample is None:
        return "-"
    return f"{_number(sample.mean)} (`{sample.git_sha[:10]}`, n={sample.n})"


def _improvement(verdict: Verdict) -> str:
    """The verdict's improvement (the number its reason gives), and whether it is better."""
    value = verdict.improvement
    if value is None:
        return "-"
    if value == 0:
        return signed_percent(value)
    return f"{signed_percent(value)} ({'better' if value > 0 else 'worse'})"


def _gate(verdict: Verdict) -> str:
    """The policy, its statistic, and what the statistic was held against (p and alpha, or a
    threshold on the statistic itself)."""
    parts = [verdict.policy] if verdict.policy else []
    if verdict.statistic is not None:
        name = verdict.statistic_name or "statistic"
        parts = [] if name == verdict.policy else parts
        parts.append(f"{name}={verdict.statistic:+.3g}")
    if verdict.p_value is not None:
        alpha = f" (alpha {verdict.alpha:g})" if verdict.alpha is not None else ""
        parts.append(f"p={verdict.p_value:.3g}{alpha}")
    elif verdict.statistic is not None and verdict.threshold is not None:
        parts.append(f"threshold {verdict.threshold:g}")
    return ", ".join(parts) or "-"


def summary_markdown(verdicts: Sequence[Verdict]) -> str:
    """A job summary: one table row per verdict, with both means, the change and the reason."""
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict.kind] = counts.get(verdict.kind, 0) + 1
    tally = ", ".join(f"{count} {kind}" for kind, count in counts.items()) or "no verdicts"
    lines = [
        "### benchstone",
        "",
        tally,
        "",
        "| | Benchmark | Verdict | Baseline | Candidate | Improvement | Gate | Why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for verdict in verdicts:
        icon = ICONS.get(exit_code_for(verdict.kind), "❔")
        cells = [icon, f"{verdict.project}/{verdict.benchmark}", f"**{verdict.kind}**",
                 _side(verdict, "baseline"), _side(verdict, "candidate"), _improvement(verdict),
                 _gate(verdict), verdict.reason]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def annotations(verdicts: Sequence[Verdict]) -> list[str]:
    """``::error`` for REJECT, FAIL and TAMPERED; ``::warning`` when the gate could not decide."""
    lines = []
    for verdict in verdicts:
        if verdict.kind in FAILING_KINDS:
            level = "error"
        elif verdict.kind in WAITING_KINDS:
            level = "warning"
        else:
            continue
        title = _escape_property(f"benchstone {verdict.kind}: {verdict.project}/{verdict.benchmark}")
        message = verdict.reason
        if verdict.baseline_mean is not None and verdict.candidate_mean is not None:
            message += (f" (baseline mean {_number(verdict.baseline_mean)}, candidate mean "
                        f"{_number(verdict.candidate_mean)})")
        lines.append(f"::{level} title={title}::{_escape_data(message)}")
    return lines


def publish(verdicts: Sequence[Verdict], environ: Mapping[str, str] | None = None) -> list[str]:
    """Append the summary to ``$GITHUB_STEP_SUMMARY`` when it is set; return the lines to print.

    The lines are the annotations, preceded by the summary itself when there is no summary file
    to write it to (a run outside GitHub Actions).
    """
    environ = os.environ if environ is None else environ
    markdown = summary_markdown(verdicts)
    destination = environ.get(SUMMARY_VARIABLE)
    if destination:
        try:
            with Path(destination).open("a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
        except OSError as exc:
            raise BenchstoneError(
                f"cannot append the job summary to ${SUMMARY_VARIABLE} ({destination}): "
                f"{exc.strerror or exc}",
                fix=f"point {SUMMARY_VARIABLE} at a writable file, or unset it to print the "
                    "summary") from None
        return annotations(verdicts)
    return [*markdown.rstrip("\n").splitlines(), *annotations(verdicts)]
