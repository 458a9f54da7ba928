"""The one way an engine is made, for the gateway, the operator's tools and ``python -m store``.

SQLite (the default, a file under var/): write-ahead logging so that readers never wait for the writer,
foreign keys on (SQLite leaves them off), a busy timeout so that the gateway's workers queue for the
write lock instead of failing, and every transaction begun IMMEDIATE: a deferred one that reads, then
writes, fails at once with "database is locked" when another writer got in between, whatever the
timeout says. A reader that says so (``READ_ONLY``, store.session.transaction(read_only=True)) begins
deferred instead and takes no write lock: WAL lets it read while the gateways write, so an export that
streams gigabytes of screenshots keeps no vote waiting.

PostgreSQL through psycopg 3 (``postgresql+psycopg://``; a plain ``postgresql://`` is taken as that),
its password read from DATABASE_PASSWORD_FILE and never typed into the URL, connections checked before
use (a restarted server leaves every pooled one dead) and a short connect timeout, so that feedback
fails with a 503 in seconds while the database is away.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_SECONDS = 3
READ_ONLY = "lens_read_only"  # an execution option: the transaction only reads


def database_url(url: str, password_file: Path | None = None) -> URL:
    """``url`` (DATABASE_URL) with the password from ``password_file`` (DATABASE_PASSWORD_FILE), read now;
    ``postgresql://`` means psycopg 3, the driver installed."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password_file is not None and parsed.get_backend_name() != "sqlite":  # a file has no password
        parsed = parsed.set(password=password_file.read_text().strip())
    return parsed


def make_engine(url: URL | str, **options: Any) -> Engine:
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return _sqlite(url, **options)
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "fromsoft-lens"}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **options)


def _sqlite(url: URL, **options: Any) -> Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)

    @event.listens_for(engine, "connect")
    def _pragmas(connection: sqlite3.Connection, _: Any) -> None:
        connection.isolation_level = None  # transactions are begun below, not by the driver
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"):
            connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        reads_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")

    return engine


def describe(url: URL) -> str:
    """``url`` for logs and messages: never the password."""
    return url.render_as_string(hide_password=True)
