"""The review tool for what visitors said of the answers: the queue, a moderator's decisions, the reviewed
data set a retrain reads, retention and forgetting (docs/operations.md, Reviewing feedback).

    python -m ops.feedback list [--json]
    python -m ops.feedback accept SHA... [--group]             # the visitors' game is kept as the label
    python -m ops.feedback fix SHA... --label elden_ring [--group]
    python -m ops.feedback reject SHA... --why "a menu" [--group]
    python -m ops.feedback export OUT [--force]                # the kept screenshots, folder per class
    python -m ops.feedback prune [--dry-run]                   # FEEDBACK_RETENTION_DAYS
    python -m ops.feedback forget SHA                          # everything about one image, on request

A SHA is an image's SHA-256 or its first 8 digits or more, as long as they name one image; ``--group``
takes each image's near-duplicates in the queue with it. Decisions on many images are made together or
not at all. The store is the stack's (DATABASE_URL, DATABASE_PASSWORD_FILE), found as the other
operator's tools find the stack (ops.stack_database).
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy.orm import Session

from commandline import CommandParser
from inference.labels import LABELS
from ops import review_export, review_queue
from ops.stack_database import StoreToolSettings, StoreUnreachableError, connected
from store.models import Review
from store.review import (
    Decision,
    UnknownImagesError,
    decide,
    expired,
    exportable,
    exportable_count,
    forget,
    matching,
    prune,
    queue,
)
from store.session import transaction

PREFIX = re.compile(r"[0-9a-f]{8,64}")


class RefusedError(ValueError):
    """The command is not carried out; the message says why."""


def sha_prefix(text: str) -> str:
    """An argument naming an image: its SHA-256, or 8 of its first digits or more."""
    prefix = text.strip().lower()
    if not PREFIX.fullmatch(prefix):
        raise argparse.ArgumentTypeError(f"{text!r} is not an image's SHA-256 or its first 8 digits or more")
    return prefix


def resolved(session: Session, prefixes: list[str]) -> list[str]:
    """Each prefix as the one image it names; refused when it names none or several."""
    found: list[str] = []
    for prefix in prefixes:
        images = matching(session, prefix)
        if not images:
            raise RefusedError(f"no feedback on an image {prefix}...: see python -m ops.feedback list")
        if len(images) > 1:
            shown = ", ".join(image[:16] for image in images[:3]) + (", ..." if len(images) > 3 else "")
            raise RefusedError(f"{prefix} begins {len(images)} images ({shown}): give more of its digits")
        found.append(images[0])
    return list(dict.fromkeys(found))


def with_groups(session: Session, images: list[str]) -> list[str]:
    """``images`` and the pending near-duplicates the queue groups each with."""
    groups: dict[str, list[str]] = {}
    group_of: dict[str, str] = {}
    for entry in queue(session):
        groups.setdefault(entry.group, []).append(entry.sha256)
        group_of[entry.sha256] = entry.group
    taken = [member for image in images for member in groups.get(group_of.get(image, ""), [image])]
    return list(dict.fromkeys(taken))


def login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME or USER, and a uid with no passwd entry (a container)
        return ""


# -- the commands -------------------------------------------------------------------------------------
def show(settings: StoreToolSettings, as_json: bool) -> int:
    with connected(settings) as engine, transaction(engine, read_only=True) as session:
        entries = queue(session)
    if as_json:  # one document, the summary in it: a container's terminal merges stderr into stdout
        print(
            json.dumps({**review_queue.as_json(entries), "summary": review_queue.summary(entries)}, indent=2)
        )
        return 0
    print("\n".join(review_queue.table(entries)) if entries else "(nothing to review)")
    print(review_queue.summary(entries))
    return 0


def decided(settings: StoreToolSettings, args: argparse.Namespace) -> int:
    reviewer = args.reviewer or login_name()
    if not reviewer:
        raise RefusedError("cannot tell who you are (no login name here): give --reviewer NAME")
    state = {"accept": "accepted", "fix": "fixed", "reject": "rejected"}[args.command]
    decision = Decision(state, reviewer, label=getattr(args, "label", None), why=getattr(args, "why", None))
    with connected(settings) as engine, transaction(engine) as session:
        given = resolved(session, args.images)
        images = with_groups(session, given) if args.group else given
        reviews = decide(session, images, decision)
    extra = f" ({len(images) - len(given)} of them near-duplicates, by --group)" if args.group else ""
    print(f"feedback: {state} {len(reviews)} image(s){extra} as {reviewer}; {_outcome(decision, reviews)}")
    return 0


def _outcome(decision: Decision, reviews: list[Review]) -> str:
    if decision.state == "fixed":
        return f"labelled {decision.label}"
    if decision.state == "rejected":
        return f"why: {decision.why}"
    labels = Counter(review.label for review in reviews if review.label is not None)
    named = ", ".join(f"{label} {n}" for label, n in labels.most_common()) or "none"
    unnamed = len(reviews) - labels.total()
    return f"labelled as their visitors named them: {named}" + (
        f"; {unnamed} with no game named (not exported)" if unnamed else ""
    )


def export(settings: StoreToolSettings, out: Path, force: bool) -> int:
    review_export.check_target(out, force)  # before any work
    with connected(settings) as engine, transaction(engine, read_only=True) as session:
        total = exportable_count(session)
        if total == 0:
            print(
                "feedback: nothing to export: no accepted or fixed image with a shared screenshot of a game"
            )
            return 1
        labels = review_export.write(exportable(session), out, total, force)
    counts = ", ".join(f"{label} {n}" for label, n in sorted(labels.items()))
    manifest = out / review_export.MANIFEST
    print(f"feedback: exported {labels.total()} image(s) ({counts}) to {out}, listed in {manifest}")
    return 0


def pruned(settings: StoreToolSettings, dry_run: bool) -> int:
    days = settings.feedback_retention_days
    with connected(settings) as engine, transaction(engine, read_only=dry_run) as session:
        found = expired(session, days)
        if not dry_run:
            prune(session, days)
    verb = "would delete" if dry_run else "deleted"
    print(
        f"feedback: {verb} {found.images} screenshot(s) ({found.bytes / 1e6:.1f} MB) shared over {days:g} "
        "days ago that no moderator accepted or fixed (FEEDBACK_RETENTION_DAYS); their votes stay"
    )
    return 0


def forgotten(settings: StoreToolSettings, prefix: str) -> int:
    with connected(settings) as engine, transaction(engine) as session:
        [image] = resolved(session, [prefix])
        gone = forget(session, image)
    print(
        f"feedback: forgot {image}: {gone.votes} vote(s), {gone.predictions} prediction(s), "
        f"{gone.images} screenshot(s), {gone.reviews} review(s); copies in earlier exports and the runs "
        "trained on them are not touched"
    )
    return 0


# -- the command line ---------------------------------------------------------------------------------
EXAMPLES = {
    "list": "python -m ops.feedback list\npython -m ops.feedback list --json",
    "accept": "python -m ops.feedback accept 3f2a9c1b 9be01f33aa02 --group",
    "fix": "python -m ops.feedback fix 3f2a9c1b --label elden_ring",
    "reject": 'python -m ops.feedback reject 3f2a9c1b --why "a menu, not a game frame"',
    "export": "python -m ops.feedback export reviewed/2026-12-08",
    "prune": "python -m ops.feedback prune --dry-run",
    "forget": "python -m ops.feedback forget 3f2a9c1b",
}
SETTINGS_HELP = """\
The store is DATABASE_URL (with DATABASE_PASSWORD_FILE for PostgreSQL); `make up` writes the native
stack's to var/stack.env (VAR_DIR/stack.env), read for what the environment does not set; compose's ops
service and Kubernetes pods labelled app: ops set it (docs/operations.md, Reviewing feedback)."""


def _decision(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help)
    p.add_argument("images", nargs="+", type=sha_prefix, metavar="SHA", help="SHA-256, or 8+ first digits")
    p.add_argument("--group", action="store_true", help="also each image's near-duplicates in the queue")
    p.add_argument("--reviewer", help="who decides (default: your login name)")
    return p


def parser() -> CommandParser:
    top = CommandParser(
        prog="python -m ops.feedback",
        description=__doc__.split("\n\n")[0],
        epilog=SETTINGS_HELP,
        example="python -m ops.feedback list\npython -m ops.feedback accept 3f2a9c1b --group",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p: argparse.ArgumentParser = sub.add_parser(
        "list", help="the pending images, contested first, near-duplicates together"
    )
    p.add_argument("--json", action="store_true")
    _decision(sub, "accept", "keep images for training, labelled with the game their visitors named")
    p = _decision(sub, "fix", "keep images for training under the game you name")
    p.add_argument("--label", required=True, choices=LABELS, help="the game it is")
    p = _decision(sub, "reject", "keep images out of training")
    p.add_argument("--why", required=True, help="the reason, kept with the review")
    p = sub.add_parser("export", help="the accepted and fixed screenshots as a folder-per-class data set")
    p.add_argument("out", type=Path, metavar="OUT", help="a new or empty folder")
    p.add_argument("--force", action="store_true", help="replace OUT whatever it holds")
    p = sub.add_parser("prune", help="delete screenshots no one kept within FEEDBACK_RETENTION_DAYS")
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted, delete nothing")
    p = sub.add_parser("forget", help="delete everything the store holds about one image")
    p.add_argument("image", type=sha_prefix, metavar="SHA", help="SHA-256, or 8+ first digits")
    for name, command in sub.choices.items():
        command.add_example(EXAMPLES[name])
    return top


def run(args: argparse.Namespace, settings: StoreToolSettings) -> int:
    if args.command == "list":
        return show(settings, args.json)
    if args.command in ("accept", "fix", "reject"):
        return decided(settings, args)
    if args.command == "export":
        return export(settings, args.out, args.force)
    if args.command == "prune":
        return pruned(settings, args.dry_run)
    return forgotten(settings, args.image)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args, StoreToolSettings())
    except (
        RefusedError,
        StoreUnreachableError,
        UnknownImagesError,
        review_export.ExportRefusedError,
        OSError,
    ) as exc:
        print(f"feedback: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
