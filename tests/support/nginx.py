"""A real nginx from the project's template, on a free loopback port, in front of a test gateway."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from nginx.render import write
from tests.support.procs import ManagedProcess, free_port, require_binary, wait_until


class Nginx:
    def __init__(self, proc: ManagedProcess, port: int) -> None:
        self.proc = proc
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.stop(grace=10)


def start_nginx(workdir: Path, gateway_port: int, web_root: Path) -> Nginx:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        require_binary("nginx", "apt-get install nginx")
    port = free_port()
    prefix = workdir / f"nginx-{port}"
    conf = write(
        prefix / "nginx.conf",
        prefix,
        listen=f"127.0.0.1:{port}",
        gateway=f"127.0.0.1:{gateway_port}",
        web_root=web_root,
    )
    proc = ManagedProcess(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"), "-g", "daemon off;"],
        prefix / "stdout.log",
    )
    server = Nginx(proc, port)
    try:
        wait_until(lambda: httpx.get(server.url + "/", timeout=2).status_code < 500, 20, "nginx", proc)
    except BaseException:
        server.stop()
        raise
    return server
