"""The changes an operator makes to the declared model state (ops.models' commands), each a pure
function of the state that refuses, with a sentence, what it cannot do: add a version, set the default,
scale, remove, set or end a canary, promote it. `python -m ops.models` applies one under the file's lock
and waits for the replicas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ops.archives import inspect
from ops.declared import CanarySpec, DeclaredState, ModelSpec, VersionSpec
from ops.names import checked_archive

Change = Callable[[DeclaredState], DeclaredState]


class RefusedError(ValueError):
    """The change asked for is not made; the message says why."""


def declared_model(state: DeclaredState, name: str) -> ModelSpec:
    if name not in state.models:
        raise RefusedError(
            f"no model {name!r} is declared (declared: {', '.join(sorted(state.models)) or 'none'})"
        )
    return state.models[name]


def _with_model(state: DeclaredState, name: str, model: ModelSpec) -> DeclaredState:
    return state.model_copy(update={"models": {**state.models, name: model}})


def added(
    store: Path,
    archive: str,
    workers: int,
    batch_size: int | None,
    max_batch_delay: int | None,
    make_default: bool,
    force: bool,
) -> Change:
    info = inspect(store / checked_archive(archive))
    spec = VersionSpec(
        archive=archive,
        workers=workers,
        digest=info.digest,
        batch_size=batch_size,
        max_batch_delay=max_batch_delay,
    )

    def change(state: DeclaredState) -> DeclaredState:
        model = state.models.get(info.name)
        if model is None:
            return _with_model(
                state, info.name, ModelSpec(default=info.version, versions={info.version: spec})
            )
        if info.version in model.versions and not force:
            raise RefusedError(
                f"{info.name} {info.version} is already declared "
                f"({model.versions[info.version].archive}); --force replaces it"
            )
        if info.version == model.default and model.versions[info.version] != spec:
            raise RefusedError(
                f"{info.name} {info.version} is the default version: it is not replaced in place; "
                "make another version the default first"
            )
        versions = {**model.versions, info.version: spec}
        default = info.version if make_default else model.default
        return _with_model(state, info.name, ModelSpec(default=default, versions=versions))

    return change


def default_set(name: str, version: str) -> Change:
    def change(state: DeclaredState) -> DeclaredState:
        model = declared_model(state, name)
        if version not in model.versions:
            raise RefusedError(
                f"{name} {version} is not declared (versions: {', '.join(sorted(model.versions))})"
            )
        if model.canary is not None and version == model.canary.version:
            raise RefusedError(f"{name} {version} is the canary: `promote {name}` makes it the default")
        return _with_model(state, name, model.model_copy(update={"default": version}))

    return change


def scaled(name: str, version: str | None, workers: int) -> Change:
    def change(state: DeclaredState) -> DeclaredState:
        model = declared_model(state, name)
        which = version or model.default
        if which not in model.versions:
            raise RefusedError(f"{name} {which} is not declared")
        spec = model.versions[which].model_copy(update={"workers": workers})
        return _with_model(
            state, name, model.model_copy(update={"versions": {**model.versions, which: spec}})
        )

    return change


def removed(name: str, version: str) -> Change:
    def change(state: DeclaredState) -> DeclaredState:
        model = declared_model(state, name)
        if version not in model.versions:
            raise RefusedError(f"{name} {version} is not declared")
        if version == model.default:
            raise RefusedError(f"{name} {version} is the default version: make another the default first")
        if model.canary is not None and version == model.canary.version:
            raise RefusedError(f"{name} {version} is the canary: `canary {name} --off` first")
        versions = {v: spec for v, spec in model.versions.items() if v != version}
        return _with_model(state, name, model.model_copy(update={"versions": versions}))

    return change


def canary_set(name: str, version: str | None, share: float) -> Change:
    """``version`` None: no canary."""

    def change(state: DeclaredState) -> DeclaredState:
        model = declared_model(state, name)
        if version is None:
            return _with_model(state, name, model.model_copy(update={"canary": None}))
        if version not in model.versions:
            raise RefusedError(f"{name} {version} is not declared: `add` its archive first")
        canary = CanarySpec.model_construct(version=version, share=share)  # checked with the whole file
        return _with_model(state, name, model.model_copy(update={"canary": canary}))

    return change


def promoted(name: str) -> Change:
    """The canary becomes the default; the old default stays declared until removed."""

    def change(state: DeclaredState) -> DeclaredState:
        model = declared_model(state, name)
        if model.canary is None:
            raise RefusedError(f"{name} has no canary to promote")
        update = {"default": model.canary.version, "canary": None}
        return _with_model(state, name, model.model_copy(update=update))

    return change
