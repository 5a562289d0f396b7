"""The loop: register, list, run, baseline establish, evaluate, promote, history."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from benchstone.cli._app import (
    BenchmarkArg,
    JsonOpt,
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


@app.command(epilog="Example: bench register ~/src/myproject")
def register(
    path: Annotated[Path, typer.Argument(help="Project directory holding bench/manifest.toml.")],
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


@app.command("list", epilog="Example: bench list --json")
def list_command(as_json: JsonOpt = False) -> None:
    """List registered projects: benchmarks, tier, gate, baseline and corpus status."""
    from benchstone import api
    from benchstone.report import render

    projects = api.list_projects()
    if as_json:
        dump(projects)
        return
    if not projects:
        typer.echo("no projects registered (bench register PATH)")
    for project in projects:
        echo_lines(render.project_lines(project))


def _run_exit(report: Any) -> None:
    runs = report.runs
    if runs and not any(run.status == "ok" for run in runs):
        typer.echo(f"every repetition failed ({len(runs)} error row(s) recorded)", err=True)
        raise typer.Exit(1)


ForegroundOpt = Annotated[bool, typer.Option(
    "--foreground", help="Run here even if the benchmark has background_required.")]
BackgroundOpt = Annotated[bool, typer.Option(
    "--background", help="Start it as a background job and print the job id at once "
    "(bench status, bench cancel).")]
WaitOpt = Annotated[bool, typer.Option(
    "--wait", help="When the cores or GPU it needs are taken, queue until they free up instead "
    "of refusing.")]


def _only_one_mode(foreground: bool, background: bool) -> None:
    if foreground and background:
        raise typer.BadParameter("--foreground and --background exclude each other")


@app.command(epilog="Example: bench run myproject solve_speed --repetitions 10 --background")
def run(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    repetitions: Annotated[int | None, typer.Option(
        "--repetitions", "-n", min=1, help="Repetitions (default: the manifest's).")] = None,
    meta_seed: Annotated[int | None, typer.Option(
        "--meta-seed", min=0, help="Seed the run set's seeds derive from (default: random).")] = None,
    allow_dirty: Annotated[bool, typer.Option(
        "--allow-dirty", help="Run although the tree has uncommitted changes; the committed tree "
        "is still what runs, the diff is saved and the rows are marked dirty.")] = False,
    foreground: ForegroundOpt = False,
    background: BackgroundOpt = False,
    wait: WaitOpt = False,
    until_decided: Annotated[bool, typer.Option(
        "--until-decided", help="Run one repetition at a time and evaluate after each with the "
        "sequential gate (gate_policy welch or rank); stop as soon as it decides.")] = False,
    max_repetitions: Annotated[int | None, typer.Option(
        "--max-repetitions", min=1, help="With --until-decided: run at most this many "
        "(default: up to the manifest's max_repetitions at this commit).")] = None,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a candidate run set at HEAD: one sandboxed repetition per seed, one row each.

    Runs on cores of its own, granted by the scheduler. Exits 0 when at least one repetition
    succeeded, 1 when every one failed (the error rows are still recorded), 5 on a harness error
    or when there is no capacity (see --wait). With --background, exits 0 once the job started.
    With --until-decided it exits like evaluate.
    """
    from benchstone import api
    from benchstone.report import render_gates

    _only_one_mode(foreground, background)
    if until_decided:
        if repetitions is not None or meta_seed is not None or background:
            raise usage_error("--until-decided chooses the repetitions itself and runs in the "
                              "foreground: leave out --repetitions, --meta-seed and --background")
        decided = api.run_until_decided(project, benchmark, max_repetitions=max_repetitions,
                                        allow_dirty=allow_dirty, sandbox=sandbox,
                                        force_foreground=foreground, wait=wait,
                                        progress=progress_printer(as_json))
        dump(decided) if as_json else echo_lines(render_gates.until_decided_lines(decided))
        raise typer.Exit(exit_code_for(decided.verdict.kind))
    if max_repetitions is not None:
        raise usage_error("--max-repetitions only applies with --until-decided")
    if background:
        from benchstone.cli.jobs import report_dispatch

        report_dispatch(api.dispatch(project, benchmark, kind="run", repetitions=repetitions,
                                     meta_seed=meta_seed, allow_dirty=allow_dirty,
                                     sandbox=sandbox, wait=wait), as_json)
        return
    report = api.run(project, benchmark, repetitions=repetitions, meta_seed=meta_seed,
                     allow_dirty=allow_dirty, sandbox=sandbox, force_foreground=foreground,
                     progress=progress_printer(as_json), wait=wait)
    if as_json:
        dump(report.model)
    _run_exit(report)


@baseline_app.command("establish", epilog="Example: bench baseline establish myproject "
                      "solve_speed --at-sha v1.2.0")
def baseline_establish(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    at_sha: Annotated[str | None, typer.Option(
        "--at-sha", metavar="REV", help="Measure this commit instead of HEAD; the working tree "
        "and index are not touched.")] = None,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="As for run.")] = False,
    foreground: ForegroundOpt = False,
    background: BackgroundOpt = False,
    wait: WaitOpt = False,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the manifest's baseline_seeds and point the baseline at that run set."""
    from benchstone import api
    from benchstone.report import render

    _only_one_mode(foreground, background)
    if background:
        from benchstone.cli.jobs import report_dispatch

        report_dispatch(api.dispatch(project, benchmark, kind="baseline", at_sha=at_sha,
                                     allow_dirty=allow_dirty, sandbox=sandbox, wait=wait), as_json)
        return
    result = api.establish_baseline(project, benchmark, at_sha=at_sha, allow_dirty=allow_dirty,
                                    sandbox=sandbox, force_foreground=foreground,
                                    progress=progress_printer(as_json), wait=wait)
    if as_json:
        dump(result.model)
    elif result.pointer is not None:
        typer.echo(f"baseline set: {project}/{benchmark} -> {render.short(result.pointer.git_sha)}"
                   f" ({result.report.ok} run(s))")
    if result.pointer is None:
        typer.echo("baseline not set: every repetition failed", err=True)
        raise typer.Exit(1)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


@app.command(epilog="Example: bench evaluate myproject solve_speed --expect PROMOTE")
def evaluate(
    project: ProjectArg,
    benchmark: Annotated[str | None, typer.Argument(
        help="Benchmark name from the manifest (leave out with --all).",
        show_default=False)] = None,
    every: Annotated[bool, typer.Option(
        "--all", help="Evaluate every benchmark: one verdict each (Benjamini-Hochberg across "
        "the welch and rank ones) and an overall verdict that decides the exit code.")] = False,
    fdr: Annotated[float | None, typer.Option(
        "--fdr", min=0.0, max=0.5, help="With --all: the false-discovery rate (default: the "
        "smallest alpha among them).")] = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Also plot both samples and describe the test and its power.")] = False,
    meta_seed: Annotated[int | None, typer.Option(
        "--meta-seed", help="Evaluate this candidate run set (default: the newest at HEAD; "
        "sigma and mann_whitney only).")] = None,
    expect: Annotated[VerdictKind | None, typer.Option(
        "--expect", help="Exit 4 unless the verdict is this kind.", case_sensitive=False)] = None,
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

    Exit codes: 0 PROMOTE/PASS, 1 REJECT/FAIL/TAMPERED, 2 NEEDS_MORE_DATA/NO_BASELINE/
    NO_REFERENCE, 3 unknown verdict, 4 --expect mismatch. With --all the overall verdict
    decides: PROMOTE only when at least one benchmark improves and none regresses or fails.
    """
    from benchstone import api
    from benchstone.evaluate.explain import explanation_lines
    from benchstone.report import github, render, render_gates

    if as_json and output_format is OutputFormat.github:
        raise usage_error("--json and --format github cannot be combined")
    as_json = as_json or output_format is OutputFormat.json
    if every:
        if benchmark is not None or meta_seed is not None or explain:
            raise usage_error("--all evaluates every benchmark: leave out BENCHMARK, "
                              "--meta-seed and --explain")
        result = api.evaluate_all(project, include_dirty=include_dirty,
                                  allow_cross_env=allow_cross_env, fdr=fdr)
        dump(result) if as_json else echo_lines(render_gates.all_lines(result))
        verdicts = result.benchmarks
        kind = result.kind
    else:
        if benchmark is None:
            raise usage_error("Missing argument 'BENCHMARK' (or pass --all to evaluate "
                              "every benchmark).")
        if fdr is not None:
            raise usage_error("--fdr only applies with --all")
        if explain:
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
        echo_lines(github.publish(verdicts))
    if expect is not None and kind != expect.value:
        typer.echo(f"expected {expect.value}, got {kind}", err=True)
        raise typer.Exit(EXPECT_MISMATCH_EXIT)
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
    as_json: JsonOpt = False,
) -> None:
    """Move the baseline pointer to the candidate run set the gate promoted."""
    from benchstone import api
    from benchstone.report import render

    result = api.promote(project, benchmark, meta_seed=meta_seed, force=force)
    if as_json:
        dump(result)
        return
    forced = "  (forced)" if result.pointer.forced else ""
    typer.echo(f"baseline promoted: {project}/{benchmark} -> {render.short(result.pointer.git_sha)}"
               f"  (baseline meta_seed={result.pointer.meta_seed}){forced}")


@app.command(epilog="Example: bench history myproject solve_speed --limit 5 --plot history.svg")
def history(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Run sets to show.")] = 20,
    plot_file: Annotated[Path | None, typer.Option(
        "--plot", metavar="FILE.png|FILE.svg", help="Also draw the metric per run set over time, "
        "with the baseline pointer's moves (needs matplotlib: benchstone's plot extra).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A textual timeline: run sets by time and commit, their metrics, and baseline moves."""
    from benchstone import api
    from benchstone.report import plot, render

    if plot_file is not None:
        plot.check_plot_path(plot_file)
    timeline = api.timeline(project, benchmark, limit=limit)
    dump(timeline) if as_json else echo_lines(render.timeline_lines(timeline))
    if plot_file is not None:
        typer.echo(f"plot written: {plot.write_plot(timeline, plot_file)}", err=as_json)
