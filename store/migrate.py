"""Alembic, configured in code: the migrations in store/migrations, run on an engine from store.engine.
``python -m store upgrade`` runs them; the gateway asks ``at_head`` before it writes feedback, so a
database behind the code answers 503 instead of half-working."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from store.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    """The newest migration's revision: what the code expects."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "store/migrations has no migration"
    return revision


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at; None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def at_head(engine: Engine) -> bool:
    return current(engine) == head()


def drift(engine: Engine) -> list[str]:
    """How the database's schema differs from the models (store.models): empty when they agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [str(change) for change in compare_metadata(context, Base.metadata)]
