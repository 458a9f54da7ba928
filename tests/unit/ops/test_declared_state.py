"""The declared file: its schema, errors that name the field, the archives checked against the store,
and writes that are atomic and serialized."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from inference.archive_digest import digest_of_archive
from ops import declared
from ops.archives import inspect
from ops.declared import DeclaredState, InvalidDeclarationError, ModelSpec, VersionSpec, parse

GOOD = """
models:
  fromsoft:
    default: "1.0"
    versions:
      "1.0": {archive: fromsoft.mar, workers: 2}
      "2.0": {archive: fromsoft-2.0.mar, batch_size: 8, max_batch_delay: 0}
"""


def test_a_valid_file_parses_with_defaults():
    state = parse(GOOD)
    model = state.models["fromsoft"]
    assert model.default == "1.0"
    assert model.versions["1.0"] == VersionSpec(archive="fromsoft.mar", workers=2)
    assert model.versions["2.0"].workers == 1
    assert model.versions["2.0"].batch_size == 8
    assert parse("").models == {}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace('default: "1.0"', 'default: "3.0"'), "models.fromsoft: default '3.0' is not one of"),
        (GOOD.replace("workers: 2", "workers: 0"), "models.fromsoft.versions.1.0.workers:"),
        (GOOD.replace("workers: 2", "worker: 2"), "models.fromsoft.versions.1.0.worker: Extra inputs"),
        (
            GOOD.replace("fromsoft.mar", "../x.mar"),
            "models.fromsoft.versions.1.0.archive: archive name '../x' is not",
        ),
        (
            GOOD.replace("fromsoft.mar", "fromsoft.zip"),
            "models.fromsoft.versions.1.0.archive: archive 'fromso",
        ),
        (
            GOOD.replace("  fromsoft:", "  from/soft:"),
            "models.from/soft.[key]: name 'from/soft' is not allowed",
        ),
        (GOOD.replace('default: "1.0"', "default: 1.0"), "models.fromsoft.default: Input should be a valid"),
        (GOOD.replace("batch_size: 8", "batch_size: many"), "models.fromsoft.versions.2.0.batch_size:"),
        ("models: [fromsoft]", "models: Input should be a valid dictionary"),
        ("models: {a: b", "not YAML"),
    ],
)
def test_an_invalid_file_is_refused_naming_the_field(text, field):
    with pytest.raises(InvalidDeclarationError) as refused:
        parse(text)
    assert str(refused.value).startswith(field), str(refused.value)


def test_unquoted_versions_are_refused_with_a_hint():
    with pytest.raises(InvalidDeclarationError, match=r'quote names and versions: "1\.0"'):
        parse(GOOD.replace('default: "1.0"', "default: 1.0"))


def test_archives_must_be_in_the_store_and_be_what_they_are_declared_as(store, make_archive):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    state = parse(GOOD)
    with pytest.raises(InvalidDeclarationError, match=r"versions\.2\.0\.archive: fromsoft-2.0.mar is not in"):
        declared.check_archives(state, store)
    make_archive("fromsoft-2.0.mar", "fromsoft", "2.1")
    with pytest.raises(InvalidDeclarationError, match=r"holds fromsoft 2\.1, not fromsoft 2\.0"):
        declared.check_archives(state, store)
    make_archive("fromsoft-2.0.mar", "fromsoft", "2.0")
    declared.check_archives(state, store)


def test_a_pinned_digest_must_match_the_archive(store, make_archive):
    digest = inspect(make_archive("fromsoft.mar", "fromsoft", "1.0")).digest
    spec = VersionSpec(archive="fromsoft.mar", digest=digest)
    state = DeclaredState(models={"fromsoft": ModelSpec(default="1.0", versions={"1.0": spec})})
    declared.check_archives(state, store)
    make_archive("fromsoft.mar", "fromsoft", "1.0", weights=b"retrained")
    with pytest.raises(InvalidDeclarationError, match=r"versions\.1\.0\.digest: .* was replaced"):
        declared.check_archives(state, store)


def test_an_archive_swapped_for_one_of_the_same_size_and_modification_time_is_seen(store, make_archive):
    """What was read of an archive is kept by the file's bytes: ``touch -r`` after a swap hides nothing."""
    path = make_archive("fromsoft.mar", "fromsoft", "1.0", weights=b"weights-A")
    digest = inspect(path).digest
    spec = VersionSpec(archive="fromsoft.mar", digest=digest)
    state = DeclaredState(models={"fromsoft": ModelSpec(default="1.0", versions={"1.0": spec})})
    before = path.stat()
    make_archive("fromsoft.mar", "fromsoft", "1.0", weights=b"weights-B")  # as long: the same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert inspect(path).digest == digest_of_archive(path) != digest
    with pytest.raises(InvalidDeclarationError, match=r"versions\.1\.0\.digest: .* was replaced"):
        declared.check_archives(state, store)


def test_a_write_replaces_the_file_whole_and_round_trips(tmp_path: Path):
    path = tmp_path / "models.yaml"
    state = parse(GOOD)
    revision = declared.write(path, state)
    assert parse(path.read_text()) == state
    assert revision == declared.revision(path.read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["models.yaml"]  # no temporary file left
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_reader_never_sees_half_a_file(tmp_path: Path):
    """Readers run while a writer replaces the file 40 times: each read is one whole version."""
    path = tmp_path / "models.yaml"
    small, large = parse(GOOD), parse(GOOD.replace("workers: 2", "workers: 3"))
    declared.write(path, small)
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    for index in range(40):
        declared.write(path, large if index % 2 else small)
    done.set()
    reader.join()
    assert seen
    assert all(parse(text) in (small, large) for text in seen)


def test_writers_under_the_lock_do_not_lose_each_others_change(tmp_path: Path):
    path = tmp_path / "models.yaml"
    path.write_text("models: {}\n")

    def add(name: str) -> None:
        with declared.locked(path):
            state = parse(path.read_text())
            spec = ModelSpec(default="1.0", versions={"1.0": VersionSpec(archive=f"{name}.mar")})
            declared.write(path, state.model_copy(update={"models": {**state.models, name: spec}}))

    threads = [threading.Thread(target=add, args=(f"model{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(parse(path.read_text()).models) == [f"model{i}" for i in range(8)]
