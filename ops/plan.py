"""The reconciler's plan: from what is declared and what one TorchServe serves, the management calls that
bring it closer, in a safe order, and what it still waits for. A pure function of its inputs, so that
tests can pin the order without a server.

The order keeps every declared model answering throughout: new versions are registered first; a version
becomes the default only once every worker it has is READY (a plan made before that says it waits, and
the next cycle sets it); then workers are scaled; versions no longer declared are
unregistered last, never the one serving by default. The default version itself is never replaced in
place (TorchServe holds one copy of a version, and unregistering the default would leave the model
without one): a changed archive or batching under the default waits, named, until another version is the
default or the replica restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ops.declared import DeclaredState, VersionSpec


@dataclass(frozen=True)
class ServedVersion:
    archive: str
    batch_size: int
    max_batch_delay: int
    workers: int
    ready: int  # workers READY
    digest: str | None = None  # from the handler's description; None until a worker has answered it


@dataclass(frozen=True)
class ServedModel:
    default: str
    versions: dict[str, ServedVersion]


@dataclass(frozen=True)
class Register:
    model: str
    version: str
    archive: str
    workers: int
    batch_size: int | None
    max_batch_delay: int | None

    def __str__(self) -> str:
        return f"register {self.model} {self.version} ({self.archive}, {self.workers} worker(s))"


@dataclass(frozen=True)
class SetDefault:
    model: str
    version: str

    def __str__(self) -> str:
        return f"make {self.model} {self.version} the default"


@dataclass(frozen=True)
class Scale:
    model: str
    version: str
    workers: int

    def __str__(self) -> str:
        return f"scale {self.model} {self.version} to {self.workers} worker(s)"


@dataclass(frozen=True)
class Unregister:
    model: str
    version: str

    def __str__(self) -> str:
        return f"unregister {self.model} {self.version}"


Step = Register | SetDefault | Scale | Unregister


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # what keeps the replica from converging, in words

    @property
    def converged(self) -> bool:
        return not self.steps and not self.waiting


def _changed(served: ServedVersion, spec: VersionSpec, digest: str) -> str | None:
    """Why ``served`` must be registered again to match ``spec`` (its archive now has ``digest``)."""
    if served.archive != spec.archive:
        return f"its archive is now {spec.archive}"
    if served.digest is not None and served.digest != digest:
        return f"its archive's content changed ({served.digest} -> {digest})"
    if spec.batch_size is not None and spec.batch_size != served.batch_size:
        return f"batch size {served.batch_size} -> {spec.batch_size}"
    if spec.max_batch_delay is not None and spec.max_batch_delay != served.max_batch_delay:
        return f"batch delay {served.max_batch_delay} -> {spec.max_batch_delay} ms"
    return None


def _register(model: str, version: str, spec: VersionSpec) -> Register:
    return Register(model, version, spec.archive, spec.workers, spec.batch_size, spec.max_batch_delay)


def plan(
    declared: DeclaredState, digests: dict[tuple[str, str], str], served: dict[str, ServedModel]
) -> Plan:
    """``digests``: (model, version) -> the declared archive's content digest, as the store holds it now."""
    result = Plan()
    registers: list[Step] = []
    defaults: list[Step] = []
    scales: list[Step] = []
    removals: list[Step] = []
    for name, model in declared.models.items():
        now = served.get(name)
        if now is None:  # the first version registered becomes the default: the declared one goes first
            order = [model.default, *(v for v in model.versions if v != model.default)]
            registers += [_register(name, v, model.versions[v]) for v in order]
            result.waiting.append(f"{name}: not registered yet")
            continue
        replaced = set()
        for version, spec in model.versions.items():
            have = now.versions.get(version)
            if have is None:
                registers.append(_register(name, version, spec))
                continue
            why = _changed(have, spec, digests[(name, version)])
            if why is None:
                if have.workers != spec.workers:
                    scales.append(Scale(name, version, spec.workers))
                elif have.ready < spec.workers:
                    result.waiting.append(f"{name} {version}: {have.ready} of {spec.workers} worker(s) READY")
            elif version == now.default:
                result.waiting.append(
                    f"{name} {version}: {why}, but it is the default version and is not replaced in place: "
                    "make another version the default first, or restart the replica"
                )
            else:
                replaced.add(version)
                registers += [Unregister(name, version), _register(name, version, spec)]
        default = now.default
        if now.default != model.default:
            target = now.versions.get(model.default)
            up = target is not None and 0 < target.ready == target.workers  # its workers, before scaling
            if up and model.default not in replaced:
                defaults.append(SetDefault(name, model.default))
                default = model.default
            else:
                result.waiting.append(f"{name}: {model.default} becomes the default once its workers are up")
        removals += [Unregister(name, v) for v in now.versions if v not in model.versions and v != default]
    for name, now in served.items():
        if name not in declared.models:  # not declared at all: every version goes, the default last
            removals += [Unregister(name, v) for v in now.versions if v != now.default]
            removals.append(Unregister(name, now.default))
    result.steps = [*registers, *defaults, *scales, *removals]
    return result
