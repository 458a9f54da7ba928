"""The store's tests and the review tool's (python -m ops.feedback) run against both databases the store
supports: SQLite (a file, as the native stack keeps it) and a real PostgreSQL (a fresh database per
test, on the session's server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from launchers.postgres import PostgresServer
from store import migrate
from store.engine import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database's URL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lens.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    engine = make_engine(database)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
