"""``python -m ops.keys create|list|rotate|revoke``: clients' API keys, kept in the stack's store.

    python -m ops.keys create discord-bot --rate 60/minute --daily 5000 --concurrency 4
    python -m ops.keys rotate fsl_k3xq7mzp --grace 3600

A new key is printed once, alone on standard output; the store keeps its prefix and a keyed hash
(store.api_keys). The gateways read a key's row when they first see it and again after
API_KEY_CACHE_SECONDS, so a revocation or a rotation's end takes effect within that (10 s by default).
The store and the pepper are found as the other operator's tools find the stack (ops/settings.py):
DATABASE_URL, DATABASE_PASSWORD_FILE and API_KEY_PEPPER_FILE from the environment, else from the native
stack's VAR_DIR/stack.env.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from commandline import CommandParser
from ops.stack_database import StoreToolSettings
from store import api_keys, revision
from store.api_keys import DEFAULT_SCOPES, SCOPES, KeyLimits, UnknownKeyError
from store.engine import describe
from store.models import ApiKey, utcnow
from store.session import transaction

EXAMPLES = {
    "create": (
        "python -m ops.keys create discord-bot --rate 60/minute --daily 5000 --concurrency 4\n"
        "python -m ops.keys create archive-sorter --rate 10/second --burst 32 --scopes classify,batch,url"
    ),
    "list": "python -m ops.keys list\npython -m ops.keys list --json",
    "rotate": "python -m ops.keys rotate fsl_k3xq7mzp --grace 3600",
    "revoke": "python -m ops.keys revoke fsl_k3xq7mzp",
}
SETTINGS_HELP = """\
Where the store and the keys' pepper are: DATABASE_URL, DATABASE_PASSWORD_FILE and API_KEY_PEPPER_FILE;
`make up` writes the native stack's to var/stack.env (VAR_DIR/stack.env), read for those the
environment does not set (docs/configuration.md)."""


class RefusedError(Exception):
    pass


def parser() -> CommandParser:
    top = CommandParser(
        prog="python -m ops.keys",
        description=__doc__.split("\n\n")[0],
        epilog=SETTINGS_HELP,
        example="python -m ops.keys create discord-bot --daily 5000\npython -m ops.keys list",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("create", help="a new key; printed once")
    p.add_argument("name", help="who it is for (shown in lists, never to clients)")
    p.add_argument("--rate", default="60/minute", help="units per second|minute|hour|day (default 60/minute)")
    p.add_argument("--burst", type=int, help="units at once (default: the rate's count)")
    p.add_argument("--daily", type=int, default=5000, help="units answered in any 24 hours (default 5000)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (default 4)")
    p.add_argument(
        "--scopes",
        default=",".join(DEFAULT_SCOPES),
        help=f"comma-separated, of {', '.join(SCOPES)} (default {','.join(DEFAULT_SCOPES)})",
    )
    p = sub.add_parser("list", help="every key: prefix, name, limits, scopes, state")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("rotate", help="a new key with the same limits; the old one stops (after --grace)")
    p.add_argument("prefix", help="the key's prefix, as list shows it (fsl_ optional)")
    p.add_argument(
        "--grace", type=int, default=0, help="seconds the old key keeps working (default 0: it stops now)"
    )
    p = sub.add_parser("revoke", help="the key stops working (within API_KEY_CACHE_SECONDS)")
    p.add_argument("prefix", help="the key's prefix, as list shows it (fsl_ optional)")
    for name, command in sub.choices.items():
        command.add_example(EXAMPLES[name])
    return top


def _limits(args: argparse.Namespace) -> KeyLimits:
    burst = args.burst if args.burst is not None else api_keys.parse_rate(args.rate)[0]
    return KeyLimits(args.rate, burst, args.daily, args.concurrency, api_keys.parse_scopes(args.scopes))


def _pepper(settings: StoreToolSettings) -> bytes:
    path = settings.api_key_pepper_file
    where = f"the native stack keeps it in {settings.native_api_key_pepper_file}"
    if path is None:
        raise RefusedError(f"no API_KEY_PEPPER_FILE: set it to the gateways' ({where})")
    try:
        return api_keys.read_pepper(path)
    except OSError as exc:
        raise RefusedError(
            f"cannot read API_KEY_PEPPER_FILE {path}: {(exc.strerror or str(exc)).lower()} ({where})"
        ) from None


def described(row: ApiKey) -> dict[str, Any]:
    now = utcnow()
    if row.revoked_at is None:
        state = "active"
    elif row.revoked_at > now:
        state = f"active until {row.revoked_at:%Y-%m-%d %H:%M:%S}Z (rotated)"
    else:
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M:%S}Z"
    return {
        "key": api_keys.public_id(row.prefix),
        "name": row.name,
        "rate": row.rate,
        "burst": row.burst,
        "daily": row.daily,
        "concurrency": row.concurrency,
        "scopes": list(api_keys.parse_scopes(row.scopes)),
        "created_at": row.created_at.isoformat(),
        "rotated_from": api_keys.public_id(row.rotated_from) if row.rotated_from else None,
        "state": state,
    }


def _summary(row: ApiKey) -> str:
    return (
        f"{api_keys.public_id(row.prefix)} ({row.name}): {row.rate}, burst {row.burst}, {row.daily} a day, "
        f"{row.concurrency} at once, scopes {row.scopes}"
    )


def run(args: argparse.Namespace, settings: StoreToolSettings) -> int:
    limits = _limits(args) if args.command == "create" else None
    pepper = _pepper(settings) if args.command in ("create", "rotate") else b""
    engine = settings.engine()
    try:
        if (at := revision.current(engine)) != revision.HEAD:
            raise RefusedError(
                f"the store at {describe(settings.database_address())} is at {at or 'no revision'}, "
                f"not {revision.HEAD}: run python -m store upgrade"
            )
        with transaction(engine) as session:
            if args.command == "list":
                rows = [described(row) for row in api_keys.listed(session)]
                print(json.dumps(rows, indent=2) if args.json else _table(rows))
                return 0
            if args.command == "create":
                assert limits is not None
                row, key = api_keys.create(session, args.name, limits, pepper)
                said = f"created {_summary(row)}"
            elif args.command == "rotate":
                grace = timedelta(seconds=max(0, args.grace))
                row, key = api_keys.rotate(session, api_keys.typed_prefix(args.prefix), pepper, grace)
                old = api_keys.public_id(row.rotated_from or "")
                said = f"rotated {old} into {_summary(row)}; {old} works {int(grace.total_seconds())} s more"
            else:
                row = api_keys.revoke(session, api_keys.typed_prefix(args.prefix))
                print(f"keys: revoked {_summary(row)}; the gateways refuse it within API_KEY_CACHE_SECONDS")
                return 0
        print(key)
        print(f"keys: {said}. The key above is shown once: the store keeps only its hash.", file=sys.stderr)
        return 0
    finally:
        engine.dispose()


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no keys (python -m ops.keys create NAME makes one)"
    columns = ("key", "name", "rate", "burst", "daily", "concurrency", "scopes", "state")
    cells = [[",".join(r[c]) if c == "scopes" else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in [columns, *cells]]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = StoreToolSettings()
    try:
        return run(args, settings)
    except (RefusedError, UnknownKeyError, ValueError) as exc:
        print(f"keys: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        first = str(exc.args[0] if exc.args else exc).splitlines()[0]
        where = describe(settings.database_address())
        print(
            f"keys: the store at {where} failed: {type(exc).__name__}: {first}; "
            "set DATABASE_URL (and DATABASE_PASSWORD_FILE) to the stack's (var/stack.env natively)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
