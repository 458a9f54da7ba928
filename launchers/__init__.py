"""Real servers of the stack started on free loopback ports and stopped by process group (Redis,
TorchServe, the gateway, nginx, the native stack as a whole): what the tests and the benchmarks both
run against, so that neither imports the other."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
