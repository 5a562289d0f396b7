"""Gates beyond a single run set: compare (paired, interleaved) and explain."""

from typing import TYPE_CHECKING, Annotated

import typer

from benchstone.cli._app import (
    BenchmarkArg,
    JsonOpt,
    ProjectArg,
    SandboxOpt,
    app,
    dump,
    echo_lines,
    running_every,
    usage_error,
    warn,
)
from benchstone.kinds import exit_code_for

if TYPE_CHECKING:
    from benchstone.run.runner import Progress
    from benchstone.store.records import Run, RunSet


def _side_printer(quiet: bool, source: str = "runner"):
    """Progress for one side of a comparison: its run set header and a line per repetition
    (the gated value under a ``harness_*`` metric ``source``)."""
    from benchstone.report import render
    from benchstone.run.runner import Progress

    def for_side(side: str) -> "Progress":
        def on_start(run_set: "RunSet") -> None:
            if not quiet:
                typer.echo(f"{side:<9} {render.run_set_header(run_set)}")

        def on_repetition(run: "Run", done: int, total: int, elapsed: float) -> None:
            if not quiet:
                typer.echo(f"{side:<9} {render.run_line(run, source).strip()}  "
                           f"[pair {done}/{total}]")
                if logs := render.log_line(run, indent=" " * 10):
                    typer.echo(logs)

        def on_running(index: int, total: int, seed: int, elapsed: float) -> None:
            typer.echo(f"{side:<9} {render.running_line(index, total, seed, elapsed).strip()}",
                       err=True)

        return Progress(on_warning=warn, on_notice=lambda message: typer.echo(message, err=True),
                        on_start=on_start, on_repetition=on_repetition, on_running=on_running,
                        running_every=running_every())

    return for_side


@app.command(epilog="Example: bench compare myproject solve_speed --until-decided")
def compare(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    against: Annotated[str, typer.Option(
        "--against", metavar="baseline|REV", help="The commit to compare HEAD with: the "
        "baseline pointer's (default) or any revision.")] = "baseline",
    pairs: Annotated[int | None, typer.Option(
        "--pairs", min=1, help="Pairs to run (default: the manifest's repetitions).")] = None,
    until_decided: Annotated[bool, typer.Option(
        "--until-decided", help="Run pair after pair and stop as soon as the sequential paired "
        "test decides.")] = False,
    max_repetitions: Annotated[int | None, typer.Option(
        "--max-repetitions", min=1, help="With --until-decided: at most this many pairs "
        "(default: up to the manifest's max_repetitions for these two commits).")] = None,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="When the cores it needs are taken: wait for them, saying on "
        "stderr whose job holds them (the default), or with --no-wait fail at once "
        "(exit 5).")] = True,
    duet: Annotated[bool, typer.Option(
        "--duet", help="Run the two halves of each pair at the same time, each pinned to its "
        "own set of the benchmark's threads cores (the sets swap sides within every two pairs), so "
        "interference from the rest of the machine hits both alike. Needs twice the "
        "benchmark's threads free and a sandbox that pins (docker).")] = False,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the baseline commit and HEAD alternately, a pair at a time, and gate them paired.

    Each pair runs both trees in fresh sandboxes with the same fresh seed, in random order, so
    a drifting machine or a hard seed affects both alike (with --duet: at the same time, on
    disjoint cores). The gate is a paired test: Wilcoxon signed-rank for gate_policy rank or
    mann_whitney, else a t-test on log ratios. Pairs from earlier comparisons of the same two
    commits count too. Exits like evaluate.
    """
    from benchstone import api
    from benchstone.report import render_gates

    if until_decided and pairs is not None:
        raise usage_error("--until-decided chooses the number of pairs: use "
                          "--max-repetitions to cap it")
    if max_repetitions is not None and not until_decided:
        raise usage_error("--max-repetitions only applies with --until-decided")
    result = api.compare(project, benchmark, against=against, pairs=pairs,
                         until_decided=until_decided, max_repetitions=max_repetitions,
                         sandbox=sandbox, wait=wait, duet=duet, progress=_side_printer(
                             as_json, api.metric_source(project, benchmark)))
    dump(result) if as_json else echo_lines(render_gates.compare_lines(result))
    raise typer.Exit(exit_code_for(result.verdict.kind))


def _none_or_a_spread(value: int) -> int:
    if value == 1:
        raise typer.BadParameter("one repetition cannot show a spread: use 0 (none) or 2 and more")
    return value


@app.command(epilog="Example: bench calibrate myproject solve_speed --repetitions 20")
def calibrate(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    repetitions: Annotated[int, typer.Option(
        "--repetitions", "-n", min=2, help="Repetitions of HEAD to measure the spread on.")] = 10,
    instruction_repetitions: Annotated[int, typer.Option(
        "--instruction-repetitions", min=0, callback=_none_or_a_spread,
        help="Further repetitions under Valgrind to measure the instruction count's spread (0: "
        "none, else at least 2; each is several times slower).")] = 3,
    allow_dirty: Annotated[bool, typer.Option(
        "--allow-dirty", help="Run although the tree has uncommitted changes (the committed "
        "tree is what runs).")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="When the cores it needs are taken: wait for them (the "
        "default), or fail at once (exit 5).")] = True,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure how noisy a benchmark is here, and what its gate can detect at that noise.

    Prints the coefficient of variation of every metric source (runner metric, harness wall
    and CPU time, and the instruction count under Valgrind), the smallest gain the benchmark's
    settings detect with 80 % power within its horizon, the runs a 2 % and a 5 % gain need, and
    a recommended metric source, design and min_effect. Its run sets are on record as kind
    calibrate and never enter a verdict.
    """
    from benchstone import api
    from benchstone.cli._app import progress_printer
    from benchstone.report.render_calibration import calibration_lines

    report = api.calibrate(project, benchmark, repetitions=repetitions,
                           instruction_repetitions=instruction_repetitions,
                           allow_dirty=allow_dirty, sandbox=sandbox, wait=wait,
                           progress=progress_printer(as_json))
    if as_json:
        dump(report)
    else:
        typer.echo("")
        echo_lines(calibration_lines(report))


@app.command(epilog="Example: bench explain myproject solve_speed")
def explain(
    project: ProjectArg,
    benchmark: BenchmarkArg,
    include_dirty: Annotated[bool, typer.Option(
        "--include-dirty", help="Let rows recorded on a dirty tree into the gate.")] = False,
    allow_cross_env: Annotated[bool, typer.Option(
        "--allow-cross-env", help="Compare a performance benchmark across environments.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show why the gate says what it says: both samples as a strip plot, the test and its
    assumptions, and the power the current sample sizes give. Exits like evaluate."""
    from benchstone import api
    from benchstone.evaluate.explain import explanation_lines

    explanation = api.explain(project, benchmark, include_dirty=include_dirty,
                              allow_cross_env=allow_cross_env)
    dump(explanation) if as_json else echo_lines(explanation_lines(explanation))
    raise typer.Exit(exit_code_for(explanation.verdict.kind))
