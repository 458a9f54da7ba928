"""One beside each TorchServe: converges it to the declared model state and keeps its keys fresh.

Every RECONCILE_SECONDS it reads the declared file and what TorchServe serves, applies the plan
(ops.plan) through the management API on loopback, renews TorchServe's keys at half their lifetime, hands
the gateway its inference key, and reports (inference.replica_status). At start TorchServe serves nothing: the
replica is ready once it has converged, so a new or restarted replica needs no history. An invalid
declared file changes nothing: the last valid state stays applied and the report says why; its archives
are looked at again each cycle, and one no longer of its pinned digest is not registered (ops.plan).

    python -m ops.reconciler            # settings from the environment (ops.settings)
    python -m ops.reconciler --check    # exit 0 while it reports and the keys are fresh (a probe)
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from typing import Any

import httpx

from commandline import CommandParser
from inference import replica_status
from inference.replica_status import Canary, ModelView, ReplicaStatus, VersionView, Worker
from ops import torchserve_keys
from ops.archives import ArchiveInfo, inspect
from ops.declared import DeclaredState, InvalidDeclarationError, load_inspected
from ops.plan import Plan, Register, Scale, ServedModel, ServedVersion, SetDefault, Step, Unregister, plan
from ops.settings import OpsSettings
from ops.torchserve_api import ManagementClient, ManagementError

logger = logging.getLogger("reconciler")
AGAIN_SECONDS = 0.2  # after a change, look again this soon: the next step may already be possible
UNREACHABLE = (httpx.HTTPError, ManagementError, OSError, ValueError, KeyError)


def _workers(described: dict[str, Any]) -> list[Worker]:
    return [
        Worker(id=w.get("id"), status=w.get("status"), pid=w.get("pid")) for w in described.get("workers", [])
    ]


class Reconciler:
    def __init__(self, settings: OpsSettings, client: ManagementClient | None = None) -> None:
        self.settings = settings
        url, key_file = settings.torchserve_management_url, settings.torchserve_key_file
        self.client = client or ManagementClient(url, key_file)
        self.declared: tuple[DeclaredState, str] | None = None  # the last valid declaration and revision
        self.invalid: str | None = None
        self.inspected: dict[str, ArchiveInfo] = {}  # this cycle's look at each archive, by file name
        self.ready = False
        self.last_error: str | None = None
        # (model, version) -> (its workers' pids, the handler's description): asked again when they change
        self.descriptions: dict[tuple[str, str], tuple[tuple[int | None, ...], dict[str, Any]]] = {}

    # -- keys -------------------------------------------------------------------------------------------
    def keep_keys(self) -> bool:
        """Renew what is due and hand the gateway its key; False while TorchServe has written none."""
        key_file = self.settings.torchserve_key_file
        try:
            data = torchserve_keys.read(key_file)
        except FileNotFoundError:
            return False
        lifetime = self.settings.ts_token_expiration_min * 60
        for kind in torchserve_keys.due(torchserve_keys.seconds_left(data), lifetime):
            torchserve_keys.renew(self.client.http, data, kind)
            logger.info("renewed TorchServe's %s key", kind)
            data = torchserve_keys.read(key_file)
        if self.settings.gateway_key_file is not None:
            torchserve_keys.write_gateway_keys(data, self.settings.gateway_key_file)
        return True

    # -- the declared state -----------------------------------------------------------------------------
    def read_declared(self) -> None:
        self.inspected = {}
        try:
            state, revision, self.inspected = load_inspected(
                self.settings.declared_file, self.settings.model_store
            )
            self.declared = (state, revision)
        except InvalidDeclarationError as exc:
            if str(exc) != self.invalid:
                kept = f"revision {self.declared[1]}" if self.declared else "nothing yet"
                logger.error("the declared state is invalid; keeping %s: %s", kept, exc)
            self.invalid = str(exc)
            return
        if self.invalid is not None:
            logger.info("the declared state is valid again (revision %s)", self.declared[1])
        self.invalid = None

    # -- what TorchServe serves -------------------------------------------------------------------------
    def observe(self) -> dict[str, ModelView]:
        views = {}
        for name in self.client.models():
            default = str(self.client.default(name)[0]["modelVersion"])
            versions = [self._version(name, described) for described in self.client.describe_all(name)]
            views[name] = ModelView(default=default, versions=versions)
        return views

    def _version(self, name: str, described: dict[str, Any]) -> VersionView:
        version = str(described["modelVersion"])
        workers = _workers(described)
        pids = tuple(sorted(w.pid or 0 for w in workers if w.status == "READY"))
        known = self.descriptions.get((name, version))
        if pids and (known is None or known[0] != pids):
            try:
                description = self.client.describe_custom(name, version).get("customizedMetadata", {})
                self.descriptions[(name, version)] = (pids, _parsed(description))
            except UNREACHABLE as exc:
                logger.info("%s %s: no description yet: %s", name, version, exc)
        description = self.descriptions.get((name, version), ((), {}))[1]
        return VersionView(
            version=version,
            archive=str(described.get("modelUrl", "")),
            workers=workers,
            digest=description.get("model", {}).get("digest"),
            description=description,
            batch_size=described.get("batchSize"),
            max_batch_delay=described.get("maxBatchDelay"),
        )

    # -- one cycle --------------------------------------------------------------------------------------
    def cycle(self) -> bool:
        """Read, plan, apply, report; True when something was changed (look again soon)."""
        status = ReplicaStatus(replica=self.settings.replica_id, last_error=self.last_error)
        try:
            if not self.keep_keys():
                status.pending = ["TorchServe is starting (no key file yet)"]
                return self._report(status, Plan(), changed=False)
            self.read_declared()
            views = self.observe()
        except UNREACHABLE as exc:
            status.torchserve = "unreachable"
            status.pending = [f"TorchServe does not answer: {exc}"]
            self.ready = False
            return self._report(status, Plan(), changed=False)
        status.torchserve = "up"
        status.models = views
        if self.declared is None:
            status.pending = ["no valid declared state yet"]
            return self._report(status, Plan(), changed=False)
        state, _ = self.declared
        for name, model in state.models.items():
            view = views.setdefault(name, ModelView())
            view.declared_default = model.default
            view.canary = Canary(**model.canary.model_dump()) if model.canary else None
        digests = {
            (name, version): self.digest(spec.archive)
            for name, model in state.models.items()
            for version, spec in model.versions.items()
        }
        todo = plan(state, digests, {name: _served(view) for name, view in views.items() if view.versions})
        changed = self.apply(todo.steps)
        status.last_error = self.last_error
        return self._report(status, todo, changed)

    def digest(self, archive: str) -> str:
        """``archive``'s content digest as the store holds it now: as this cycle's check of the declared
        file saw it, else looked at now (the last valid state's archives, while the file is invalid)."""
        if (info := self.inspected.get(archive)) is not None:
            return info.digest
        return inspect(self.settings.model_store / archive).digest

    def apply(self, steps: list[Step]) -> bool:
        """Each step in order, stopping at the first that fails (the next cycle plans again)."""
        for step in steps:
            logger.info("applying: %s", step)
            try:
                self._call(step)
            except UNREACHABLE as exc:
                self.last_error = f"{step}: {exc}"
                logger.error("%s failed: %s", step, exc)
                return True
            self.last_error = None
        return bool(steps)

    def _call(self, step: Step) -> None:
        if isinstance(step, Register):
            self.client.register(step.archive, step.workers, step.batch_size, step.max_batch_delay)
        elif isinstance(step, SetDefault):
            self.client.set_default(step.model, step.version)
        elif isinstance(step, Scale):
            self.client.scale(step.model, step.version, step.workers)
        elif isinstance(step, Unregister):
            self.client.unregister(step.model, step.version)
            self.descriptions.pop((step.model, step.version), None)

    def _report(self, status: ReplicaStatus, todo: Plan, changed: bool) -> bool:
        status.revision = self.declared[1] if self.declared else None
        status.declared_valid = self.invalid is None
        status.declared_error = self.invalid
        status.pending = status.pending or [str(step) for step in todo.steps] + todo.waiting
        status.converged = status.torchserve == "up" and self.declared is not None and todo.converged
        if status.converged and not self.ready:
            logger.info("converged to revision %s", status.revision)
        if status.converged:
            self.ready = True
        elif self.declared is not None and not _every_default_ready(self.declared[0], status.models):
            self.ready = False
        status.ready = self.ready
        replica_status.write(status, self.settings.status_file)
        return changed

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                changed = self.cycle()
            except Exception:  # a bug must not end convergence or key renewal: logged, tried again
                logger.exception("reconcile cycle failed")
                changed = False
            stop.wait(AGAIN_SECONDS if changed else self.settings.reconcile_seconds)


def _parsed(raw: Any) -> dict[str, Any]:
    """The handler's description: TorchServe hands it back as a JSON string, sometimes in a list."""
    while isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if isinstance(raw, list):
        raw = raw[0] if raw else {}
    return raw if isinstance(raw, dict) else {}


def _served(view: ModelView) -> ServedModel:
    return ServedModel(
        default=str(view.default),
        versions={
            v.version: ServedVersion(
                archive=v.archive,
                batch_size=int(v.batch_size or 0),
                max_batch_delay=int(v.max_batch_delay or 0),
                workers=len(v.workers),
                ready=v.ready,
                digest=v.digest,
            )
            for v in view.versions
        },
    )


def _every_default_ready(state: DeclaredState, models: dict[str, ModelView]) -> bool:
    """Each declared model has a default version with a READY worker (whichever version it is)."""
    for name in state.models:
        view = models.get(name)
        version = view.version(view.default) if view else None
        if version is None or version.ready == 0:
            return False
    return True


def check(settings: OpsSettings) -> str | None:
    """The probe: why this replica is not healthy (None: it reported lately and TorchServe's keys are
    fresh), naming the setting that says where it looked."""
    try:
        status = replica_status.read(settings.status_file)
    except (OSError, ValueError) as exc:
        return (
            f"no report at {settings.status_file} ({_reason(exc)}): set REPLICA_STATUS_FILE, or "
            "REPLICA_STATUS_DIR and REPLICA_ID (the native stack's replica N reports in "
            f"{settings.var_dir / 'status'}/N.json)"
        )
    try:
        data = torchserve_keys.read(settings.torchserve_key_file)
    except (OSError, ValueError) as exc:
        return (
            f"no TorchServe key file at {settings.torchserve_key_file} ({_reason(exc)}): set "
            f"TORCHSERVE_KEY_FILE (the native stack keeps replica N's in "
            f"{settings.var_dir / 'replicas'}/N/torchserve/key_file.json)"
        )
    if status.age() >= settings.stale_after_seconds:
        return (
            f"the last report, {settings.status_file}, is {status.age():.0f} s old: the reconciler is stuck"
        )
    if not torchserve_keys.fresh(data, settings.ts_token_expiration_min * 60):
        return f"TorchServe's keys in {settings.torchserve_key_file} are not renewed: the reconciler is stuck"
    return None


def _reason(exc: OSError | ValueError) -> str:
    return (exc.strerror or str(exc)).lower() if isinstance(exc, OSError) else "unreadable"


def parser() -> CommandParser:
    command = CommandParser(
        prog="python -m ops.reconciler",
        description=__doc__.split("\n\n")[0],
        example="python -m ops.reconciler --check",
        epilog="Its settings come from the environment (ops/settings.py, docs/configuration.md).",
    )
    command.add_argument(
        "--check", action="store_true", help="exit 0 while it reports and the keys are fresh"
    )
    return command


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = OpsSettings()
    if args.check:
        trouble = check(settings)
        if trouble is not None:
            print(f"reconciler: {trouble}", file=sys.stderr)
        return 0 if trouble is None else 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per management call every few seconds
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logger.info(
        "replica %s: converging %s to %s every %.1f s; reporting to %s",
        settings.replica_id,
        settings.torchserve_management_url,
        settings.declared_file,
        settings.reconcile_seconds,
        settings.status_file,
    )
    started = time.monotonic()
    Reconciler(settings).run(stop)
    logger.info("stopped after %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
