"""The feedback store as an operator's command reaches it (`python -m ops.feedback`): the settings the
stack started with, and, when the database cannot be used, one sentence that names the setting to give
and where the stack keeps it. SQLAlchemy's and psycopg's own words say neither ("fe_sendauth: no
password supplied", a traceback through the pool).

StoreToolSettings, ops.feedback's and ops.keys', is OpsSettings (the environment, then the native
stack's VAR_DIR/stack.env) with the store's own settings (DATABASE_URL, DATABASE_PASSWORD_FILE,
FEEDBACK_RETENTION_DAYS): one object, read the one way. It is a class of its own rather than a part of
OpsSettings so that the reconciler, which every serving unit runs, does not load SQLAlchemy (about 12 MB)
for a database it never opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from ops.settings import OpsSettings
from store import revision
from store.engine import describe, make_engine
from store.settings import DatabaseSettings

# Where each stack keeps the store's settings, for the sentence that names them.
WHERE = (
    "compose's ops service and Kubernetes pods labelled app: ops set it from the store's secret: "
    "docs/operations.md, Reviewing feedback"
)


class StoreToolSettings(OpsSettings, DatabaseSettings):
    """The operator's settings and the store's, found as OpsSettings finds the stack's."""


class StoreUnreachableError(Exception):
    """The feedback store could not be used; the message says which setting to give."""


def _native(settings: StoreToolSettings) -> str:
    return f"the native stack writes DATABASE_URL to {settings.stack_file} as it starts"


def trouble(exc: DBAPIError, settings: StoreToolSettings) -> str:
    """What went wrong reaching the database, and what to set."""
    shown = describe(make_url(settings.database_url))
    said = str(exc.orig)
    where = f"cannot reach the feedback store at {shown}"
    if "no password supplied" in said:  # libpq's words when the server asks and none was given
        return f"{where}: it asks for a password; set DATABASE_PASSWORD_FILE ({WHERE})"
    if "password authentication failed" in said:
        return (
            f"{where}: it refuses the password in {settings.database_password_file}; set "
            f"DATABASE_PASSWORD_FILE to the store's ({WHERE})"
        )
    if "does not exist" in said and "database" in said:
        return f"{where}: the server has no such database; set DATABASE_URL to the stack's ({WHERE})"
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        return f"{where}: it cannot be opened (is it the stack's, and yours to write?); {_native(settings)}"
    return (
        f"{where}: nothing answers there (is the stack up?); set DATABASE_URL to the stack's database "
        f"({_native(settings)}; {WHERE})"
    )


def _address(settings: StoreToolSettings) -> URL:
    try:
        address = settings.database_address()
    except OSError as exc:
        raise StoreUnreachableError(
            f"cannot read the database's password from {settings.database_password_file} "
            f"(DATABASE_PASSWORD_FILE): {(exc.strerror or str(exc)).lower()}; {WHERE}"
        ) from None
    database = address.database or ""
    if address.get_backend_name() == "sqlite" and database != ":memory:" and not Path(database).is_file():
        # Opening it would make an empty file there, and every command would then find no feedback.
        raise StoreUnreachableError(
            f"no feedback store at {database} (DATABASE_URL {settings.database_url}): is the stack up, "
            f"and this its folder? {_native(settings)}; give the same VAR_DIR, or DATABASE_URL"
        )
    return address


@contextmanager
def connected(settings: StoreToolSettings) -> Iterator[Engine]:
    """An engine on the stack's store, at the code's schema; whatever fails inside, as a
    StoreUnreachableError that says why."""
    address = _address(settings)
    engine = make_engine(address)
    try:
        try:
            at = revision.current(engine)
        except DBAPIError as exc:  # the first contact: whatever the driver says, it is not usable
            raise StoreUnreachableError(trouble(exc, settings)) from None
        if at != revision.HEAD:
            raise StoreUnreachableError(
                f"the feedback store at {describe(address)} is at revision {at or 'none'}, the code "
                f"expects {revision.HEAD}: run python -m store upgrade with the same settings"
            )
        try:
            yield engine
        except OperationalError as exc:  # the database went away under the command
            raise StoreUnreachableError(trouble(exc, settings)) from None
    finally:
        engine.dispose()
