"""``python -m client classify PATH...``: every screenshot under PATH through the batch endpoint; and
``python -m client feedback CSV``: the corrections typed into its CSV, sent as votes (client.feedback).

    python -m client classify ~/Captures --csv games.csv --sort-into ~/Sorted

Walks the folders, refuses locally what the server would (not an image by its bytes, over its size
limit, unreadable) and goes on, sends the rest in batches as large as the server takes, ``--concurrency``
at a time, with a progress bar on standard error, waiting out every 429 and 503 as Retry-After says (a
minute at most). With ``--csv`` a second run sends only what the file holds no answer for
(client.records). With an API key (``--api-key``, or FSL_API_KEY) the key's limits apply instead of
the address's, and a spent daily quota stops the run. The exit status is 0 when every file found has
an answer, 1 when any failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from client.api import Lens, Limits, RefusedError
from client.feedback import feedback as send_feedback
from client.files import Found, batches, inspect, walk
from client.records import CsvRecords, JsonLines, readable, row_of, say
from client.sorting import SortRefusedError, inside_any, sort_into
from commandline import CommandParser

DEFAULT_API = "http://127.0.0.1:8000"
API_KEY_VARIABLE = "FSL_API_KEY"


def parser() -> CommandParser:
    top = CommandParser(
        prog="python -m client",
        description="FromSoft Lens from the command line: a folder of screenshots through the public API.",
        example="python -m client classify ~/Captures --csv games.csv --sort-into ~/Sorted",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    classify = commands.add_parser(
        "classify",
        help="classify every screenshot under PATH...",
        description=__doc__.split("\n\n")[2],
        example=(
            "python -m client classify ~/Captures --csv games.csv --sort-into ~/Sorted\n"
            "python -m client classify shot.png --api https://lens.example.org --json\n"
            "FSL_API_KEY=fsl_k3xq7mzp_... python -m client classify ~/Captures --csv games.csv"
        ),
    )
    classify.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders (walked)")
    classify.add_argument("--api", default=DEFAULT_API, help=f"the stack's address (default {DEFAULT_API})")
    classify.add_argument(
        "--top-k", type=int, default=3, choices=range(1, 8), help="games listed (default 3)"
    )
    output = classify.add_mutually_exclusive_group()
    output.add_argument("--csv", type=Path, help="write results here; a second run resumes (default: none)")
    output.add_argument("--json", action="store_true", help="JSON lines on standard output")
    classify.add_argument(
        "--sort-into", type=Path, metavar="DIR", help="copy each image into DIR/<game>/ (default: no copies)"
    )
    classify.add_argument("--concurrency", type=int, default=2, help="batches in flight at once (default 2)")
    vote = commands.add_parser(
        "feedback",
        help="send the corrections typed into a classify CSV's label column",
        description=(
            "Sends the corrections a moderator typed into the label column of a CSV that classify --csv\n"
            "wrote: a label left as the server answered is a 'right' vote, another game's label a 'wrong'\n"
            "vote naming that game, not_a_game that verdict. Each vote goes with its file, read again and\n"
            "checked against the row's sha256; 429s are waited out. Exit status 0 when every row was sent,\n"
            "1 when any failed."
        ),
        example=(
            "python -m client feedback captures.csv\n"
            "python -m client feedback captures.csv --share-images --api https://lens.example.org"
        ),
    )
    vote.add_argument(
        "csv", type=Path, metavar="CSV", help="a file `classify --csv` wrote, its labels corrected"
    )
    vote.add_argument("--api", default=DEFAULT_API, help=f"the stack's address (default {DEFAULT_API})")
    vote.add_argument(
        "--share-images",
        action="store_true",
        help="let the service keep the screenshots for review (default: it keeps none)",
    )
    for command in (classify, vote):
        command.add_argument(
            "--api-key",
            metavar="KEY",
            help=f"an API key (fsl_...) to send as X-API-Key (default: ${API_KEY_VARIABLE}, which keeps it "
            "off the command line, where other local users can read it)",
        )
    return top


class Run:
    """One run's outputs and tally: each file's row goes to the CSV, JSON lines or the screen, and its
    copy to ``--sort-into``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.csv_file: Path | None = args.csv
        self.csv = CsvRecords(args.csv) if args.csv else None
        self.json = JsonLines() if args.json else None
        self.sort_root: Path | None = args.sort_into
        self.failed = self.answered = 0

    def record(self, path: Path, answer: dict[str, Any]) -> None:
        row = row_of(path, answer)
        if not row.get("error") and (problem := self.sort(path, row)) is not None:
            row = {"path": str(path), "error": f"not_sorted: {problem}"}
        if row.get("error"):
            self.failed += 1
        else:
            self.answered += 1
        if self.csv is not None:
            self.csv.add(row)
        elif self.json is not None:
            self.json.add(row, answer)
        else:
            say(readable(row), stdout=True)
            return
        if row.get("error"):  # reported on standard error when the results go elsewhere
            say(f"{path}: {row['error']}")

    def sort(self, path: Path, row: dict[str, str]) -> str | None:
        """Why ``path`` could not be copied into ``--sort-into``, if it could not."""
        if self.sort_root is None:
            return None
        try:
            sort_into(self.sort_root, path, row["label"], row["sha256"])
        except (SortRefusedError, OSError) as exc:
            return f"not copied into {self.sort_root}: {exc}"
        return None

    def resumed(self, path: Path, row: dict[str, str]) -> None:
        """A file answered in an earlier run (``row``, from the CSV): copied, as a new answer would be."""
        if (problem := self.sort(path, row)) is not None:
            self.failed += 1
            say(f"{path}: not_sorted: {problem} (as its row in {self.csv_file} says)")


async def send_all(lens: Lens, todo: list[Found], limits: Limits, args: argparse.Namespace, run: Run) -> None:
    slots = asyncio.Semaphore(max(1, args.concurrency))
    progress = tqdm(total=len(todo), unit="image", file=sys.stderr, desc="classifying")

    async def send(batch: list[Found]) -> None:
        async with slots:
            readable = []
            for item in batch:  # a file may have gone or changed hands since the walk
                try:
                    readable.append((item, item.path.read_bytes()))
                except OSError as exc:
                    run.record(item.path, {"error": {"code": "not_sent", "message": f"unreadable: {exc}"}})
            try:
                answers = await lens.classify(readable, args.top_k) if readable else []
            except RefusedError as refused:
                answers = [{"error": {"code": refused.code, "message": refused.message}}] * len(readable)
        for (item, _), answer in zip(readable, answers, strict=True):
            run.record(item.path, answer)
        progress.update(len(batch))

    try:
        await asyncio.gather(
            *(send(b) for b in batches(todo, limits.batch_max_files, limits.batch_max_bytes))
        )
    finally:
        progress.close()


async def classify(args: argparse.Namespace) -> int:
    run = Run(args)
    done = run.csv.answered() if run.csv is not None else {}
    async with httpx.AsyncClient(timeout=120, headers=key_headers(args)) as client:
        lens = Lens(args.api, client)
        try:
            limits = await lens.limits()
        except RefusedError as refused:
            say(f"error: cannot read the server's limits at {args.api}: {refused.message}")
            return 1
        found = [
            inspect(path, limits.max_upload_bytes)
            for path in walk(args.paths, [args.csv] if args.csv else [])
        ]
        for item in found:
            if item.problem is not None:
                run.record(item.path, {"error": {"code": "not_sent", "message": item.problem}})
        skipped = [item for item in found if item.problem is None and str(item.path) in done]
        for item in skipped:
            run.resumed(item.path, done[str(item.path)])
        todo = [item for item in found if item.problem is None and str(item.path) not in done]
        try:
            await send_all(lens, todo, limits, args, run)
        finally:
            if run.csv is not None:
                run.csv.close()
    resumed = f", {len(skipped)} answered in an earlier run (in {args.csv})" if skipped else ""
    say(f"{len(found)} files: {run.answered} classified{resumed}, {run.failed} failed")
    return 1 if run.failed else 0


def key_headers(args: argparse.Namespace) -> dict[str, str]:
    """The API key's header, from ``--api-key`` or the environment, when there is one."""
    key = args.api_key or os.environ.get(API_KEY_VARIABLE)
    return {"X-API-Key": key} if key else {}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "feedback":
        return asyncio.run(send_feedback(args, key_headers(args)))
    if args.sort_into is not None and (source := inside_any(args.sort_into, args.paths)) is not None:
        say(f"error: --sort-into {args.sort_into} lies inside {source}, which must not change")
        return 2
    return asyncio.run(classify(args))
