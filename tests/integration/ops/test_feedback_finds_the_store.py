"""`python -m ops.feedback` finds the stack's feedback store as the stack started it, with no setting typed
(the native stack's VAR_DIR/stack.env); a store it cannot use is one line on standard error that names
the setting to give and where the stack keeps it, never the database library's words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launchers.postgres import PostgresServer
from launchers.procs import free_port
from ops import feedback
from store import migrate
from store.engine import make_engine
from store.feedback import Ballot, Judged, record_vote
from store.session import transaction

SETTINGS = ("VAR_DIR", "DATABASE_URL", "DATABASE_PASSWORD_FILE", "FEEDBACK_RETENTION_DAYS")
SHA = "5" * 64


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout's folder, where the tool is run with none of the store's settings in its environment."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOGNAME", "moderator")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def said(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = feedback.main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_with_no_setting_typed_the_tool_uses_the_store_the_stack_wrote_in_var(checkout, capsys):
    database = checkout / "state" / "lens.sqlite3"  # not var/lens.sqlite3: found through stack.env alone
    engine = make_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    with transaction(engine) as session:
        judged = Judged(SHA, "fromsoft", "1.0", "d1g35t", "sekiro", 0.5, [])
        record_vote(session, judged, Ballot(SHA, "client", "wrong", "elden_ring"), None)
    engine.dispose()
    (checkout / "var").mkdir()
    (checkout / "var" / "stack.env").write_text(
        f"# Written by scripts/stack.sh up\nDATABASE_URL='sqlite:///{database}'\nFEEDBACK_RETENTION_DAYS='7'\n"
    )
    status, out, err = said(capsys, "list", "--json")
    assert status == 0, err
    assert [entry["sha256"] for entry in json.loads(out)["queue"]] == [SHA]
    assert "shared over 7 days ago" in said(capsys, "prune", "--dry-run")[1]
    assert not (checkout / "var" / "lens.sqlite3").exists()


def test_no_store_where_the_settings_point_is_named_and_none_is_made(checkout, capsys):
    status, out, err = said(capsys, "list")
    assert (status, out) == (2, "")
    assert err == (
        "feedback: no feedback store at var/lens.sqlite3 (DATABASE_URL sqlite:///var/lens.sqlite3): is the "
        "stack up, and this its folder? the native stack writes DATABASE_URL to var/stack.env as it starts; "
        "give the same VAR_DIR, or DATABASE_URL\n"
    )
    assert not (checkout / "var").exists()


def test_a_store_behind_the_code_is_named_with_the_command_that_migrates_it(checkout, capsys, monkeypatch):
    database = checkout / "old.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    status, _, err = said(capsys, "accept", SHA)
    assert status == 2
    assert err == (
        f"feedback: the feedback store at sqlite:///{database} is at revision none, the code expects "
        f"{migrate.head()}: run python -m store upgrade with the same settings\n"
    )


@pytest.mark.parametrize(
    ("password_file", "expected"),
    [
        (None, "it asks for a password; set DATABASE_PASSWORD_FILE (compose's ops service"),
        ("wrong", "it refuses the password in wrong-password; set DATABASE_PASSWORD_FILE to the store's"),
        (
            "missing",
            "cannot read the database's password from missing-password (DATABASE_PASSWORD_FILE): no such",
        ),
    ],
)
def test_a_password_missing_or_wrong_is_named_with_the_setting_and_where_the_stack_keeps_it(
    checkout, capsys, monkeypatch, postgres: PostgresServer, password_file, expected
):
    monkeypatch.setenv("DATABASE_URL", postgres.url(password=False))
    if password_file is not None:
        (checkout / "wrong-password").write_text("not the password\n")
        monkeypatch.setenv("DATABASE_PASSWORD_FILE", f"{password_file}-password")
    status, out, err = said(capsys, "list")
    assert (status, out) == (2, "")
    assert err.count("\n") == 1, err
    assert expected in err
    for library in ("fe_sendauth", "connection failed", "FATAL", "Traceback", postgres.password):
        assert library not in err


def test_nothing_listening_is_named_with_the_setting_that_says_where(checkout, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://lens@127.0.0.1:{free_port()}/lens")
    status, _, err = said(capsys, "list")
    assert status == 2
    assert err.count("\n") == 1, err
    assert err.startswith("feedback: cannot reach the feedback store at postgresql://lens@127.0.0.1:")
    assert "nothing answers there (is the stack up?); set DATABASE_URL to the stack's database" in err
    assert "var/stack.env" in err
    assert "Connection refused" not in err
