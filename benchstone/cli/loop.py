"""The loop: register, list, run, baseline establish, evaluate, promote, history."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from benchstone.cli._app import (
    BenchmarkArg,
    JsonOpt,
    NotesOpt,
    ProjectArg,
    SandboxOpt,
    app,
    baseline_app,
    dump,
    echo_lines,
    progress_printer,
    usage_error,
    warn,
)
from benchstone.kinds import EXPECT_MISMATCH_EXIT, VerdictKind, exit_code_for


class SeedSet(StrEnum):
    fresh = "fresh"
    baseline = "baseline"


@app.command(epilog="Example: bench register ~/src/myproject")
def register(
    path: Annotated[Path, typer.Argument(
        metavar="PATH", help="Project directory holding bench/manifest.toml.")],
    as_json: JsonOpt = False,
) -> None:
    """Register a project: pin a copy of its manifest as the trusted one.

    Only register a project whose manifest you have read: its invocation runs on every run.
    Re-registering a changed manifest pins the new version and keeps the old ones.
    """
    from benchstone import api
    from benchstone.report import render

    result = api.register(path)
    for warning in result.warnings:
        warn(warning)
    dump(result) if as_json else echo_lines(render.register_lines(result))


@app.command(epilog="Example: bench unregister myproject")
def unregister(project: ProjectArg, as_json: JsonOpt = False) -> None:
    """Stop listing and running a project; its history is kept.

    Nothing is deleted: the unregistration is recorded as an event of its own, bench history
    still shows the project's runs, and bench register PATH brings it back.
    """
    from benchstone import api

    event = api.unregister(project)
    dump(event) if as_json else typer.echo(
        f"unregistered {project} (its history is kept; bench register brings it back)")


@app.command("list", epilog="Example: bench list --json")
def list_command(
    project: Annotated[str | None, typer.Option(
        "--project", "-p", metavar="NAME", help="Only this project (it must be "
        "registered).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered projects: benchmarks, tier, gate, baseline and corpus status."""
    from benchstone import api

    projects = api.list_projects(project=project)
    if as_json:
        dump(projects)
        return
    if not projects:
        typer.echo("no projects registered (bench register PATH)")
        return
    from benchstone.report import render  # the pydantic models: only with something to show

    for project in projects:
        echo_lines(render.project_lines(project))


def _run_exit(report: Any) -> None:
    runs = report.runs
    if runs and not any(run.status == "ok" for run in runs):
        typer.echo(f"every repetition failed ({len(runs)} error row(s) recorded)", err=True)
        raise typer.Exit(1)


ForegroundOpt = Annotated[bool, typer.Option(
    "--foreground", help="Run here although the benchmark has background_required (which "
    "otherwise starts it as a background job).")]
BackgroundOpt = Annotated[bool, typer.Option(
    "--background", help="Start it as a background job and print the job id at once "
    "(bench status, bench cancel).")]
WaitOpt = Annotated[bool | None, typer.Option(
    "--wait/--no-wait", help="When the cores or GPU it needs are taken: wait for them, saying on "
    "stderr whose job holds them (the default in the foreground), or with --no-wait fail at once "
    "(exit 5). With --background, --wait queues the job; without it a full machine refuses it.",
    show_default=False)]
SeedSetOpt = Annotated[SeedSet, typer.Option(
    "--seed-set", help="fresh: seeds derived from a meta seed; baseline: the manifest's "
    "baseline_seeds (the first --repetitions of them), which the caller chose, so the run set "
    "reproduces and is never gate evidence.", case_sensitive=False)]


def _only_one_mode(foreground: bool, background: bool) -> None:
    if foreground and background:
        raise typer.BadParameter("--foreground and --background exclude each other")


def _waits(wait: bool | None, background: bool) -> bool:
    """A foreground run waits for its cores unless --no-wait; a background one only with --wait."""
    return not background if wait is None else wait


def _goes_to_background(api: Any, project: str, benchmark: str, foreground: bool) -> bool:
    """A benchmark with background_required runs as a background job unless --foreground."""
    if foreground or not api.background_required(project, benchmark):
        return False
    typer.echo(f"{project}/{benchmark} has background_required = true: starting it as a "
               "background job (--foreground runs it here)", err=True)
    return True


@app.command(epilog="Example: bench run myproject solve_speed --repetitions 10 --background")
def run(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    repetitions: Annotated[int | None, typer.Option(
        "--repetitions", "-n", min=1, help="Repetitions (default: the manifest's).")] = None,
    meta_seed: Annotated[int | None, typer.Option(
        "--meta-seed", min=0, help="Seed the run set's seeds derive from (default: random, "
        "from a secret source). A chosen one reproduces a run set, which is then never gate "
        "evidence.")] = None,
    seed_set: SeedSetOpt = SeedSet.fresh,
    allow_dirty: Annotated[bool, typer.Option(
        "--allow-dirty", help="Run although the tree has uncommitted changes; the committed tree "
        "is still what runs, the diff is saved and the rows are marked dirty.")] = False,
    foreground: ForegroundOpt = False,
    background: BackgroundOpt = False,
    wait: WaitOpt = None,
    until_decided: Annotated[bool, typer.Option(
        "--until-decided", help="Run one repetition (a pair under design = paired) at a time "
        "and evaluate after each with the sequential gate (gate_policy welch or rank, or any "
        "policy under design = paired); stop as soon as it decides. Baseline repetitions of "
        "the baseline commit run first when the gate needs them: after a promote, and "
        "interleaved when the benchmark sets baseline_grows.")] = False,
    max_repetitions: Annotated[int | None, typer.Option(
        "--max-repetitions", min=1, help="With --until-decided: run at most this many "
        "(default: up to the manifest's max_repetitions at this commit).")] = None,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a candidate run set at HEAD: one sandboxed repetition per seed, one row each.

    Under design = "paired" it runs pairs instead: the baseline pointer's commit and HEAD, each
    pair on one fresh seed in random order, and evaluate judges those pairs. After a PROMOTE of
    a welch or rank benchmark, it first runs fresh baseline repetitions of the promoted commit
    (as many as baseline_seeds lists): the next comparison's baseline.

    Runs on cores of its own, granted by the scheduler; when they are taken it waits for them
    (see --no-wait). Exits 0 when at least one repetition succeeded, 1 when every one failed
    (the error rows are still recorded), 5 on a harness error, or with --no-wait when there is
    no capacity. With --background, or for a benchmark with background_required, exits 0 once
    the job started. With --until-decided it exits like evaluate, and so does a paired run that
    could run no pair (the protected files differ from the baseline's: TAMPERED).
    """
    from benchstone import api
    from benchstone.report import render_gates

    _only_one_mode(foreground, background)
    if seed_set is SeedSet.baseline and meta_seed is not None:
        raise usage_error("--seed-set baseline runs the manifest's baseline_seeds: leave out "
                          "--meta-seed")
    if until_decided:
        if (repetitions is not None or meta_seed is not None or background
                or seed_set is not SeedSet.fresh):
            raise usage_error("--until-decided chooses the repetitions itself and runs in the "
                              "foreground: leave out --repetitions, --meta-seed, --seed-set and "
                              "--background")
        decided = api.run_until_decided(project, benchmark, max_repetitions=max_repetitions,
                                        allow_dirty=allow_dirty, sandbox=sandbox,
                                        force_foreground=foreground, wait=_waits(wait, False),
                                        progress=progress_printer(
                                            as_json, api.metric_source(project, benchmark)))
        dump(decided) if as_json else echo_lines(render_gates.until_decided_lines(decided))
        raise typer.Exit(exit_code_for(decided.verdict.kind))
    if max_repetitions is not None:
        raise usage_error("--max-repetitions only applies with --until-decided")
    implicit = not background and _goes_to_background(api, project, benchmark, foreground)
    if background or implicit:
        from benchstone.cli.jobs import report_dispatch

        report_dispatch(api.dispatch(project, benchmark, kind="run", repetitions=repetitions,
                                     meta_seed=meta_seed, allow_dirty=allow_dirty,
                                     sandbox=sandbox, wait=_waits(wait, background),
                                     seed_set=seed_set.value), as_json)
        return
    source = api.metric_source(project, benchmark)
    report = api.run(project, benchmark, repetitions=repetitions, meta_seed=meta_seed,
                     allow_dirty=allow_dirty, sandbox=sandbox, force_foreground=foreground,
                     progress=progress_printer(as_json, source), wait=_waits(wait, False),
                     seed_set=seed_set.value)
    if as_json:
        dump(report.model)
    comparison = getattr(report, "comparison", None)  # design = paired: the pairs' comparison
    if comparison is not None and comparison.pairs_run == 0:
        # no pair could run (the protected files differ): say why, and exit as evaluate would
        if not as_json:
            echo_lines(render_gates.compare_lines(comparison))
        raise typer.Exit(exit_code_for(comparison.verdict.kind))
    _run_exit(report)


@baseline_app.command("establish", epilog="Example: bench baseline establish myproject "
                      "solve_speed --at-sha v1.2.0")
def baseline_establish(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    at_sha: Annotated[str | None, typer.Option(
        "--at-sha", metavar="REV", help="Measure this commit instead of HEAD; the working tree "
        "and index are not touched.")] = None,
    repetitions: Annotated[int | None, typer.Option(
        "--repetitions", "-n", min=1, help="Repetitions (default: one per entry of the "
        "manifest's baseline_seeds).")] = None,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="As for run.")] = False,
    notes: NotesOpt = None,
    foreground: ForegroundOpt = False,
    background: BackgroundOpt = False,
    wait: WaitOpt = None,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a baseline run set and point the baseline at it.

    It runs one repetition per entry of the manifest's baseline_seeds, on fresh seeds drawn by
    the harness as a candidate's are, so that nothing tells the code which side it is on.
    Waits for its cores as run does (--no-wait fails at once); a benchmark with
    background_required starts as a background job unless --foreground.
    """
    from benchstone import api
    from benchstone.report import render

    _only_one_mode(foreground, background)
    implicit = not background and _goes_to_background(api, project, benchmark, foreground)
    if background or implicit:
        from benchstone.cli.jobs import report_dispatch

        report_dispatch(api.dispatch(project, benchmark, kind="baseline", at_sha=at_sha,
                                     repetitions=repetitions, allow_dirty=allow_dirty,
                                     sandbox=sandbox, wait=_waits(wait, background),
                                     notes=notes), as_json)
        return
    result = api.establish_baseline(project, benchmark, at_sha=at_sha, allow_dirty=allow_dirty,
                                    sandbox=sandbox, force_foreground=foreground,
                                    progress=progress_printer(
                                        as_json, api.metric_source(project, benchmark)),
                                    wait=_waits(wait, False), repetitions=repetitions, notes=notes)
    if as_json:
        dump(result.model)
    elif result.pointer is not None:
        typer.echo(f"baseline set: {project}/{benchmark} -> {render.short(result.pointer.git_sha)}"
                   f" ({result.report.ok} run(s))")
    if result.pointer is None:
        typer.echo("baseline not set: every repetition failed", err=True)
        raise typer.Exit(1)


_KIND_NAMES = ", ".join(VerdictKind)


def _verdict_kind(value: str | None) -> str | None:
    """``--expect``'s value as a verdict kind, whatever its case."""
    if value is None:
        return None
    if value.upper() not in VerdictKind.__members__:
        raise typer.BadParameter(f"{value!r} is not a verdict kind: use one of {_KIND_NAMES}")
    return VerdictKind[value.upper()].value


def _a_rate(value: float | None) -> float | None:
    """``--fdr``: a rate above 0 (its ceiling, the manifest's alpha, is checked with it)."""
    if value is not None and not 0 < value <= 1:
        raise typer.BadParameter(f"{value:g} is not a rate above 0 and at most 1")
    return value


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


@app.command(epilog="Example: bench evaluate myproject solve_speed --expect PROMOTE")
def evaluate(
    project: ProjectArg,
    benchmark: Annotated[str | None, typer.Argument(
        metavar="BENCHMARK",
        help="Benchmark name from the manifest (leave out with --all).",
        show_default=False)] = None,
    every: Annotated[bool, typer.Option(
        "--all", help="Evaluate every benchmark: one verdict each (Benjamini-Hochberg across "
        "the welch and rank ones) and an overall verdict that decides the exit code.")] = False,
    fdr: Annotated[float | None, typer.Option(
        "--fdr", callback=_a_rate, help="With --all: the false-discovery rate, above 0 and at "
        "most the smallest alpha among them (its default): stricter, never looser.")] = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Also plot both samples and describe the test and its power.")] = False,
    meta_seed: Annotated[int | None, typer.Option(
        "--meta-seed", help="Evaluate this candidate run set (default: the newest at HEAD; "
        "sigma and mann_whitney only).")] = None,
    expect: Annotated[str | None, typer.Option(
        "--expect", metavar="KIND", callback=_verdict_kind,
        help="Exit 0 when the verdict is this kind, 4 when it is not: " + _KIND_NAMES + " "
        "(any case).")] = None,
    include_dirty: Annotated[bool, typer.Option(
        "--include-dirty", help="Let rows recorded on a dirty tree into the gate.")] = False,
    allow_cross_env: Annotated[bool, typer.Option(
        "--allow-cross-env", help="Compare a performance benchmark across environments.")] = False,
    as_json: JsonOpt = False,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="text, json (as --json), or github: the text, plus a Markdown job summary "
        "appended to $GITHUB_STEP_SUMMARY and ::error annotations for REJECT/FAIL/TAMPERED.",
        case_sensitive=False)] = OutputFormat.text,
) -> None:
    """Say PROMOTE, REJECT or NEEDS_MORE_DATA (PASS/FAIL for correctness). Read-only.

    Exit codes: 0 PROMOTE/PASS, 1 REJECT/FAIL/TAMPERED, 2
    NEEDS_MORE_DATA/NO_BASELINE/NO_REFERENCE, 3 unknown verdict. With --expect KIND: 0 when the
    verdict is KIND, 4 when it is not. With --all the overall verdict decides: PROMOTE only when
    at least one benchmark improves and none regresses, FAILs, is TAMPERED or has failed
    repetitions (one without a baseline or reference yet does not block it).
    """
    from benchstone import api
    from benchstone.report import render

    if as_json and output_format is OutputFormat.github:
        raise usage_error("--json and --format github cannot be combined")
    as_json = as_json or output_format is OutputFormat.json
    if every:
        if benchmark is not None or meta_seed is not None or explain:
            raise usage_error("--all evaluates every benchmark: leave out BENCHMARK, "
                              "--meta-seed and --explain")
        from benchstone.report.render_gates import all_lines

        result = api.evaluate_all(project, include_dirty=include_dirty,
                                  allow_cross_env=allow_cross_env, fdr=fdr)
        dump(result) if as_json else echo_lines(all_lines(result))
        verdicts = result.benchmarks
        kind = result.kind
    else:
        if benchmark is None:
            raise usage_error("Missing argument 'BENCHMARK' (or pass --all to evaluate "
                              "every benchmark).")
        if fdr is not None:
            raise usage_error("--fdr only applies with --all")
        if explain:
            from benchstone.evaluate.explain import explanation_lines

            explanation = api.explain(project, benchmark, include_dirty=include_dirty,
                                      allow_cross_env=allow_cross_env)
            dump(explanation) if as_json else echo_lines(explanation_lines(explanation))
            verdicts = [explanation.verdict]
            kind = explanation.verdict.kind
        else:
            verdict = api.evaluate(project, benchmark, meta_seed=meta_seed,
                                   include_dirty=include_dirty, allow_cross_env=allow_cross_env)
            dump(verdict) if as_json else echo_lines(render.verdict_lines(verdict))
            verdicts = [verdict]
            kind = verdict.kind
    if output_format is OutputFormat.github:
        from benchstone.report import github

        echo_lines(github.publish(verdicts))
    if expect is not None:
        if kind != expect:
            typer.echo(f"expected {expect}, got {kind}", err=True)
            raise typer.Exit(EXPECT_MISMATCH_EXIT)
        raise typer.Exit(0)  # the script asked for this verdict and got it
    raise typer.Exit(exit_code_for(kind))


@app.command(epilog="Example: bench promote myproject solve_speed")
def promote(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    meta_seed: Annotated[int | None, typer.Option(
        "--meta-seed", help="The candidate run set to promote when several exist at HEAD.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Promote although the gate did not say PROMOTE (recorded as forced; "
        "never for TAMPERED).")] = False,
    notes: NotesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move the baseline pointer to the candidate run set the gate promoted."""
    from benchstone import api
    from benchstone.report import render

    result = api.promote(project, benchmark, meta_seed=meta_seed, force=force, notes=notes)
    if as_json:
        dump(result)
        return
    forced = "  (forced)" if result.pointer.forced else ""
    typer.echo(f"baseline promoted: {project}/{benchmark} -> {render.short(result.pointer.git_sha)}"
               f"  (baseline meta_seed={result.pointer.meta_seed}){forced}")


def _hex_prefix(value: str | None) -> str | None:
    if value is not None and not (0 < len(value) <= 40
                                  and all(ch in "0123456789abcdefABCDEF" for ch in value)):
        raise typer.BadParameter(f"{value!r} is not the start of a commit's hex sha")
    return value


def _time(value: str | None) -> str | None:
    if value is None:
        return None
    from benchstone.system.host import TIME_FORMATS, stored_time

    try:
        stored_time(value)
    except ValueError:
        raise typer.BadParameter(f"cannot read {value!r} as a date or time; write one of: "
                                 f"{TIME_FORMATS}") from None
    return value


@app.command(epilog="Example: bench history myproject solve_speed --limit 5 --plot history.svg")
def history(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Run sets to show.")] = 20,
    git_sha: Annotated[str | None, typer.Option(
        "--git-sha", metavar="PREFIX", callback=_hex_prefix,
        help="Only run sets at a commit whose sha starts with PREFIX.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", callback=_time,
        help="Only run sets recorded at or after WHEN: an ISO 8601 date or date and time, e.g. "
        "2025-03-01, 2025-03-01T14:30 or 2025-03-01 14:30:00, with an optional offset (+02:00) "
        "or Z; without one it is UTC, as the times shown here are.")] = None,
    plot_file: Annotated[Path | None, typer.Option(
        "--plot", metavar="FILE.png|FILE.svg", help="Also draw the metric per run set over time, "
        "with the baseline pointer's moves (needs matplotlib: benchstone's plot extra).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A textual timeline: run sets by time and commit, their metrics, and the baseline moves
    and reference freezes that named them, with their notes."""
    from benchstone import api
    from benchstone.report import plot, render

    if plot_file is not None:
        plot.check_plot_path(plot_file)
    timeline = api.timeline(project, benchmark, limit=limit, git_sha_prefix=git_sha, since=since)
    dump(timeline) if as_json else echo_lines(render.timeline_lines(timeline))
    if plot_file is not None:
        typer.echo(f"plot written: {plot.write_plot(timeline, plot_file)}", err=as_json)
