"""A real PostgreSQL (Debian's ``postgresql`` package: ``initdb`` and ``postgres``) on a free loopback
port, its cluster in a fresh temporary folder, stopped by its PID.

PostgreSQL refuses to run as root, and the tests run as root: the server then runs as the ``postgres``
system user the package creates (``setpriv``), in a folder that user owns (pytest's own temporary
folders are private to root). Password authentication over TCP, as the stack uses it: the superuser
``lens`` with a random password, kept in a file the way DATABASE_PASSWORD_FILE holds it.

fsync is off: the tests kill and restart the server process, never the machine, and the operating
system keeps what was written across a process's death; on this 2-core machine the flushes cost more
than the tests themselves.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg

from launchers.procs import ManagedProcess, MissingServerError, free_port, wait_until

USER = "lens"
SYSTEM_USER = "postgres"  # the package's; the server's owner when the tests run as root


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL binaries (not on PATH there), the newest installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    which = shutil.which("postgres")
    if which is None:
        raise MissingServerError("postgres is not installed (apt-get install postgresql); run `make setup`")
    return Path(which).resolve().parent


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="fromsoft-postgres-"))
        self.data = self.root / "data"
        self.password_file = self.root / "password"
        self.password = secrets.token_urlsafe(18)
        self.proc: ManagedProcess | None = None

    def url(self, database: str = "postgres", password: bool = True) -> str:
        """A DATABASE_URL for ``database``; without the password when it comes from ``password_file``."""
        auth = f"{USER}:{self.password}" if password else USER
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["setpriv", f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--init-groups", "--"]

    def _own(self) -> None:
        self.password_file.write_text(self.password + "\n")
        self.password_file.chmod(0o600)
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SYSTEM_USER)
            for path in (self.root, self.password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.root.chmod(0o755)  # the server's owner must reach the cluster; the cluster itself is 0700

    def start(self) -> PostgresServer:
        binaries = postgres_bin()
        if self.proc is None and not self.data.exists():
            self._own()
            initdb = [str(binaries / "initdb"), "-D", str(self.data), "-U", USER, "--auth-host=scram-sha-256"]
            initdb += ["--auth-local=trust", f"--pwfile={self.password_file}", "--encoding=UTF8", "--no-sync"]
            subprocess.run([*self._as_owner(), *initdb], check=True, capture_output=True, timeout=120)
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "max_connections": "100",
        }
        argv = [*self._as_owner(), str(binaries / "postgres"), "-D", str(self.data)]
        argv += [arg for key, value in options.items() for arg in ("-c", f"{key}={value}")]
        self.proc = ManagedProcess(argv, self.root / "postgres.log")
        wait_until(self.responds, 60, "postgres", self.proc)
        return self

    def responds(self) -> bool:
        try:
            with psycopg.connect(self.url().replace("+psycopg", ""), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, grace: float = 20.0) -> None:
        """A fast shutdown (SIGINT: sessions are ended, not waited for; SIGTERM waits for every client)."""
        if self.proc is None:
            return
        if self.proc.alive():
            self.proc.signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.proc.wait(timeout=grace)
        self.proc.stop(grace=5)
        self.proc = None

    def kill(self) -> None:
        """The server's processes killed at once (SIGKILL): a crash; the next start recovers from the WAL."""
        if self.proc is not None:
            self.proc.signal(signal.SIGKILL)
            self.proc.proc.wait(timeout=10)
            wait_until(lambda: not self._postmaster_pid_alive(), 20, "postgres to die")
            self.proc.stop(grace=1)
            self.proc = None

    def _postmaster_pid_alive(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return False
        return True

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
