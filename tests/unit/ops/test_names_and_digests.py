"""Names checked by torch-model-archiver's rule and quoted in every URL; an archive's digest the same
read from the .mar or from the folder TorchServe unpacks it into."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from inference.archive_digest import digest_of_archive, digest_of_folder
from ops.names import checked_archive, checked_name, path
from tests.unit.ops.conftest import write_archive


@pytest.mark.parametrize("name", ["fromsoft", "fromsoft-2.0", "v1_2.3", "A"])
def test_names_of_the_archivers_rule_pass(name):
    assert checked_name(name) == name


@pytest.mark.parametrize(
    "name", ["", ".hidden", "../x", "x/../../token?type=management", "a b", "-x", "x" * 129, "ünï"]
)
def test_anything_else_is_refused(name):
    with pytest.raises(ValueError, match="is not allowed"):
        checked_name(name)


@pytest.mark.parametrize("name", ["fromsoft", "v1_2.3", "A-b.c", "../x", ".x", "-x", "a b", "a/b", "ü", ""])
def test_the_rule_is_torch_model_archivers(name):
    from model_archiver.model_packaging_utils import ModelArchiverError, ModelExportUtils

    try:
        ModelExportUtils.check_model_name_regex_or_exit(name)
        archiver = True
    except ModelArchiverError:
        archiver = False
    try:
        checked_name(name)
        ours = True
    except ValueError:
        ours = False
    assert ours is archiver


def test_archives_are_mar_file_names_only():
    assert checked_archive("fromsoft-2.0.mar") == "fromsoft-2.0.mar"
    for bad in ("fromsoft", "../fromsoft.mar", "http://x/y.mar", "/etc/x.mar"):
        with pytest.raises(ValueError, match="archive"):
            checked_archive(bad)


def test_every_segment_of_a_management_path_is_quoted():
    assert path("models", "fromsoft", "2.0", "set-default") == "/models/fromsoft/2.0/set-default"
    assert (
        path("models", "x/../../token?type=management") == "/models/x%2F..%2F..%2Ftoken%3Ftype%3Dmanagement"
    )


def test_the_digest_is_the_same_from_the_archive_and_from_its_unpacked_folder(tmp_path: Path):
    archive = write_archive(tmp_path / "a.mar", "fromsoft", "1.0")
    folder = tmp_path / "unpacked"
    zipfile.ZipFile(archive).extractall(folder)
    (folder / "handler" / "__pycache__").mkdir()  # what Python writes once the handler is imported
    (folder / "handler" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert digest_of_folder(folder) == digest_of_archive(archive)
    assert len(digest_of_archive(archive)) == 12


def test_the_digest_follows_the_content_not_the_manifest(tmp_path: Path):
    first = digest_of_archive(write_archive(tmp_path / "a.mar", "fromsoft", "1.0"))
    assert digest_of_archive(write_archive(tmp_path / "b.mar", "fromsoft", "9.9")) == first
    assert digest_of_archive(write_archive(tmp_path / "c.mar", "fromsoft", "1.0", weights=b"other")) != first
