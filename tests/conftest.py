"""Session fixtures shared by every test kind: a small synthetic data set and a trained, evaluated run of
the ``tiny`` backbone, produced through the real command line exactly as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from launchers.postgres import PostgresServer
from launchers.torchserve import TorchServe, start_torchserve

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO.parent / "shared" / "screenshots"


def run_module(module: str, *args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m <module> ...`` from the repository; fails the test with its output when it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"python -m {module} {' '.join(map(str, args))} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def run_cli(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m training ...``."""
    return run_module("training", *args, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def no_stack_of_this_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The operator's tools read a native stack's settings from VAR_DIR/stack.env (default var/, which
    `make up` in this checkout writes): the tests' VAR_DIR is an empty folder, so none of them reads, or
    edits the declared state of, a stack a developer left running here. Each test stack names its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAR_DIR", str(tmp_path_factory.mktemp("no-stack")))
        yield


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    run_cli("synthesize", root, "--images", "840", "--seed", "7")
    return root


def tiny_run(data: Path, run_dir: Path, seed: int, epochs: int, lr: float) -> Path:
    """prepare -> train (the ``tiny`` backbone, CPU, under a minute) -> evaluate, as a user runs them."""
    run_cli("prepare", data, "--out", run_dir, "--seed", str(seed))
    run_cli(
        "train",
        run_dir,
        *("--arch", "tiny", "--epochs", str(epochs), "--head-epochs", "0", "--lr", str(lr)),
        *("--batch-size", "32", "--workers", "0"),
    )
    run_cli("evaluate", run_dir)
    return run_dir


@pytest.fixture(scope="session")
def trained_run(synthetic_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """synthesize -> prepare -> train -> evaluate: the run every serving test's archives come from."""
    return tiny_run(synthetic_data, tmp_path_factory.mktemp("run"), seed=0, epochs=6, lr=0.003)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The real screenshots beside the repository (``../shared/screenshots``)."""
    if not SCREENSHOTS.is_dir():
        pytest.skip(f"real screenshots not found at {SCREENSHOTS} (they live in ../shared beside the repo)")
    return SCREENSHOTS


@pytest.fixture(scope="session")
def model_store(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding ``fromsoft.mar`` (version 1.0) and ``fromsoft-2.0.mar`` from the trained run."""
    store = tmp_path_factory.mktemp("model_store")
    run_cli("export", trained_run, "--model-store", store, "--timing-runs", "3")
    run_cli(
        "export",
        trained_run,
        "--model-store",
        store,
        "--version",
        "2.0",
        "--archive-name",
        "fromsoft-2.0",
        "--timing-runs",
        "3",
    )
    return store


@pytest.fixture(scope="session")
def torchserve(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:
    """A real TorchServe (token authorization on) serving ``fromsoft`` 1.0 from the test model store."""
    server = start_torchserve(model_store, tmp_path_factory.mktemp("torchserve"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL on a free loopback port (its own cluster, password authentication)."""
    server = PostgresServer().start()
    yield server
    server.remove()
