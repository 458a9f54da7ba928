"""What the launchers start for tests and benchmarks logs as privately as the native stack: the output
file ManagedProcess opens and every file the process itself creates are 0640 at most, whatever the
umask of the process that launches it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from launchers.procs import ManagedProcess


def test_a_launched_servers_output_and_the_logs_it_creates_are_0640_at_most(tmp_path: Path):
    created = tmp_path / "own.log"  # as nginx writes access.log, or TorchServe its ts_log.log
    script = f"open({str(created)!r}, 'w').write('a client address'); print('started')"
    old = os.umask(0)
    try:
        proc = ManagedProcess([sys.executable, "-c", script], tmp_path / "server.log")
        proc.proc.wait(timeout=60)
        proc.stop()
    finally:
        os.umask(old)
    assert "started" in (tmp_path / "server.log").read_text()
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (tmp_path / "server.log", created)}
    assert modes == {"server.log": "0o640", "own.log": "0o640"}
