"""docker-compose.yml run as a user runs it, under podman: podman-compose with the project's podman
settings, a project name and ports of the test's own, and every container, network and volume it made
removed afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "containers"  # build and run logs, kept for a failure's post-mortem
CONTAINERS_CONF = REPO / "docker" / "podman" / "containers.conf"
# The stand-in for redis:7.4-alpine that scripts/container_images.sh builds (Docker Hub is out of reach).
LOCAL_REDIS_IMAGE = "localhost/fromsoft-lens-base/redis:7-bookworm"
LOCAL_PROMETHEUS_IMAGE = "localhost/fromsoft-lens-base/prometheus:bookworm"  # prom/prometheus's stand-in
PROJECT_LABEL = "io.podman.compose.project"
REMOVE = {
    "containers": ("rm", "-f", "-v"),
    "networks": ("network", "rm", "-f"),
    "volumes": ("volume", "rm", "-f"),
}


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run podman; past ``timeout`` it is stopped with SIGTERM, not subprocess.run's SIGKILL: podman 4.3
    keeps its locks in shared memory, and one killed while holding a lock leaves it held for good (every
    later container given that lock hangs its command), where SIGTERM lets it release them."""
    with subprocess.Popen(
        ["podman", *args], env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as running:
        try:
            stdout, stderr = running.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            running.terminate()
            try:
                stdout, stderr = running.communicate(timeout=60)
            except subprocess.TimeoutExpired:  # deaf to SIGTERM for a minute: killing it is the lesser harm
                running.kill()
                stdout, stderr = running.communicate()
            what = f"podman {' '.join(args)} did not finish in {timeout:.0f} s"
            pytest.fail(f"{what}:\n{stdout[-3000:]}\n{stderr[-3000:]}", pytrace=False)
    proc = subprocess.CompletedProcess(running.args, running.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class ComposeStack:
    """One compose project. ``env`` holds the variables docker-compose.yml reads (ports, images, ...)."""

    project: str
    env: dict[str, str]
    log_path: Path
    services: tuple[str, ...] = ("redis", "postgres", "serving", "web")
    compose_bin: str = field(default_factory=lambda: str(Path(sys.executable).with_name("podman-compose")))

    def compose(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [self.compose_bin, "-p", self.project, "-f", str(REPO / "docker-compose.yml"), *args]
        proc = subprocess.run(
            argv, cwd=REPO, env={**podman_env(), **self.env}, capture_output=True, text=True, timeout=timeout
        )
        with self.log_path.open("a") as log:
            log.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}exit {proc.returncode}\n")
        if check and proc.returncode != 0:
            pytest.fail(
                f"podman-compose {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                f"{proc.stderr[-3000:]}",
                pytrace=False,
            )
        return proc

    def container(self, service: str) -> str:
        """The name of the service's one container (its first replica's, for a scaled service)."""
        return self.replicas(service)[0]

    def replicas(self, service: str) -> list[str]:
        """The names of the service's containers, in order."""
        names = sorted(
            c["Names"][0]
            for c in self.containers()
            if c["Labels"].get("com.docker.compose.service") == service
        )
        assert names, f"{service}: no container"
        return names

    def containers(self) -> list[dict]:
        out = podman("ps", "-a", "--filter", f"label={PROJECT_LABEL}={self.project}", "--format", "json")
        return json.loads(out.stdout or "[]")

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes of this project that still exist."""
        label = f"label={PROJECT_LABEL}={self.project}"
        found = {
            "containers": [c["Names"][0] for c in self.containers()],
            "networks": podman("network", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split(),
            "volumes": podman("volume", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split(),
        }
        return {kind: names for kind, names in found.items() if names}

    def health(self, name: str) -> str:
        """Run a container's own healthcheck once: podman 4.3 schedules healthchecks with systemd timers,
        which a machine without systemd never fires, so the test runs them itself."""
        state = json.loads(podman("inspect", name).stdout)[0]["State"]
        if state["Status"] != "running":
            return state["Status"]
        result = podman("healthcheck", "run", name, check=False, timeout=60)
        return "healthy" if result.returncode == 0 else (result.stdout + result.stderr).strip() or "unhealthy"

    def wait_healthy(self, timeout: float) -> dict[str, float]:
        """Wait for every container of every service, in the order of their depends_on, to pass its
        healthcheck; returns the seconds each took from the call."""
        started = time.monotonic()
        took: dict[str, float] = {}
        for service in self.services:
            for name in self.replicas(service):
                while (status := self.health(name)) != "healthy":
                    if time.monotonic() - started > timeout:
                        logs = podman("logs", "--tail", "40", name, check=False)
                        what = f"{name} not healthy after {timeout:.0f} s: {status}"
                        pytest.fail(f"{what}\n{logs.stdout}{logs.stderr}", pytrace=False)
                    time.sleep(2)
                took[name] = time.monotonic() - started
        return took

    def down(self) -> None:
        """Stop and remove everything the project made, the volumes and the profiles' services included."""
        profiles = ("--profile", "training", "--profile", "monitoring")
        self.compose(*profiles, "down", "-v", "--remove-orphans", check=False, timeout=300)
        for kind, names in self.leftovers().items():  # a run that died half-way: clear by name
            podman(*REMOVE[kind], *names, check=False)


def release_stale_locks() -> None:
    """Hand podman's locks out anew (``podman system renumber``) when no container is running, so a lock
    left held by a podman killed earlier (a run cut short, a machine's session ended mid-test) cannot hang
    this run's ``kube play`` or ``compose up``; renumbering beside running containers is unsafe, so then
    it is left alone."""
    if not podman("ps", "--quiet").stdout.split():
        podman("system", "renumber", timeout=300)


def require_container_tools() -> None:
    for name in ("podman", "runc"):
        if shutil.which(name) is None:
            pytest.fail(f"{name} is not installed; run `make setup`", pytrace=False)
    if not Path(sys.executable).with_name("podman-compose").exists():
        pytest.fail("podman-compose is not installed in the virtualenv; run `make setup`", pytrace=False)
