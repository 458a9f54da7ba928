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

A pinned digest is a promise about what is served, kept even while the declared file is invalid (the
reconciler then plans from its last valid state, whose archives may since have been replaced): an archive
whose content no longer has its version's pinned digest is never registered, nor registered again, and
``waiting`` says why. A version already serving the pinned content keeps serving; one whose served content
is not the pinned one (replaced between the look and the registration) is unregistered, unless it is the
default, which waits, named.
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


def _refusal(model: str, version: str, spec: VersionSpec, digest: str) -> str | None:
    """Why ``spec``'s archive (now of ``digest``) must not be registered: it is not what was pinned."""
    if spec.digest is None or spec.digest == digest:
        return None
    return (
        f"{model} {version}: {spec.archive} now has digest {digest}, not the pinned {spec.digest}: it is "
        "not registered (declare it again with `ops.models add --force` if it was replaced on purpose)"
    )


@dataclass
class _Steps:
    """One plan's steps by kind, joined in the safe order at the end."""

    registers: list[Step] = field(default_factory=list)
    defaults: list[Step] = field(default_factory=list)
    scales: list[Step] = field(default_factory=list)
    removals: list[Step] = field(default_factory=list)


def _served_version(
    steps: _Steps,
    waiting: list[str],
    name: str,
    now: ServedModel,
    version: str,
    spec: VersionSpec,
    digest: str,
) -> bool:
    """The steps for a declared ``version`` that ``now`` serves; True when it is unregistered (and not yet
    back), so it cannot become the default in this plan."""
    have = now.versions[version]
    why = _changed(have, spec, digest)
    if why is None and spec.digest is not None and have.digest not in (None, spec.digest):
        why = f"it serves content of digest {have.digest}, not the pinned {spec.digest}"
    if why is None:
        if have.workers != spec.workers:
            steps.scales.append(Scale(name, version, spec.workers))
        elif have.ready < spec.workers:
            waiting.append(f"{name} {version}: {have.ready} of {spec.workers} worker(s) READY")
        return False
    if version == now.default:
        waiting.append(
            f"{name} {version}: {why}, but it is the default version and is not replaced in place: "
            "make another version the default first, or restart the replica"
        )
        return False
    if _refusal(name, version, spec, digest) is None:
        steps.registers += [Unregister(name, version), _register(name, version, spec)]
        return True
    if have.digest is not None and have.digest != spec.digest:  # what serves is not what was pinned either
        steps.registers.append(Unregister(name, version))
        return True
    return False  # it serves the pinned content: it stays


def plan(
    declared: DeclaredState, digests: dict[tuple[str, str], str], served: dict[str, ServedModel]
) -> Plan:
    """``digests``: (model, version) -> the declared archive's content digest, as the store holds it now."""
    result = Plan()
    steps = _Steps()
    for name, model in declared.models.items():
        now = served.get(name)
        refused = {
            version: why
            for version, spec in model.versions.items()
            if (why := _refusal(name, version, spec, digests[(name, version)])) is not None
        }
        result.waiting += refused.values()
        if now is None:  # the first version registered becomes the default: the declared one goes first
            if model.default not in refused:  # else none: another would become the default
                order = [model.default, *(v for v in model.versions if v != model.default)]
                steps.registers += [_register(name, v, model.versions[v]) for v in order if v not in refused]
            result.waiting.append(f"{name}: not registered yet")
            continue
        replaced = set()
        for version, spec in model.versions.items():
            if version not in now.versions:
                if version not in refused:
                    steps.registers.append(_register(name, version, spec))
            elif _served_version(steps, result.waiting, name, now, version, spec, digests[(name, version)]):
                replaced.add(version)
        default = now.default
        if now.default != model.default:
            target = now.versions.get(model.default)
            up = target is not None and 0 < target.ready == target.workers  # its workers, before scaling
            if up and model.default not in replaced:
                steps.defaults.append(SetDefault(name, model.default))
                default = model.default
            else:
                result.waiting.append(f"{name}: {model.default} becomes the default once its workers are up")
        steps.removals += [
            Unregister(name, v) for v in now.versions if v not in model.versions and v != default
        ]
    for name, now in served.items():
        if name not in declared.models:  # not declared at all: every version goes, the default last
            steps.removals += [Unregister(name, v) for v in now.versions if v != now.default]
            steps.removals.append(Unregister(name, now.default))
    result.steps = [*steps.registers, *steps.defaults, *steps.scales, *steps.removals]
    return result
