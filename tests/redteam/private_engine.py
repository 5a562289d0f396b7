"""A second, private Docker Engine that tests may stop and restart, never the shared one.

It has its own data root, exec root, pid file and socket under a short directory of its own,
no bridge, no iptables or forwarding changes, and a config file of its own; the runner image is
copied into it from the shared engine with ``docker save | docker load``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


class EngineUnavailable(Exception):
    """A private engine cannot run here; the message says why."""


class PrivateEngine:
    def __init__(self) -> None:
        # A unix socket path must stay under ~100 bytes: keep the directory short.
        self.root = Path(tempfile.mkdtemp(prefix="bsengine-", dir="/tmp"))
        self.socket = self.root / "d.sock"
        self.log = self.root / "dockerd.log"
        self.process: subprocess.Popen[bytes] | None = None
        (self.root / "daemon.json").write_text("{}\n")

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @staticmethod
    def why_not() -> str | None:
        """Why a private engine cannot run here, or None when it can."""
        if os.geteuid() != 0:
            return "a second dockerd needs root, and these tests do not run as root"
        if shutil.which("dockerd") is None:
            return "there is no dockerd binary on this machine"
        if shutil.which("docker") is None:
            return "there is no docker CLI to copy the runner image with"
        return None

    def start(self, timeout: float = 90) -> None:
        reason = self.why_not()
        if reason:
            raise EngineUnavailable(reason)
        command = ["dockerd", "--config-file", str(self.root / "daemon.json"),
                   "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                   "--pidfile", str(self.root / "dockerd.pid"), "-H", self.host,
                   "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
                   "--userland-proxy=false", "--cgroup-parent", f"/{self.root.name}"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineUnavailable(f"dockerd exited at once: {self.tail()}")
            if self.answers():
                return
            time.sleep(0.3)
        raise EngineUnavailable(f"dockerd did not answer within {timeout:.0f} s: {self.tail()}")

    def answers(self) -> bool:
        import docker

        try:
            client = docker.DockerClient(base_url=self.host, timeout=5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False

    def stop(self, timeout: float = 90) -> None:
        """Stop the engine as an administrator would (SIGTERM); it stops its containers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def restart(self) -> float:
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started

    def load_image(self, name: str) -> None:
        loaded = subprocess.run(
            f"docker save {name} | DOCKER_HOST={self.host} docker load",
            shell=True, capture_output=True, text=True, timeout=600)
        if loaded.returncode != 0:
            raise EngineUnavailable(f"cannot copy {name} into the private engine: {loaded.stderr.strip()}")

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-3:])
        return ""

    def remove_containers(self) -> None:
        import docker

        with contextlib.suppress(Exception):
            client = docker.DockerClient(base_url=self.host, timeout=30)
            for container in client.containers.list(all=True):
                container.remove(force=True)
            client.close()

    def close(self) -> None:
        """Stop the engine and remove everything it made."""
        self.remove_containers()
        self.stop()
        with open("/proc/mounts") as mounts:
            ours = [line.split()[1] for line in mounts if str(self.root) in line.split()[1]]
        for mount in sorted(ours, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        for hierarchy in Path("/sys/fs/cgroup").glob(f"*/{self.root.name}"):
            with contextlib.suppress(OSError):
                hierarchy.rmdir()
        shutil.rmtree(self.root, ignore_errors=True)
