"""The operator's tool for the declared model state: every command edits the one file every replica
converges to, then waits until every running replica reports it has (docs/operations.md, Managing
models).

    python -m ops.models show [--json]
    python -m ops.models add fromsoft-2.0.mar [--workers 1] [--default]
    python -m ops.models set-default fromsoft 2.0
    python -m ops.models scale fromsoft [2.0] --workers 2
    python -m ops.models remove fromsoft 1.0
    python -m ops.models canary fromsoft 2.0 --share 0.1    # or: canary fromsoft --off
    python -m ops.models promote fromsoft                   # the canary becomes the default, if it agrees
                                                            # (one retrained on reviewed images: if better)
    python -m ops.models apply [FILE]

Archives are file names in the model store (MODEL_STORE); the file is MODELS_FILE (default
MODEL_STORE/models.yaml); replicas report in REPLICA_STATUS_DIR. An edit is checked whole before it is
written and replaces the file atomically; the command exits 1, naming the replicas that lag, when they
have not converged within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from commandline import CommandParser
from inference import replica_status
from inference.canary import PROMOTION, Promotion
from inference.replica_status import ReplicaStatus
from ops import declared, stack_redis
from ops.archives import ArchiveError
from ops.declared import DeclaredState, InvalidDeclarationError
from ops.declared_changes import (
    Change,
    RefusedError,
    added,
    canary_set,
    default_set,
    promoted,
    removed,
    scaled,
)
from ops.names import checked_name
from ops.promotion import canary_figures, described, promotion_refusal
from ops.settings import OpsSettings


def edit(settings: OpsSettings, change: Change) -> str:
    """Apply ``change`` to the declared file under its lock; the new revision."""
    path, store = settings.declared_file, settings.model_store
    with declared.locked(path):
        try:
            current = declared.parse(path.read_text())
        except FileNotFoundError:
            current = DeclaredState()
        new = declared.checked(change(current).document())  # every field checked again
        declared.check_archives(new, store)
        return declared.write(path, new)


# -- what the replicas report -------------------------------------------------------------------------
def running(settings: OpsSettings) -> list[ReplicaStatus]:
    """The replicas that reported within STALE_AFTER_SECONDS."""
    return [
        s
        for s in replica_status.read_all(settings.replica_status_dir)
        if s.age() < settings.stale_after_seconds
    ]


def lagging(replicas: list[ReplicaStatus], revision: str) -> list[ReplicaStatus]:
    return [s for s in replicas if s.revision != revision or not s.converged]


def wait_converged(settings: OpsSettings, revision: str, timeout: float) -> list[ReplicaStatus]:
    """Until every running replica serves ``revision``; the ones that still lag at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        behind = lagging(running(settings), revision)
        if not behind or time.monotonic() > deadline:
            return behind
        time.sleep(0.25)


def _why(status: ReplicaStatus) -> str:
    reasons = [status.declared_error] if status.declared_error else []
    return "; ".join(reasons + status.pending[:3] + ([status.last_error] if status.last_error else []))


def report(settings: OpsSettings, revision: str, timeout: float) -> int:
    replicas = running(settings)
    if not replicas:
        print(f"models: wrote revision {revision}; no replica is running: each loads it when it starts")
        return 0
    print(f"models: wrote revision {revision}; waiting for {len(replicas)} replica(s) to converge")
    behind = wait_converged(settings, revision, timeout)
    if behind:
        for status in behind:
            print(f"models: replica {status.replica} has not converged: {_why(status)}", file=sys.stderr)
        return 1
    print(f"models: every running replica serves revision {revision}")
    return 0


# -- show ---------------------------------------------------------------------------------------------
def overview(settings: OpsSettings) -> dict[str, Any]:
    """The declared state and every replica's report (``show --json``)."""
    path = settings.declared_file
    view: dict[str, Any] = {"file": str(path), "revision": None, "valid": False, "error": None, "models": {}}
    try:
        state, view["revision"] = declared.load(path, settings.model_store)
        view.update(valid=True, models=state.document()["models"])
    except InvalidDeclarationError as exc:
        view["error"] = str(exc)
    replicas = []
    for status in replica_status.read_all(settings.replica_status_dir):
        age = status.age()
        replicas.append(
            {
                "replica": status.replica,
                "reporting": age < settings.stale_after_seconds,
                "age_seconds": round(age, 1),
                "revision": status.revision,
                "converged": status.converged and status.revision == view["revision"],
                "ready": status.ready,
                "torchserve": status.torchserve,
                "serving": status.serving(),
                "pending": status.pending,
                "declared_error": status.declared_error,
                "last_error": status.last_error,
            }
        )
    return {"declared": view, "replicas": replicas}


def print_overview(found: dict[str, Any]) -> None:
    state = found["declared"]
    print(f"declared: {state['file']} (revision {state['revision']})")
    if state["error"]:
        print(f"  INVALID: {state['error']}")
    for name, model in state["models"].items():
        print(f"  {name}: default {model['default']}")
        if canary := model.get("canary"):
            print(f"    canary: {canary['version']}, shadowing {canary['share']:.0%} of the images")
        for version, spec in model["versions"].items():
            extra = "".join(
                f", {k} {spec[k]}" for k in ("batch_size", "max_batch_delay", "digest") if k in spec
            )
            print(f"    {version}: {spec['archive']}, {spec['workers']} worker(s){extra}")
    print(f"replicas: {len(found['replicas'])}")
    for replica in found["replicas"]:
        if not replica["reporting"]:
            mark = f"not reporting for {replica['age_seconds']:.0f} s"
        else:
            mark = "converged" if replica["converged"] else "DRIFT"
        where = f"revision {replica['revision']}, TorchServe {replica['torchserve']}"
        print(f"  {replica['replica']}: {mark} ({where})")
        for name, served in replica["serving"].items():
            versions = ", ".join(
                f"{v} {s['ready']}/{s['workers']} READY" + (f" {s['digest']}" if s["digest"] else "")
                for v, s in served["versions"].items()
            )
            print(f"    {name}: default {served['default']}; {versions}")
        if replica["reporting"] and not replica["converged"]:
            for reason in replica["pending"][:5] + [r for r in (replica["declared_error"],) if r]:
                print(f"    - {reason}")


# -- the command line ---------------------------------------------------------------------------------
# How each command is typed: the end of its --help.
EXAMPLES = {
    "show": "python -m ops.models show --json",
    "add": "python -m ops.models add fromsoft-2.0.mar --workers 1",
    "set-default": "python -m ops.models set-default fromsoft 2.0",
    "scale": (
        "python -m ops.models scale fromsoft --workers 2\npython -m ops.models scale fromsoft 1.0 --workers 1"
    ),
    "remove": "python -m ops.models remove fromsoft 1.0",
    "canary": (
        "python -m ops.models canary fromsoft 2.0 --share 0.1\npython -m ops.models canary fromsoft --off"
    ),
    "promote": "python -m ops.models promote fromsoft",
    "apply": "python -m ops.models apply models.yaml\npython -m ops.models apply --no-wait",
}
SETTINGS_HELP = """\
Where the declared state, the replicas' reports and Redis are: MODEL_STORE, MODELS_FILE,
REPLICA_STATUS_DIR, REDIS_URL and REDIS_PASSWORD_FILE; `make up` writes the native stack's to
var/stack.env (VAR_DIR/stack.env), read for those the environment does not set (docs/configuration.md)."""


def thresholds(promote: argparse.ArgumentParser) -> None:
    """promote's thresholds, each defaulting to inference.canary.PROMOTION's."""
    promote.add_argument(
        "--min-agreement",
        type=float,
        default=PROMOTION.min_agreement,
        help=f"top-1 agreement at least (default {PROMOTION.min_agreement})",
    )
    promote.add_argument(
        "--min-comparisons",
        type=int,
        default=PROMOTION.min_comparisons,
        help=f"comparisons at least (default {PROMOTION.min_comparisons})",
    )
    promote.add_argument(
        "--max-error-share",
        type=float,
        default=PROMOTION.max_error_share,
        help=f"share of the canary's calls failed at most (default {PROMOTION.max_error_share})",
    )


def parser() -> CommandParser:
    top = CommandParser(
        prog="python -m ops.models",
        description=__doc__.split("\n\n")[0],
        epilog=SETTINGS_HELP,
        example="python -m ops.models show\npython -m ops.models add fromsoft-2.0.mar --workers 1",
    )
    waits = CommandParser(add_help=False)  # every command that changes the declared state
    waits.add_argument(
        "--timeout", type=float, default=180, help="seconds to wait for convergence (default 180)"
    )
    waits.add_argument("--no-wait", action="store_true", help="write the file and return")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("show", help="the declared state and what each replica serves, drift marked")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("add", parents=[waits], help="declare an archive of the model store as a version")
    p.add_argument("archive", help="file name in the model store, e.g. fromsoft-2.0.mar")
    p.add_argument("--workers", type=int, default=1, help="workers for this version (default 1)")
    p.add_argument("--batch-size", type=int, help="requests per batch (default: the archive's)")
    p.add_argument("--max-batch-delay", type=int, help="ms to wait for a batch (default: the archive's)")
    p.add_argument("--default", action="store_true", help="make it the default once its workers are READY")
    p.add_argument("--force", action="store_true", help="replace a version declared already")
    p = sub.add_parser(
        "set-default", parents=[waits], help="make a declared version the one answering requests"
    )
    p.add_argument("model")
    p.add_argument("version")
    p = sub.add_parser(
        "scale", parents=[waits], help="set the workers of a version (default: the default version)"
    )
    p.add_argument("model")
    p.add_argument("version", nargs="?")
    p.add_argument("--workers", type=int, required=True)
    p = sub.add_parser("remove", parents=[waits], help="stop serving a version (not the default)")
    p.add_argument("model")
    p.add_argument("version")
    p = sub.add_parser("canary", parents=[waits], help="shadow the default with a declared version")
    p.add_argument("model")
    p.add_argument("version", nargs="?")
    p.add_argument(
        "--share", type=float, default=0.1, help="share of the images compared, by hash (default 0.1)"
    )
    p.add_argument("--off", action="store_true", help="no canary")
    p = sub.add_parser("promote", parents=[waits], help="make the canary the default, if it agreed enough")
    p.add_argument("model")
    thresholds(p)
    p.add_argument("--force", action="store_true", help="promote whatever the figures")
    p = sub.add_parser(
        "apply", parents=[waits], help="check FILE and make it the declared state (or check the current one)"
    )
    p.add_argument("file", nargs="?", type=Path)
    for name, command in sub.choices.items():
        command.add_example(EXAMPLES[name])
    return top


def change_for(args: argparse.Namespace, settings: OpsSettings) -> Change | None:
    """The edit a command makes (None: ``apply`` without a file changes nothing)."""
    if args.command == "add":
        return added(
            settings.model_store,
            args.archive,
            args.workers,
            args.batch_size,
            args.max_batch_delay,
            args.default,
            args.force,
        )
    if args.command == "set-default":
        return default_set(checked_name(args.model), checked_name(args.version, "version"))
    if args.command == "scale":
        version = checked_name(args.version, "version") if args.version else None
        return scaled(checked_name(args.model), version, args.workers)
    if args.command == "remove":
        return removed(checked_name(args.model), checked_name(args.version, "version"))
    if args.command == "canary":
        if args.off == bool(args.version):
            raise RefusedError("give a version (and --share), or --off")
        version = None if args.off else checked_name(args.version, "version")
        return canary_set(checked_name(args.model), version, args.share)
    if args.command == "promote":
        default, candidate, figures = canary_figures(settings, checked_name(args.model))
        print(f"models: {args.model} {described(default, candidate, figures)}")
        promotion = Promotion(args.min_comparisons, args.min_agreement, args.max_error_share)
        why = promotion_refusal(running(settings), args.model, (default, candidate), figures, promotion)
        if why is not None and not args.force:
            raise RefusedError(f"not promoted: {why} (--force promotes anyway)")
        return promoted(args.model)
    if args.file is not None:
        new = declared.parse(args.file.read_text())
        return lambda _current: new
    return None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = OpsSettings()
    try:
        if args.command == "show":
            found = overview(settings)
            if args.json:
                print(json.dumps(found, indent=2))
            else:
                print_overview(found)
            return 0
        change = change_for(args, settings)
        if change is None:
            _, revision = declared.load(settings.declared_file, settings.model_store)
        else:
            revision = edit(settings, change)
    except (
        RefusedError,
        InvalidDeclarationError,
        ArchiveError,
        stack_redis.RedisUnreachableError,
        ValueError,
        OSError,
    ) as exc:
        print(f"models: {exc}", file=sys.stderr)
        return 2
    if args.no_wait:
        print(f"models: revision {revision} {'checked' if change is None else 'written'}")
        return 0
    return report(settings, revision, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
