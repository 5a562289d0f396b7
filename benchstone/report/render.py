"""Human-readable text for the CLI. Every function returns lines; only the CLI prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchstone.gates.wording import confidence, percent, signed_percent
from benchstone.kinds import VerdictKind

if TYPE_CHECKING:  # the models render reads; importing them would load every command's models
    from benchstone.gates.verdict import Verdict
    from benchstone.project.history import Timeline
    from benchstone.project.summaries import ProjectSummary, RegisterResult
    from benchstone.store.records import Corpus, ReferenceEvent, Run, RunSet


def short(sha: str | None, width: int = 10) -> str:
    return sha[:width] if sha else "-"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.4e}"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s" if value >= 1 else f"{value:.3f}s"


def when(timestamp: str) -> str:
    return timestamp[:19].replace("T", " ")


def run_set_header(run_set: RunSet) -> str:
    # a side of a paired comparison says which; a reproduction says it is no gate evidence
    side = f"  side={run_set.side}" if run_set.side else ""
    chosen = ("  (seeds chosen by the caller: a reproduction, never gate evidence)"
              if run_set.caller_seeds else "")
    return (f"dispatched {run_set.repetitions} run(s)  git_sha={short(run_set.git_sha)}  "
            f"dirty={run_set.git_dirty}  meta_seed={run_set.meta_seed}  "
            f"sandbox={run_set.sandbox}{side}{chosen}")


def run_line(run: Run, source: str = "runner") -> str:
    """One repetition; under a ``harness_*`` metric source, with the value its gate uses."""
    head = f"  run={run.id} rep={run.repetition} seed={run.seed}"
    if run.status == "ok":
        line = f"{head} metric={number(run.metric)} wall={seconds(run.harness_wall_seconds)}"
        if source != "runner":
            line += f" gated={number(run.gated_value(source))} ({source})"
        return line
    return f"{head} error ({run.failure}): {run.message}"


def log_line(run: Run, indent: str = "    ") -> str | None:
    """Where the harness kept an error row's output (None for an ok row, or when nothing was
    kept): the runner's stderr, then its stdout, each capped at its first 4 MiB and last 256 KiB."""
    if run.status == "ok":
        return None
    kept = [f"{name} {path}" for name, path in (("stderr", run.stderr_path),
                                                ("stdout", run.stdout_path)) if path]
    return f"{indent}logs: {', '.join(kept)}" if kept else None


def running_line(index: int, total: int, seed: int, elapsed: float) -> str:
    """A repetition still running, ``elapsed`` seconds after it started."""
    return f"  rep={index} seed={seed} running for {elapsed:.0f}s  [{index + 1}/{total}]"


def _share(value: float) -> str:
    """A fraction as a percentage with one decimal; early intervals' far ends are not worth it."""
    if abs(value) >= 10:
        return ">1000%" if value > 0 else "<-1000%"
    return f"{value:.1%}"


def headline(verdict: Verdict) -> str | None:
    """The plain reading of a sequential verdict: how much better or worse, how sure, and after
    how many runs (``9.9% faster (98% CI 7.1% to 12.6%), decided after 3 of at most 20 runs``).
    None for the seed's gates, whose reason is the original's line."""
    seq = verdict.sequential
    if seq is None or verdict.kind not in (VerdictKind.PROMOTE, VerdictKind.REJECT,
                                           VerdictKind.NEEDS_MORE_DATA):
        return None
    parts = []
    value = verdict.improvement
    if value is not None:
        good, bad = (("faster", "slower") if verdict.tier == "performance"
                     and verdict.direction == "minimize" else ("better", "worse"))
        amount = f"{_share(abs(value))} {good if value > 0 else bad}" if value else "no change"
        if verdict.effect_ci is not None and seq.boundary:
            low, high = verdict.effect_ci
            amount += f" ({confidence(seq.boundary)} CI {_share(low)} to {_share(high)})"
        parts.append(amount)
    if verdict.kind == VerdictKind.NEEDS_MORE_DATA:
        parts.append(f"undecided after {seq.runs} of at most {seq.horizon} runs")
    else:
        parts.append(f"decided after {min(seq.look, seq.runs)} of at most {seq.horizon} runs")
    return ", ".join(parts)


def verdict_lines(verdict: Verdict) -> list[str]:
    plain = headline(verdict)
    if plain is None:
        lines = [f"verdict: {verdict.kind}  {verdict.reason}".rstrip()]
    else:
        lines = [f"verdict: {verdict.kind}  {plain}", f"  why: {verdict.reason}"]
    b, c = verdict.baseline, verdict.candidate
    if b is not None and c is not None and (b.mean is not None or c.mean is not None):
        source = "" if verdict.metric_source == "runner" else f" ({verdict.metric_source})"
        lines.append(f"  baseline mean={number(b.mean)}  candidate mean={number(c.mean)}{source}")
        lines.append(f"  baseline {short(b.git_sha)} n={b.n}  candidate {short(c.git_sha)} "
                     f"n={c.n}" + ("" if c.meta_seed is None else f" meta_seed={c.meta_seed}"))
    if verdict.effect is not None and verdict.p_value is not None:
        ci = verdict.effect_ci
        ci_text = f"  interval [{percent(ci[0])}, {percent(ci[1])}]" if ci else ""
        lines.append(f"  improvement {signed_percent(verdict.effect)}{ci_text}  p={verdict.p_value:.4g}")
    if verdict.sequential is not None:
        seq = verdict.sequential
        power = (f"; chance of a PROMOTE within the horizon {seq.conditional_power:.0%}"
                 if seq.conditional_power is not None and verdict.kind != VerdictKind.PROMOTE else "")
        lines.append(f"  sequential {seq.test}: {seq.runs} candidate run(s) of at most "
                     f"{seq.horizon}{power}")
    lines.extend(f"  {detail}" for detail in verdict.details)
    lines.extend(f"  warning: {warning}" for warning in verdict.warnings)
    return lines


def project_lines(project: ProjectSummary) -> list[str]:
    lines = [f"{project.name}  {project.path}  manifest sha256:{short(project.manifest_sha256, 12)}"]
    for bench in project.benchmarks:
        pinned = (f"reference {short(bench.reference_sha256, 12)}" if bench.tier == "correctness"
                  else f"baseline {short(bench.baseline_sha)}")
        lines.append(f"  {bench.name:<28} {bench.tier:<12} {bench.gate_policy or '-':<17} "
                     f"{pinned:<22} corpus {bench.corpus}")
    return lines


def register_lines(result: RegisterResult) -> list[str]:
    verb = "registered" if result.changed else "already registered"
    lines = [f"{verb} {result.name}  {result.path}",
             f"  manifest: sha256:{short(result.manifest_sha256, 12)}"]
    if result.previous_manifest_sha256:
        lines.append(f"  (replaces sha256:{short(result.previous_manifest_sha256, 12)}; "
                     "the old copy is kept)")
    for bench in result.benchmarks:
        detail = f" ({bench.corpus_detail})" if bench.corpus_detail else ""
        lines.append(f"  {bench.name}: {bench.tier}, corpus {bench.corpus}{detail}")
    return lines


def _notes(notes: str | None) -> str:
    return f" notes: {' '.join(notes.split())}" if notes else ""


def timeline_lines(timeline: Timeline) -> list[str]:
    current = timeline.current_baseline
    lines = [f"{timeline.project}/{timeline.benchmark}  baseline: "
             + (f"{short(current.git_sha)} (run set {current.run_set_id})" if current else "none")]
    filtered = timeline.git_sha_prefix is not None or timeline.since is not None
    if not timeline.entries:
        lines.append("  no run set matches --git-sha/--since" if filtered else "  no runs yet")
    source = timeline.metric_source
    gated = "" if source == "runner" else f" ({source})"
    for entry in timeline.entries:
        rs = entry.run_set
        ok = [value for run in entry.runs
              if run.status == "ok" and (value := run.gated_value(source)) is not None]
        mean = sum(ok) / len(ok) if ok else None
        flags = " dirty" if rs.git_dirty else ""
        marks = "".join(
            f"  <- baseline ({event.action}{', forced' if event.forced else ''} "
            f"{when(event.created_at)}){_notes(event.notes)}" for event in entry.baseline_events
        ) + "".join(
            f"  <- reference ({event.action} {when(event.created_at)}, run {event.run_id})"
            f"{_notes(event.notes)}" for event in entry.reference_events
        )
        lines.append(
            f"  {when(rs.created_at)}  set {rs.id:<5} {rs.kind:<8} {short(rs.git_sha)}  "
            f"meta_seed={rs.meta_seed}  {len(ok)}/{rs.repetitions} ok  mean={number(mean)}"
            f"{gated}{flags}{marks}"
        )
        for run in entry.runs:
            if run.status != "ok":
                lines.append(f"    {run_line(run).strip()}")
                if logs := log_line(run, indent="      "):
                    lines.append(logs)
    return lines


def reference_lines(events: list[ReferenceEvent]) -> list[str]:
    if not events:
        return ["no reference has been frozen"]
    return [
        f"{when(e.created_at)}  {e.action:<7} {short(e.git_sha)}  "
        f"{short(e.old_sha256, 12)} -> {short(e.new_sha256, 12)}  by {e.user}@{e.host}"
        + (f"  reason: {e.reason}" if e.reason else "") + (f" {_notes(e.notes)}" if e.notes else "")
        for e in events
    ]


def corpus_added_line(record: Corpus) -> str:
    return f"corpus {record.name} = {record.sha256}"


def corpus_replaced_warning(name: str, before: Corpus) -> str:
    """What ``corpus add`` warns when NAME now names other content than it did."""
    return (f"warning: {name} named {before.sha256[:19]} until now: runs from here on "
            "read the new content and are never judged against baselines measured on the old "
            f"one (bench baseline establish P B for each benchmark with corpus = \"{name}\")")


def corpus_lines(records: list[Corpus]) -> list[str]:
    lines = [] if records else ["no harness-owned corpora (bench corpus add NAME PATH)"]
    return lines + [f"{record.name:<24} {record.sha256[:19]}  added {when(record.added_at)}"
                    f"  from {record.source}" for record in records]
