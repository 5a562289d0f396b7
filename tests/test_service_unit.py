"""The systemd unit ``bench service install`` writes where systemd runs. These machines run no
systemd, so the unit is checked by systemd's own ``systemd-analyze verify``, and its command
line is the one the hostile-agent suite serves through (tests/redteam/agents.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from redteam.agents import unit_command

from benchstone.errors import InstallError
from benchstone.service.install import Layout, service_command, systemd_unit

ODD = Layout(user="bs-svc", group="bs-callers", admin_group="bs-root",
             state_dir=Path("/var/lib/bench stone/100%"), socket_path=Path("/run/bs/$sock"))


def test_the_unit_starts_the_service_with_every_setting_of_its_layout() -> None:
    """A custom group survives a reboot: the unit names it, so the socket directory that
    ``service run`` makes again under an emptied /run gets the installed group."""
    command = unit_command(systemd_unit(ODD))
    assert command == service_command(ODD)
    assert command[:5] == [sys.executable, "-m", "benchstone", "service", "run"]
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options == {"--user": "bs-svc", "--group": "bs-callers", "--admin-group": "bs-root",
                       "--state-dir": "/var/lib/bench stone/100%", "--socket": "/run/bs/$sock"}


def test_a_path_with_a_control_character_is_refused_in_one_line() -> None:
    with pytest.raises(InstallError, match="control character"):
        systemd_unit(Layout(state_dir=Path("/var/lib/a\nExecStartPre=/bin/true")))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian's systemd package has it)")
@pytest.mark.parametrize("layout", [Layout(), ODD], ids=["default", "spaces-percent-dollar"])
def test_systemd_accepts_the_unit(tmp_path: Path, layout: Layout) -> None:
    unit = tmp_path / "benchstone.service"
    unit.write_text(systemd_unit(layout))
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                              text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    assert "benchstone.service" not in verified.stderr, verified.stderr  # no warning of ours


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian's systemd package has it)")
def test_systemd_refuses_a_unit_whose_interpreter_is_gone(tmp_path: Path) -> None:
    """The check above can fail: a unit naming a missing interpreter is refused."""
    unit = tmp_path / "benchstone.service"
    unit.write_text(systemd_unit(Layout()).replace(sys.executable, "/nonexistent/python3"))
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                              text=True, timeout=60)
    assert verified.returncode != 0 and "not executable" in verified.stderr
