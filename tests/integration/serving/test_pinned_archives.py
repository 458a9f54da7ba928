"""A pinned digest holds against a swapped archive on a real TorchServe and its reconciler: the declared
file turns invalid and the reconciler keeps its last valid state, but never registers the swapped
archive from it, neither in place of the version that serves the pinned content nor once TorchServe has
lost that version."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import httpx

from launchers.procs import wait_until
from launchers.torchserve import TorchServe, start_torchserve
from ops.archives import inspect
from ops.declared import DeclaredState, ModelSpec, VersionSpec, write

RECONCILE_SECONDS = 1.0  # launchers.torchserve.unit_env's


def swapped(archive: Path) -> None:
    """Replace ``archive`` by one that TorchServe loads as well, with one more file: another digest."""
    other = archive.with_name(archive.name + ".new")
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(other, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            target.writestr(member, source.read(member))
        target.writestr("planted.py", "print('not what was pinned')\n")
    other.replace(archive)


def cycles(replica: TorchServe, count: int) -> None:
    """Until the reconciler has reported ``count`` cycles after now (it reports every cycle)."""
    since = time.time()
    wait_until(
        lambda: replica.status().updated_at > since + count * RECONCILE_SECONDS,
        30 + count * RECONCILE_SECONDS,
        f"{count} reconcile cycles",
    )


def test_a_non_default_version_whose_archive_is_swapped_before_it_is_registered_is_never_registered(
    model_store: Path, tmp_path: Path
):
    store = tmp_path / "store"
    store.mkdir()
    for name in ("fromsoft.mar", "fromsoft-2.0.mar"):
        shutil.copy2(model_store / name, store / name)
    pinned = inspect(store / "fromsoft-2.0.mar").digest
    versions = {
        "1.0": VersionSpec(archive="fromsoft.mar"),
        "2.0": VersionSpec(archive="fromsoft-2.0.mar", digest=pinned),
    }
    declared = tmp_path / "models.yaml"
    write(declared, DeclaredState(models={"fromsoft": ModelSpec(default="1.0", versions=versions)}))
    replica = start_torchserve(store, tmp_path / "unit", declared_file=declared)
    log = tmp_path / "unit" / "reconciler.log"
    try:
        wait_until(
            lambda: replica.status().models["fromsoft"].version("2.0").digest == pinned,
            120,
            "2.0 serving its pinned content",
        )
        logged = len(log.read_text())
        swapped(store / "fromsoft-2.0.mar")
        refused = (
            f"fromsoft 2.0: fromsoft-2.0.mar now has digest {inspect(store / 'fromsoft-2.0.mar').digest}"
        )
        wait_until(lambda: not replica.status().declared_valid, 30, "the swap reported as an invalid file")
        cycles(replica, 3)
        assert "applying: register fromsoft 2.0" not in log.read_text()[logged:]
        assert replica.status().models["fromsoft"].version("2.0").digest == pinned  # it keeps serving
        assert any(refused in p for p in replica.status().pending)

        # TorchServe loses 2.0 (an operator's call here; a restarted TorchServe alike): the reconciler's
        # last valid state still declares it, and the store holds only the swapped archive.
        lost = httpx.delete(
            f"{replica.management_url}/models/fromsoft/2.0", headers=replica.headers("management"), timeout=30
        )
        assert lost.status_code == 200, lost.text
        cycles(replica, 3)
        status = replica.status()
        assert [v.version for v in status.models["fromsoft"].versions] == ["1.0"]
        assert any(refused in p and "not registered" in p for p in status.pending)
        served = httpx.get(
            f"{replica.management_url}/models/fromsoft/all", headers=replica.headers("management"), timeout=10
        ).json()
        assert [v["modelVersion"] for v in served] == ["1.0"]
        assert "applying: register fromsoft 2.0" not in log.read_text()[logged:]
    finally:
        replica.stop()
