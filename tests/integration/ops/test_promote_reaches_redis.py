"""`ops.models promote` reads a canary's comparisons from a real Redis behind a password, as the stack
runs it: with the stack's stack.env it needs no setting typed; without it, or with a wrong one, it says
in one line which setting to give and where the stack keeps it, never redis-py's words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.canary import PROMOTION
from launchers.redis import RedisServer
from ops import models
from tests.unit.ops.conftest import write_archive

PASSWORD = "q8Zf+Yb/r2Lx=="  # base64, as the native stack makes it: + / = quoted in the URL


@pytest.fixture(scope="module")
def redis_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), password=PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A declared fromsoft 1.0 with 2.0 as its canary, in a checkout's folder with no setting in the
    environment; the folder."""
    for name in ("MODELS_FILE", "REDIS_URL", "REDIS_PASSWORD_FILE", "VAR_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "model_store"
    store.mkdir()
    write_archive(store / "fromsoft.mar", "fromsoft", "1.0")
    write_archive(store / "fromsoft-2.0.mar", "fromsoft", "2.0", weights=b"v2")
    for argv in (["add", "fromsoft.mar"], ["add", "fromsoft-2.0.mar"], ["canary", "fromsoft", "2.0"]):
        assert models.main([*argv, "--no-wait"]) == 0
    return tmp_path


def stack_file(folder: Path, **settings: str | Path) -> None:
    """What scripts/stack.sh writes as it starts (var/stack.env)."""
    (folder / "var").mkdir(exist_ok=True)
    lines = [f"{name}='{value}'" for name, value in settings.items()]
    (folder / "var" / "stack.env").write_text("\n".join(["# Written by scripts/stack.sh up", *lines]) + "\n")


def promote(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = models.main(["promote", "fromsoft", "--no-wait"])
    return status, capsys.readouterr().err


def test_with_the_stack_file_promote_reads_the_comparisons_and_refuses_too_few(
    canary, redis_with_password, capsys
):
    password = canary / "var" / "redis" / "password"
    password.parent.mkdir(parents=True)
    password.write_text(PASSWORD + "\n")
    address = f"redis://127.0.0.1:{redis_with_password.port}/0"
    stack_file(canary, MODEL_STORE=canary / "model_store", REDIS_URL=address, REDIS_PASSWORD_FILE=password)
    status, said = promote(capsys)
    assert (status, said) == (
        2,
        f"models: not promoted: 0 comparisons, fewer than {PROMOTION.min_comparisons} "
        "(--force promotes anyway)\n",
    )


@pytest.mark.parametrize(
    ("password_file", "expected"),
    [
        (
            None,
            "it asks for a password; set REDIS_PASSWORD_FILE (the native stack keeps it in "
            "var/redis/password)",
        ),
        ("wrong", "it refuses the password in wrong-password; set REDIS_PASSWORD_FILE to the stack's"),
        ("missing", "cannot read Redis's password from missing-password (REDIS_PASSWORD_FILE): no such file"),
    ],
)
def test_a_password_missing_or_wrong_is_named_with_the_setting_and_where_the_stack_keeps_it(
    canary, redis_with_password, capsys, monkeypatch, password_file, expected
):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_with_password.port}/0")
    if password_file is not None:
        (canary / "wrong-password").write_text("not the password\n")
        monkeypatch.setenv("REDIS_PASSWORD_FILE", f"{password_file}-password")
    status, said = promote(capsys)
    assert status == 2
    assert said.count("\n") == 1, said
    assert expected in said
    assert "HELLO" not in said
    assert PASSWORD not in said


def test_nothing_listening_is_named_with_the_setting_that_says_where(canary, capsys, monkeypatch):
    from launchers.procs import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    status, said = promote(capsys)
    assert status == 2
    assert said.count("\n") == 1, said
    assert "nothing answers there (is the stack up?); set REDIS_URL to the stack's Redis" in said
    assert "var/stack.env" in said
    assert "Error 111" not in said
