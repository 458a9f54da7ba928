"""The schema revision the code expects and the one a database is at, read without Alembic: what the
gateway asks before it writes feedback. Alembic's runtime pulls in Mako (and Pygments where installed),
which the gateway's image need not carry; store.migrate holds HEAD equal to the newest migration."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

HEAD = "0002"  # store/migrations/versions' newest revision (a test holds them equal)
VERSION_TABLE = "alembic_version"


def current(engine: Engine) -> str | None:
    """The revision the database is at; None before the first migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
