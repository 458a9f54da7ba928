"""A real nginx from the project's template, on a free loopback port, in front of a test gateway."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from launchers.procs import LoopbackServer, ManagedProcess, free_port, require_binary, wait_until
from nginx.render import EdgeSettings, default_worker_user, write


class Nginx(LoopbackServer):
    """Also removes the folder its bodies spilled to when that lies outside its prefix."""

    def __init__(self, proc: ManagedProcess, port: int, prefix: Path, temp_root: Path) -> None:
        super().__init__(proc, port, grace=10)
        self.prefix = prefix
        self.temp_root = temp_root

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    def stop(self) -> None:
        super().stop()
        if not self.temp_root.is_relative_to(self.prefix):
            shutil.rmtree(self.temp_root, ignore_errors=True)


def start_nginx(
    workdir: Path, gateway_port: int | list[int], web_root: Path, edge: EdgeSettings | None = None
) -> Nginx:
    """``gateway_port``: one gateway's, or every replica's."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        require_binary("nginx", "apt-get install nginx")
    port = free_port()
    prefix = workdir / f"nginx-{port}"
    conf, temp_root = write(
        prefix / "nginx.conf",
        prefix,
        worker_user=default_worker_user(),
        listen=f"127.0.0.1:{port}",
        gateways=[
            f"127.0.0.1:{port}"
            for port in (gateway_port if isinstance(gateway_port, list) else [gateway_port])
        ],
        web_root=web_root,
        edge=edge,
    )
    proc = ManagedProcess(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"), "-g", "daemon off;"],
        prefix / "stdout.log",
    )
    server = Nginx(proc, port, prefix, temp_root)
    try:
        wait_until(lambda: httpx.get(server.url + "/", timeout=2).status_code < 500, 20, "nginx", proc)
    except BaseException:
        server.stop()
        raise
    return server
