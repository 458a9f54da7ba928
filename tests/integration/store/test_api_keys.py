"""Clients' API keys in the store, on SQLite and PostgreSQL alike: a key is kept as its prefix and a keyed
hash, never itself; rotation keeps its limits and a grace; and the operator's tool (``python -m ops.keys``)
creates, lists, rotates and revokes them against the store it is pointed at, or the native stack's."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from sqlalchemy import make_url

from store import api_keys, migrate
from store.api_keys import KeyLimits, UnknownKeyError
from store.engine import make_engine
from store.models import ApiKey, utcnow
from store.session import transaction
from tests.support.keys import keys_tool

PEPPER = b"a pepper of the stack's own"
LIMITS = KeyLimits("60/minute", 60, 5000, 4, ("classify", "batch"))


def test_a_key_is_kept_as_its_prefix_and_a_keyed_hash_never_itself(engine):
    with transaction(engine) as session:
        row, key = api_keys.create(session, "discord-bot", LIMITS, PEPPER)
    assert api_keys.KEY.fullmatch(key)
    assert key.startswith(f"fsl_{row.prefix}_")
    with transaction(engine) as session:
        stored = api_keys.find(session, row.prefix)
        assert stored is not None
        columns = [str(getattr(stored, c.key)) for c in ApiKey.__table__.columns]
    assert stored.secret_hash == hmac.new(PEPPER, key.encode(), hashlib.sha256).hexdigest()
    assert not any(key.split("_", 2)[2] in value for value in columns)  # the secret is nowhere
    assert api_keys.matches(PEPPER, key, stored.secret_hash)
    assert not api_keys.matches(b"another stack's pepper", key, stored.secret_hash)
    assert not api_keys.matches(PEPPER, key[:-1] + ("A" if key[-1] != "A" else "B"), stored.secret_hash)
    assert KeyLimits.of(stored) == LIMITS


def test_a_rotated_key_keeps_its_limits_and_works_through_its_grace_and_a_revoked_one_is_not_rotated(engine):
    now = utcnow()
    with transaction(engine) as session:
        old, _ = api_keys.create(session, "sorter", LIMITS, PEPPER, now)
    with transaction(engine) as session:
        new, key = api_keys.rotate(session, old.prefix, PEPPER, timedelta(hours=1), now)
    with transaction(engine) as session:
        before = api_keys.find(session, old.prefix)
        after = api_keys.find(session, new.prefix)
    assert before is not None
    assert after is not None
    assert (after.name, KeyLimits.of(after), after.rotated_from) == ("sorter", LIMITS, old.prefix)
    assert api_keys.active(before, now + timedelta(minutes=59))
    assert not api_keys.active(before, now + timedelta(minutes=61))
    with transaction(engine) as session:
        api_keys.revoke(session, old.prefix, now)  # cuts the grace short
    with transaction(engine) as session:
        assert not api_keys.active(api_keys.find(session, old.prefix) or after, now + timedelta(seconds=1))
        with pytest.raises(UnknownKeyError):
            api_keys.rotate(session, old.prefix, PEPPER, timedelta(0), now + timedelta(seconds=1))
        with pytest.raises(UnknownKeyError):
            api_keys.revoke(session, "aaaaaaaa")
    assert key.startswith(f"fsl_{new.prefix}_")


@pytest.mark.parametrize(
    ("limits", "why"),
    [
        (("60/fortnight", 1, 1, 1, ()), "N/minute"),
        (("60/minute", 0, 1, 1, ()), "burst"),
        (("60/minute", 1, 1, 0, ()), "concurrency"),
        (("60/minute", 1, 1, 1, ("classify", "admin")), "unknown scope admin"),
    ],
)
def test_limits_that_mean_nothing_are_refused_before_anything_is_stored(limits, why):
    with pytest.raises(ValueError, match=why):
        KeyLimits(*limits)


def tool_env(database: str, tmp_path) -> dict[str, str]:
    """The store's settings as a service gets them: a PostgreSQL password from its file."""
    url = make_url(database)
    pepper = tmp_path / "pepper"
    pepper.write_text("the pepper\n")
    env = {"DATABASE_URL": url.set(password=None).render_as_string(False), "API_KEY_PEPPER_FILE": str(pepper)}
    if url.password is not None:
        (tmp_path / "db-password").write_text(f"{url.password}\n")
        env["DATABASE_PASSWORD_FILE"] = str(tmp_path / "db-password")
    return env


def test_the_tool_creates_lists_rotates_and_revokes_keys_in_the_store_it_is_pointed_at(
    engine, database, tmp_path
):
    env = tool_env(database, tmp_path)
    made = keys_tool(env, "create", "bot", "--rate", "5/second", "--daily", "100", "--scopes", "classify,url")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert api_keys.KEY.fullmatch(key)
    assert "shown once" in made.stderr
    prefix = key.split("_")[1]
    with transaction(engine) as session:
        row = api_keys.find(session, prefix)
        assert row is not None
        assert api_keys.matches(b"the pepper", key, row.secret_hash)
        assert (row.rate, row.burst, row.daily, row.scopes) == ("5/second", 5, 100, "classify,url")
    rotated = keys_tool(env, "rotate", f"fsl_{prefix}")
    assert rotated.returncode == 0, rotated.stderr
    listed = keys_tool(env, "list", "--json")
    states = {entry["key"]: entry["state"] for entry in json.loads(listed.stdout)}
    assert states[f"fsl_{prefix}"].startswith("revoked")  # no grace: it stopped at once
    new = rotated.stdout.strip().split("_")[1]
    assert states[f"fsl_{new}"] == "active"
    assert keys_tool(env, "revoke", new).returncode == 0
    assert "revoked" in keys_tool(env, "list").stdout.splitlines()[-1]
    wrong = keys_tool(env, "create", "bot", "--rate", "lots")
    assert (wrong.returncode, wrong.stdout) == (2, "")
    assert wrong.stderr.startswith("keys: rate 'lots'")


def test_the_tool_finds_the_native_stacks_store_and_pepper_and_says_what_is_missing(tmp_path):
    var = tmp_path / "var"
    (var / "api-keys").mkdir(parents=True)
    pepper = var / "api-keys" / "pepper"
    pepper.write_text("the stack's pepper\n")
    url = f"sqlite:///{tmp_path / 'lens.sqlite3'}"
    stack = [f"DATABASE_URL='{url}'", f"API_KEY_PEPPER_FILE='{pepper}'"]
    (var / "stack.env").write_text("\n".join(["# Written by scripts/stack.sh up", *stack]) + "\n")
    unmigrated = keys_tool({"VAR_DIR": str(var)}, "list")
    assert unmigrated.returncode == 2
    assert "run python -m store upgrade" in unmigrated.stderr
    engine = make_engine(url)
    migrate.upgrade(engine)
    made = keys_tool({"VAR_DIR": str(var)}, "create", "found")
    assert made.returncode == 0, made.stderr
    with transaction(engine) as session:
        row = api_keys.find(session, made.stdout.strip().split("_")[1])
        assert row is not None
        assert api_keys.matches(b"the stack's pepper", made.stdout.strip(), row.secret_hash)
    engine.dispose()
    (var / "stack.env").write_text(f"DATABASE_URL='{url}'\n")
    missing = keys_tool({"VAR_DIR": str(var)}, "create", "lost")
    assert missing.returncode == 2
    assert "API_KEY_PEPPER_FILE" in missing.stderr
    assert str(pepper) in missing.stderr  # where the native stack keeps it
