"""``python -m client feedback CSV``: the corrections a moderator typed into a ``classify --csv`` file,
sent as votes (client.corrections says what each row means).

Each vote goes with its image, read again from the row's path: the API takes no hash alone, and a file
whose SHA-256 is no longer the row's (changed since it was classified) is that row's failure, never a
vote on other bytes. ``--share-images`` is the consent to keep the screenshots for review; without it the
service keeps none. Votes go one at a time: the rate limit (10 a minute by default) sets the pace, not
the connection, and every 429 is waited out as ``classify`` waits (client.api). A vote on an image whose
answer the service no longer caches makes it classify the image again, at a classification's price.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from pathlib import Path

import httpx
from tqdm import tqdm

from client.api import Lens, RefusedError
from client.corrections import Correction, read_corrections
from client.files import MAGIC_BYTES
from client.records import say
from inference.formats import CONTENT_TYPES, sniff_format


def image_of(vote: Correction) -> tuple[bytes, str]:
    """The bytes and content type of the file the row names; ValueError when it cannot be the image
    the row was classified as."""
    try:
        data = vote.path.read_bytes()
    except OSError as exc:
        raise ValueError(f"unreadable: {exc.strerror or exc}") from None
    if (digest := hashlib.sha256(data).hexdigest()) != vote.sha256:
        raise ValueError(f"changed since it was classified: its SHA-256 is {digest}, the row's {vote.sha256}")
    fmt = sniff_format(data[:MAGIC_BYTES])
    if fmt is None:
        raise ValueError("not a JPEG, PNG or WebP image")
    return data, CONTENT_TYPES[fmt]


async def send(lens: Lens, votes: list[Correction], share: bool) -> tuple[Counter[str], int]:
    """Every vote sent: how many of each verdict the API recorded (``updated`` among them: a vote sent
    before, replaced), and how many failed (each said on standard error)."""
    sent: Counter[str] = Counter()
    failed = 0
    with tqdm(total=len(votes), unit="vote", file=sys.stderr, desc="sending feedback") as progress:
        for vote in votes:
            try:
                data, content_type = image_of(vote)
                recorded = await lens.feedback(
                    data, content_type, vote.sha256, vote.verdict, vote.label, share
                )
            except ValueError as exc:
                failed += 1
                say(f"{vote.path}: not sent: {exc}")
            except RefusedError as refused:
                failed += 1
                say(f"{vote.path}: {refused.code}: {refused.message}")
            else:
                sent[vote.verdict] += 1
                sent["updated"] += bool(recorded.get("updated"))
            progress.update(1)
    return sent, failed


async def feedback(args: argparse.Namespace, headers: dict[str, str]) -> int:
    csv_path: Path = args.csv
    try:
        read = read_corrections(csv_path)
    except (OSError, UnicodeDecodeError) as exc:
        say(f"error: cannot read {csv_path}: {exc}")
        return 1
    for problem in read.problems:
        say(f"{problem.path or csv_path}: line {problem.line}: {problem.why}")
    async with httpx.AsyncClient(timeout=120, headers=headers) as client:
        sent, failed = await send(Lens(args.api, client), read.votes, args.share_images)
    failed += len(read.problems)
    verdicts = f"{sent['right']} right, {sent['wrong']} wrong, {sent['not_a_game']} not a game"
    updated = f" ({sent['updated']} replacing votes sent before)" if sent["updated"] else ""
    unanswered = f"; {read.unanswered} rows without an answer passed over" if read.unanswered else ""
    shared = ", screenshots shared" if args.share_images else ", no screenshot kept"
    say(
        f"{sum(sent[v] for v in ('right', 'wrong', 'not_a_game'))} votes sent: {verdicts}{updated}{shared}; "
        f"{failed} failed{unanswered}"
    )
    return 1 if failed else 0
