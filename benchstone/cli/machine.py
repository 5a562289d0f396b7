"""The machine: doctor, gc, image build, image list, demo."""

from pathlib import Path
from typing import Annotated

import typer

from benchstone.cli._app import (
    JsonOpt,
    app,
    dump,
    echo_lines,
    image_app,
    progress_printer,
    usage_error,
)
from benchstone.kinds import VerdictKind


@app.command(epilog="Example: bench doctor --fix --runtime runsc")
def doctor(
    fix: Annotated[bool, typer.Option(
        "--fix", help="Repair what can be: install and start the engine (as root), build a "
        "missing runner image, make the state directory private.")] = False,
    offline: Annotated[bool, typer.Option(
        "--offline", help="With --fix, build the image from Debian packages, without trying "
        "a registry.")] = False,
    service: Annotated[bool, typer.Option(
        "--service", help="With --fix, also install the harness service (as root; the same "
        "as bench service install with its defaults).")] = False,
    runtime: Annotated[str | None, typer.Option(
        "--runtime", metavar="NAME", help="Also check the container runtime NAME (runsc: "
        "gVisor); with --fix, install it and register it with the engine (as root).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the machine: engine, cgroups, container runtimes, runner image, NVIDIA runtime,
    state directory.

    Exits 0 when every check passes, 1 otherwise; each failing check says how to fix it.
    """
    from benchstone import api
    from benchstone.report import render_machine

    if service:
        if not fix:
            raise usage_error("--service installs the harness service: use it with --fix")
        from benchstone.service.install import Layout, install

        for line in install(Layout()):
            typer.echo(f"service: {line}", err=True)

    checks = api.doctor(repair=fix, offline=True if offline else None, runtime=runtime,
                        notify=lambda message: typer.echo(message, err=True))
    dump(checks) if as_json else echo_lines(render_machine.doctor_lines(checks))
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command(epilog="Example: bench gc")
def gc(
    every: Annotated[bool, typer.Option(
        "--all", help="Also remove containers of benchstone processes still running on this "
        "host (stops their repetitions).")] = False,
) -> None:
    """Remove sandbox containers and work directories left behind by a benchstone process that
    is gone, and the corpus snapshots no running benchmark uses (made again when needed)."""
    from benchstone import api
    from benchstone.report import render_machine

    echo_lines(render_machine.leftovers_lines(api.gc(include_live=every)))


@image_app.command("build", epilog="Example: bench image build --offline")
def image_build(
    offline: Annotated[bool | None, typer.Option(
        "--offline/--online", help="Debian packages (debootstrap, as root) or a registry base; "
        "default: the registry, falling back to Debian packages.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if current.")] = False,
    mirror: Annotated[str | None, typer.Option(
        "--mirror", help="Debian mirror for the offline build.")] = None,
) -> None:
    """Build the runner image, only when it is missing or its recipe changed (or --force).

    A rebuilt image has a new id: runs made in different images are never compared, so
    establish new baselines afterwards.
    """
    from benchstone import api
    from benchstone.report import render_machine

    state = api.build_image(offline=offline, force=force, mirror=mirror,
                            notify=lambda message: typer.echo(message, err=True))
    typer.echo(render_machine.image_built_line(state))


@image_app.command("list", epilog="Example: bench image list")
def image_list(as_json: JsonOpt = False) -> None:
    """List the images built from benchstone's recipes, and whether each is current."""
    from benchstone import api
    from benchstone.report import render_machine

    states = api.list_images()
    if as_json:
        dump(render_machine.image_dicts(states))
    else:
        echo_lines(render_machine.image_lines(states))


@app.command(epilog="Example: bench demo --keep /tmp/benchstone-demo")
def demo(
    keep: Annotated[Path | None, typer.Option(
        "--keep", metavar="DIR", help="Keep the demo project and its state in DIR.")] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Build the runner image from Debian packages only.")] = False,
) -> None:
    """Run the whole loop on a bundled project, in containers, printing each verdict.

    Installs and starts the engine if needed (as root) and builds the runner image if missing.
    Uses its own temporary state directory: your store is not touched.
    """
    from benchstone.demo.loop import run_demo

    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    verdicts = run_demo(typer.echo, progress_printer(False), workdir=keep,
                        offline=True if offline else None)
    if verdicts != {"wrong": VerdictKind.REJECT, "sieve": VerdictKind.PROMOTE}:
        typer.echo(f"unexpected verdicts: {verdicts}", err=True)
        raise typer.Exit(1)
