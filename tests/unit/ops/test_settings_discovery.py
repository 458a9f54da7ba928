"""The operator's tools find what the native stack started with in VAR_DIR/stack.env, for each setting the
environment does not give; the environment wins; and `ops.reconciler --check` says which setting names
what it could not find."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inference import replica_status
from inference.replica_status import ReplicaStatus
from ops import reconciler
from ops.settings import OpsSettings
from ops.stack_database import StoreToolSettings
from tests.conftest import REPO

SETTINGS = (
    "MODEL_STORE",
    "MODELS_FILE",
    "REPLICA_STATUS_DIR",
    "REDIS_URL",
    "REDIS_PASSWORD_FILE",
    "VAR_DIR",
    "DATABASE_URL",
    "DATABASE_PASSWORD_FILE",
    "FEEDBACK_RETENTION_DAYS",
)


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout's folder with no setting in the environment, where `make up` wrote var/stack.env."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "stack.env").write_text(
        "# Written by scripts/stack.sh up\n"
        "MODEL_STORE='/srv/lens/model store'\n"
        "REPLICA_STATUS_DIR='/srv/lens/var/status'\n"
        "REDIS_URL='redis://127.0.0.1:6390/0'\n"
        "REDIS_PASSWORD_FILE='/srv/lens/var/redis/password'\n"
        "DATABASE_URL='postgresql://lens@db.internal:5432/lens'\n"
        "DATABASE_PASSWORD_FILE='/srv/lens/secrets/database-password'\n"
        "FEEDBACK_RETENTION_DAYS='14'\n"
    )
    return tmp_path


def test_with_no_setting_typed_the_tools_use_what_the_stack_wrote_in_var(checkout):
    settings = OpsSettings()
    assert settings.model_store == Path("/srv/lens/model store")
    assert settings.declared_file == Path("/srv/lens/model store/models.yaml")  # follows the store
    assert settings.replica_status_dir == Path("/srv/lens/var/status")
    assert settings.redis_url == "redis://127.0.0.1:6390/0"
    assert settings.redis_password_file == Path("/srv/lens/var/redis/password")


def test_the_review_tool_finds_the_stacks_feedback_store_the_same_way(checkout, monkeypatch):
    settings = StoreToolSettings()
    assert settings.database_url == "postgresql://lens@db.internal:5432/lens"
    assert settings.database_password_file == Path("/srv/lens/secrets/database-password")
    assert settings.feedback_retention_days == 14
    assert settings.redis_url == "redis://127.0.0.1:6390/0"  # and the rest of the operator's settings
    monkeypatch.setenv("DATABASE_URL", "sqlite:////srv/other.sqlite3")
    assert StoreToolSettings().database_url == "sqlite:////srv/other.sqlite3"  # the environment wins


def test_a_setting_in_the_environment_wins_over_the_stack_file(checkout, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("MODELS_FILE", "/etc/lens/models.yaml")
    settings = OpsSettings()
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.declared_file == Path("/etc/lens/models.yaml")
    assert settings.redis_password_file == Path("/srv/lens/var/redis/password")  # the rest still read


def test_var_dir_says_where_the_stack_file_is_as_it_told_the_stack(checkout, monkeypatch, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "stack.env").write_text("REDIS_URL='redis://127.0.0.1:7000/0'\n")
    monkeypatch.setenv("VAR_DIR", str(elsewhere))
    assert OpsSettings().redis_url == "redis://127.0.0.1:7000/0"
    assert OpsSettings().redis_password_file is None
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "no-stack"))  # no stack.env there: the defaults
    assert OpsSettings().redis_url == "redis://127.0.0.1:6379/0"
    assert OpsSettings().model_store == Path("model_store")


def keys(expires_in: timedelta) -> dict[str, dict[str, str]]:
    when = (datetime.now(UTC) + expires_in).isoformat()
    return {kind: {"key": "k", "expiration time": when} for kind in ("inference", "management", "API")}


def test_the_probe_names_the_setting_of_what_it_cannot_find(checkout, monkeypatch, capsys):
    status_dir, key_file = checkout / "status", checkout / "key_file.json"
    monkeypatch.setenv("REPLICA_STATUS_DIR", str(status_dir))
    monkeypatch.setenv("REPLICA_ID", "1")
    monkeypatch.setenv("TORCHSERVE_KEY_FILE", str(key_file))
    assert reconciler.main(["--check"]) == 1
    said = capsys.readouterr().err
    assert said.count("\n") == 1
    assert f"no report at {status_dir}/1.json" in said
    assert "set REPLICA_STATUS_FILE, or REPLICA_STATUS_DIR and REPLICA_ID" in said
    assert "the native stack's replica N reports in var/status/N.json" in said

    replica_status.write(ReplicaStatus(replica="1"), status_dir / "1.json")
    assert reconciler.main(["--check"]) == 1
    said = capsys.readouterr().err
    assert f"no TorchServe key file at {key_file}" in said
    assert "set TORCHSERVE_KEY_FILE (the native stack keeps replica N's in var/replicas/N" in said

    key_file.write_text(json.dumps(keys(timedelta(minutes=50))))
    assert reconciler.main(["--check"]) == 0
    assert capsys.readouterr().err == ""
    key_file.write_text(json.dumps(keys(timedelta(minutes=5))))  # a sixth of 60 minutes left, at most
    assert reconciler.main(["--check"]) == 1
    assert "are not renewed: the reconciler is stuck" in capsys.readouterr().err


def test_only_the_review_tool_loads_the_database_library():
    """StoreToolSettings is a class of its own so that the reconciler, which every serving unit runs, and
    ops.models do not load SQLAlchemy (about 12 MB) for a database they never open."""
    code = "import sys, ops.reconciler, ops.models, ops.torchserve; sys.exit('sqlalchemy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
    code = "import sys, ops.feedback; sys.exit('sqlalchemy' not in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
