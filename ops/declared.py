"""The declared model state: one YAML file beside the archives that says, per model, which versions
are served (by archive file name), which is the default, and with how many workers, and batching where
it differs from the archive's own. Every replica's reconciler converges to it; operators change it
(``python -m ops.models``), never a single replica.

    models:
      fromsoft:
        default: "2.0"
        canary: {version: "3.0", share: 0.1}
        versions:
          "1.0": {archive: fromsoft.mar, workers: 1}
          "2.0": {archive: fromsoft-2.0.mar, workers: 2, digest: 3f2a9c0d1e2b, batch_size: 4}
          "3.0": {archive: fromsoft-3.0.mar}

A file is checked whole before anything acts on it (its shape, names, the default among the versions,
each archive present in the store and saying the name and version it is declared under, its digest when
one is given); the first problem is reported with the field it is in. Writes replace the file atomically
(a temporary file, then a rename) under a lock, so a reader never sees half a file and two operators
editing at once do not lose each other's change.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from ops.archives import ArchiveError, ArchiveInfo, inspect
from ops.names import checked_archive, checked_name
from ops.whole_files import replace_whole

HEADER = (
    "# The declared model state: every serving replica converges to it (python -m ops.models edits it;\n"
    "# docs/operations.md, Managing models). Versions by archive file name in this folder; workers per\n"
    "# version.\n"
)

Name = Annotated[str, AfterValidator(lambda v: checked_name(v, "name"))]
Version = Annotated[str, AfterValidator(lambda v: checked_name(v, "version"))]
Archive = Annotated[str, AfterValidator(checked_archive)]


class VersionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    archive: Archive
    workers: int = Field(default=1, ge=1, le=64)
    digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{12}$")  # pinned when the tool adds it
    batch_size: int | None = Field(default=None, ge=1, le=256)  # default: the archive's
    max_batch_delay: int | None = Field(default=None, ge=0, le=10_000)  # ms; default: the archive's


class CanarySpec(BaseModel):
    """A version that answers in the shadow of the default for ``share`` of the images (by their hash,
    so an image is always in or always out): visitors get the default's answer, and the two are
    compared (gateway.canary)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Version
    share: float = Field(gt=0, le=1)


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Version
    versions: dict[Version, VersionSpec] = Field(min_length=1)
    canary: CanarySpec | None = None

    @model_validator(mode="after")
    def _default_is_declared(self) -> ModelSpec:
        if self.default not in self.versions:
            raise ValueError(f"default {self.default!r} is not one of the versions {sorted(self.versions)}")
        if self.canary is not None and self.canary.version not in self.versions:
            raise ValueError(
                f"canary {self.canary.version!r} is not one of the versions {sorted(self.versions)}"
            )
        if self.canary is not None and self.canary.version == self.default:
            raise ValueError(f"canary {self.canary.version!r} is the default version")
        return self


class DeclaredState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[Name, ModelSpec] = Field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class InvalidDeclarationError(ValueError):
    """The declared file cannot be acted on; the message names the field."""


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(the file)"


def parse(text: str) -> DeclaredState:
    """The declared state in ``text``, its shape and names checked."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidDeclarationError(f"not YAML: {exc}") from None
    return checked({} if raw is None else raw)


def checked(document: Any) -> DeclaredState:
    """``document`` (parsed YAML, or a changed state's ``document()``) as a state, every field checked."""
    try:
        return DeclaredState.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "string_type":  # YAML reads 1.0 unquoted as a number
            message += ' (quote names and versions: "1.0")'
        raise InvalidDeclarationError(f"{_field(first['loc'])}: {message}") from None


def check_archives(state: DeclaredState, store: Path) -> dict[str, ArchiveInfo]:
    """Each declared archive is in ``store`` and is the model and version it is declared as; what each
    says about itself, by file name."""
    seen = {}
    for name, model in state.models.items():
        for version, spec in model.versions.items():
            where = f"models.{name}.versions.{version}"
            try:
                info = inspect(store / spec.archive)
            except ArchiveError as exc:
                raise InvalidDeclarationError(f"{where}.archive: {exc}") from None
            if (info.name, info.version) != (name, version):
                raise InvalidDeclarationError(
                    f"{where}.archive: {spec.archive} holds {info.name} {info.version}, not {name} {version}"
                )
            if spec.digest is not None and spec.digest != info.digest:
                raise InvalidDeclarationError(
                    f"{where}.digest: {spec.archive} now has digest {info.digest}, not {spec.digest} "
                    "(it was replaced after it was declared; add it again with --force)"
                )
            seen[spec.archive] = info
    return seen


def revision(text: str) -> str:
    """Which declaration a replica has applied: the file's own digest."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load(path: Path, store: Path) -> tuple[DeclaredState, str]:
    """The checked state in ``path`` and its revision."""
    state, applied, _ = load_inspected(path, store)
    return state, applied


def load_inspected(path: Path, store: Path) -> tuple[DeclaredState, str, dict[str, ArchiveInfo]]:
    """``load``, and what each declared archive said when it was checked (the reconciler plans by those
    digests rather than hash every archive twice a cycle)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InvalidDeclarationError(
            f"{path} does not exist: declare a model with `python -m ops.models add ARCHIVE`"
        ) from None
    state = parse(text)
    return state, revision(text), check_archives(state, store)


def render(state: DeclaredState) -> str:
    return HEADER + yaml.safe_dump(state.document(), sort_keys=True)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Held while one writer reads, changes and replaces ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write(path: Path, state: DeclaredState) -> str:
    """Replace ``path`` with ``state`` atomically; returns the new revision."""
    text = render(state)
    replace_whole(path, text, 0o644, durable=True)  # 0644: TorchServe's user in a container reads it
    return revision(text)
