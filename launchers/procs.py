"""Start real servers on free loopback ports and stop them by process group.

Every server runs in its own session with output to a file (TorchServe's Java child inherits stdout,
so a pipe would hang), and is stopped with SIGTERM to the group, then SIGKILL after a grace period.
Logs hold client addresses and share hashes: that file, and every file the server creates (nginx's and
TorchServe's own logs among them), is made 0640 at most (umask 027), as scripts/stack.sh makes them.
A missing binary raises MissingServerError: in CI a missing server fails the run, never skips it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports. Every socket stays bound until all are chosen: a port
    released at once can be handed out again by the next pick (a stack once got one port for TorchServe's
    management API and for nginx, and TorchServe could not start)."""
    with contextlib.ExitStack() as held:
        sockets = [
            held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)
        ]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    return free_ports(1)[0]


class MissingServerError(RuntimeError):
    """A server the stack needs is not installed."""


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingServerError(f"{name} is not installed ({hint}); run `make setup`")
    return path


LOG_MODE = 0o640
UMASK = 0o027  # what the servers create: 0640 files, 0750 folders at most


class ManagedProcess:
    """A server process in its own process group, logging to ``log_path``."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, LOG_MODE), "ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            umask=UMASK,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        os.killpg(self.proc.pid, sig)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 30.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        # Children that outlived the leader (e.g. Java under the TorchServe launcher).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


class LoopbackServer:
    """A started HTTP server: its process and the loopback port it answers on."""

    def __init__(self, proc: ManagedProcess, port: int, grace: float = 15.0) -> None:
        self.proc = proc
        self.port = port
        self.grace = grace

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.stop(grace=self.grace)


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, proc: ManagedProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}: process exited early\n{proc.log_tail()}")
        try:
            if check():
                return
        except (OSError, ValueError, httpx.HTTPError):  # not up yet, or a file half written
            pass
        time.sleep(0.1)
    tail = proc.log_tail() if proc is not None else ""
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s\n{tail}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
