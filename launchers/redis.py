"""A real redis-server on a free loopback port, with no persistence."""

from __future__ import annotations

import signal
from pathlib import Path
from urllib.parse import quote

import redis

from launchers.procs import ManagedProcess, free_port, require_binary, wait_until


class RedisServer:
    def __init__(self, workdir: Path, port: int | None = None, password: str | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.password = password
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def responds(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def start(self) -> RedisServer:
        binary = require_binary("redis-server", "apt-get install redis-server")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A configuration file, as the native stack writes it: a password never goes on a command line.
        config = self.workdir / f"redis-{self.port}.conf"
        lines = [f"port {self.port}", "bind 127.0.0.1", 'save ""', "appendonly no", f'dir "{self.workdir}"']
        config.write_text(
            "\n".join([*lines, *([f"requirepass {self.password}"] if self.password else [])]) + "\n"
        )
        config.chmod(0o600)
        self.proc = ManagedProcess([binary, str(config)], self.workdir / f"redis-{self.port}.log")
        wait_until(self.responds, 20, "redis-server", self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=10)
            self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.signal(signal.SIGCONT)
