"""A real nginx from the project's template, on a free loopback port, in front of a test gateway."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from nginx.render import write
from tests.support.procs import LoopbackServer, ManagedProcess, free_port, require_binary, wait_until


def start_nginx(workdir: Path, gateway_port: int, web_root: Path) -> LoopbackServer:
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
    server = LoopbackServer(proc, port, grace=10)
    try:
        wait_until(lambda: httpx.get(server.url + "/", timeout=2).status_code < 500, 20, "nginx", proc)
    except BaseException:
        server.stop()
        raise
    return server
