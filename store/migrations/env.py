"""Alembic's environment, run by store.migrate with the connection it opened (no alembic.ini, no URL
here). On PostgreSQL a transaction-scoped advisory lock is taken first: several serving pods' init
containers migrate at once, and the second waits, then finds the schema at head and does nothing."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from store.models import Base

MIGRATION_LOCK = 0x46534C454E53  # any 64-bit key of our own ("FSLENS"): one lock for every migrator

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.run_migrations()
