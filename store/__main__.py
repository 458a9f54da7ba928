"""``python -m store upgrade|current|check``: migrate the database DATABASE_URL names to the code's
schema, say which revision it is at, or check that it is at head and matches the models (exit 1 when
not): what stack.sh, compose's ``migrate`` service and the serving pod's init container run."""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from store import migrate
from store.engine import describe
from store.settings import DatabaseSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m store", description=__doc__)
    parser.add_argument("command", choices=("upgrade", "current", "check"))
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long for the database to answer (a container started beside it); default 0",
    )
    args = parser.parse_args(argv)
    settings = DatabaseSettings()
    address = settings.database_address()
    engine = settings.engine()
    try:
        _wait_for(engine, args.wait)
        if args.command == "upgrade":
            migrate.upgrade(engine)
            print(f"store: {describe(address)} at {migrate.current(engine)} (head)")
            return 0
        if args.command == "current":
            print(migrate.current(engine) or "empty")
            return 0
        return _check(engine)
    except SQLAlchemyError as exc:
        print(f"store: {describe(address)}: {type(exc).__name__}: {exc.args[0] if exc.args else exc}")
        return 2
    finally:
        engine.dispose()


def _wait_for(engine: Engine, seconds: float) -> None:
    """Return once the database answers, or raise its last error after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return
        except OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)


def _check(engine: Engine) -> int:
    revision, head = migrate.current(engine), migrate.head()
    if revision != head:
        print(f"store: at {revision or 'no revision'}, the code expects {head}: run python -m store upgrade")
        return 1
    if changes := migrate.drift(engine):
        print("store: the schema differs from the models:\n  " + "\n  ".join(changes))
        return 1
    print(f"store: at {head}, the schema matches the models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
