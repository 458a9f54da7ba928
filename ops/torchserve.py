"""The one way TorchServe is started, by the native stack, the launchers of tests and benchmarks and the
container image alike: render its configuration from the shipped ``config.properties`` and the settings
(ops.settings), prepare its working directory, and replace this process with it.

    python -m ops.torchserve [--set KEY=VALUE ...]

TorchServe starts serving no model: the reconciler beside it registers the declared state, and the
replica is ready once that is done. Its key file, logs and temporary files stay in TS_WORKDIR (private
``TMPDIR``: TorchServe's PID file and worker sockets would otherwise be machine-wide). ``--foreground``
keeps it this process, so a supervisor stops it with the process group; ``--ncs`` keeps it from restoring
a snapshot of an earlier run, which would bypass the declared state.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from commandline import CommandParser
from ops.settings import OpsSettings
from ops.torchserve_config import overrides, render

REPO = Path(__file__).resolve().parents[1]
WORKER_SITE = REPO / "ops" / "worker_site"  # ops/worker_site/sitecustomize.py says why


def prepare(settings: OpsSettings, extra: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Write the configuration into the working directory; the command and environment that start it."""
    workdir = settings.ts_workdir.resolve()
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    (workdir / "key_file.json").unlink(missing_ok=True)  # a key file from an earlier run is not this one's
    config = workdir / "config.properties"
    config.write_text(render((REPO / "config.properties").read_text(), {**overrides(settings), **extra}))
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "TMPDIR": str(workdir / "tmp"),
        "TEMP": str(workdir / "tmp"),
        "LOG_LOCATION": str(workdir / "logs"),
        "METRICS_LOCATION": str(workdir / "logs"),
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        # first, so that its sitecustomize runs in every model worker: torch imported only when used
        "PYTHONPATH": os.pathsep.join(filter(None, (str(WORKER_SITE), os.environ.get("PYTHONPATH")))),
        "MAX_UPLOAD_BYTES": str(settings.max_upload_bytes),  # the handler's own limit (handler.settings)
    }
    command = [
        str(bin_dir / "torchserve"),
        *("--start", "--foreground", "--ncs"),
        *("--ts-config", str(config), "--log-config", str(REPO / "log4j2.xml")),
        *("--model-store", str(settings.model_store.resolve())),
    ]
    return command, env


def parser() -> CommandParser:
    command = CommandParser(
        prog="python -m ops.torchserve",
        description=__doc__.split("\n\n")[0],
        example="TS_WORKDIR=var/ts python -m ops.torchserve --set default_workers_per_model=1",
        epilog="Its settings come from the environment (ops/settings.py, docs/configuration.md).",
    )
    command.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=setting,
        help="a key of config.properties",
    )
    return command


def setting(text: str) -> tuple[str, str]:
    """KEY=VALUE, checked when it is parsed (so a wrong one is argparse's one-line error)."""
    key, equals, value = text.partition("=")
    if not key or not equals:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    settings = OpsSettings()
    command, env = prepare(settings, dict(args.set))
    os.chdir(settings.ts_workdir)  # TorchServe writes key_file.json to its working directory
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
