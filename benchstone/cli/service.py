"""``bench service``: install, run and ask after the harness service (docs/service.md)."""


from pathlib import Path
from typing import Annotated

import typer

from benchstone.cli._app import JsonOpt, app, dump, echo_lines

service_app = typer.Typer(
    help="The harness service: a user of its own that owns the state directory and the Docker "
    "connection; bench and the Python API become its clients (BENCHSTONE_SERVICE).",
    epilog="Example: bench service install", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(service_app, name="service")

UserOpt = Annotated[str, typer.Option("--user", help="The service's system user.")]
GroupOpt = Annotated[str, typer.Option(
    "--group", help="The group whose members may use the service's socket.")]
AdminOpt = Annotated[str, typer.Option(
    "--admin-group", help="The group whose members may also ask for what bypasses or undoes "
    "the gate: promote --force, replace-reference, unregister, gc --all.")]
StateOpt = Annotated[Path, typer.Option(
    "--state-dir", help="The service's state directory (only its user can read it).")]
SocketOpt = Annotated[Path, typer.Option("--socket", help="The service's Unix socket.")]


def _layout(user: str, group: str, state_dir: Path, socket: Path,
            admin_group: str = "benchstone-admins"):
    from benchstone.service.install import Layout

    return Layout(user=user, group=group, admin_group=admin_group,
                  state_dir=state_dir.absolute(), socket_path=socket.absolute())


@service_app.command("install", epilog="Example: bench service install")
def install(
    user: UserOpt = "benchstone",
    group: GroupOpt = "benchstone-users",
    admin_group: AdminOpt = "benchstone-admins",
    state_dir: StateOpt = Path("/var/lib/benchstone"),
    socket: SocketOpt = Path("/run/benchstone/bench.sock"),
    client_config: Annotated[bool, typer.Option(
        "--client-config", help="Also write /etc/benchstone/client.toml, so that every bench "
        "on this host uses the service without BENCHSTONE_SERVICE.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create the service's user and group, its state and socket directories, and put the user
    in the docker group (as root; running it again changes nothing)."""
    from benchstone.service.install import install as do_install

    steps = do_install(_layout(user, group, state_dir, socket, admin_group),
                       client_config=client_config)
    if as_json:
        dump({"steps": steps})
        return
    echo_lines(steps)
    typer.echo(f"add each user who may use it: usermod -aG {group} NAME; then start it: "
               "bench service run")


@service_app.command("run", epilog="Example: bench service run")
def run(
    user: UserOpt = "benchstone",
    group: GroupOpt = "benchstone-users",
    admin_group: AdminOpt = "benchstone-admins",
    state_dir: StateOpt = Path("/var/lib/benchstone"),
    socket: SocketOpt = Path("/run/benchstone/bench.sock"),
    max_concurrent: Annotated[int, typer.Option(
        "--max-concurrent", min=1, help="Requests served at once (others are refused).")] = 16,
    max_per_caller: Annotated[int, typer.Option(
        "--max-per-caller", min=1, help="Requests one caller may have at once.")] = 4,
    max_request_mib: Annotated[int, typer.Option(
        "--max-request-mib", min=1, help="The largest request (bundle, corpus), in MiB.")] = 256,
) -> None:
    """Serve in the foreground until SIGTERM or Ctrl-C. Started as root it becomes the service
    user; a machine without systemd (or a CI job) starts it with this command."""
    from benchstone.errors import BenchstoneError
    from benchstone.service import install as setup
    from benchstone.service import server

    layout = _layout(user, group, state_dir, socket, admin_group)
    missing = setup.check(layout)
    if missing:
        raise BenchstoneError("the service is not installed: " + "; ".join(missing),
                              fix="run bench service install (as root) with the same options")
    setup.prepare_socket_directory(layout)
    setup.drop_to(layout)
    server.serve(server.Settings(socket_path=layout.socket_path, state_dir=layout.state_dir,
                                 max_concurrent=max_concurrent, max_per_caller=max_per_caller,
                                 admin_group=admin_group,
                                 max_request_bytes=max_request_mib << 20))


@service_app.command("status", epilog="Example: bench service status")
def status(as_json: JsonOpt = False) -> None:
    """Whether the configured service answers, and who you are to it."""
    from benchstone.errors import BenchstoneError
    from benchstone.service import client
    from benchstone.service.config import configured_socket

    socket_path = configured_socket()
    if socket_path is None:
        raise BenchstoneError("no service is configured: bench works locally",
                              fix="set BENCHSTONE_SERVICE to the service's socket "
                                  "(default /run/benchstone/bench.sock)")
    answer = client.status(socket_path)
    if as_json:
        dump(answer)
        return
    echo_lines([f"service: up at {answer['socket']}, running as {answer['service_user']}",
                f"you are: {answer['caller']} (uid {answer['uid']})",
                f"state: {answer['state_dir']} (out of your reach)"])
