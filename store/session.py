"""One unit of work: a session whose transaction commits when the block ends and rolls back when it
raises, so that a failure anywhere in it leaves nothing half-written."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.engine import READ_ONLY

Row = TypeVar("Row")


@contextlib.contextmanager
def transaction(engine: Engine, read_only: bool = False) -> Iterator[Session]:
    """``read_only``: a reader that must not hold writers back (on SQLite it takes no write lock; a
    PostgreSQL reader never does)."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    with Session(bind, expire_on_commit=False) as session, session.begin():
        yield session


def insert_or_get(session: Session, row: Row, existing: Callable[[], Row | None]) -> tuple[Row, bool]:
    """``row`` inserted, or the row that a unique constraint says is already there (``existing``), and
    whether it was inserted. The insert runs in a savepoint: two gateways inserting the same row at once
    both succeed, one of them by reading the other's, on SQLite and PostgreSQL alike."""
    if (found := existing()) is not None:
        return found, False
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = existing()
        if found is None:  # not a duplicate but some other constraint: the caller's mistake
            raise
        return found, False
    return row, True
