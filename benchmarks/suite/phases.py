"""make bench's phases as it announces them (benchmarks.common.progress), in order: what each does and how
long it takes at the pace of the reference run (2 cores), from the work it is given. Estimates, not
figures: the per-request costs are that run's (BENCHMARKS.md, The whole stack: a request of the five
modes took 24 ms on average over their concurrencies, one of the three systems beside their peers 11 ms,
a cache miss through nginx 20 ms at concurrency 1 and 10 ms at 8); the starts and the sweep's changes
were timed from these phase lines on 2 cores (a quick run: the whole bench at its smallest size).
"""

from __future__ import annotations

import argparse

from benchmarks.common.progress import Phase
from benchmarks.suite import peers
from benchmarks.suite.torchserve_sweep import REGISTERED_WARM_UP

MODES_S = 0.024  # a request of the five modes, on average
PEERS_S = 0.011  # a request of the three systems, on average
MISS_S = 0.015  # a cache miss through nginx, between concurrency 1 and 8
HIT_S = 0.005  # a cache hit on the gateway's port
SERVERS_START_S = 25  # TorchServe with two archives, Redis, the gateway and nginx
SYSTEMS_START_S = 25  # the native stack up and ready, LitServe and plain FastAPI
ALONE_S = 10  # the inference session alone, tight and paced (inference_alone.py)
SETTING_S = 10  # the sweep declaring a setting (a new archive registered, the last one gone)
RESTART_S = 15  # and restarting TorchServe, for a setting of other threads
FORMS_S = 30  # the serving forms on the test split, in this process


def plan(args: argparse.Namespace, settings: int, restarts: int) -> dict[str, Phase]:
    """Each phase by name. ``settings``: TorchServe settings swept; ``restarts``: how many of the sweep's
    changes restart TorchServe."""
    rounds, requests = args.rounds, args.requests
    cells = rounds * len(args.levels)  # measurements of each mode, and of each system and workload
    stage_levels = sorted({min(args.levels), max(args.levels)})
    measured = (REGISTERED_WARM_UP + len(stage_levels) * args.stage_requests) * MISS_S  # per setting
    return {
        "servers": Phase(
            "starting TorchServe (our handler and the stock one), Redis, the gateway and nginx",
            SERVERS_START_S,
        ),
        "modes": Phase(
            f"the five modes at concurrency {args.concurrency}, {rounds} round(s) of {requests} requests, "
            "interleaved",
            (cells * 5 + 2) * requests * MODES_S,  # and two rounds warming up
        ),
        "batch": Phase(
            f"cache hits at the gateway's port, then a batch of 8 against 8 single requests "
            f"({5 * rounds} rounds)",
            3 * requests * HIT_S + 5 * rounds * 16 * MISS_S,
        ),
        "systems": Phase("starting the native stack, LitServe and plain FastAPI beside it", SYSTEMS_START_S),
        "stages": Phase(
            f"where a request's time goes: {args.warm_up} requests to warm up, {args.stage_requests} at "
            f"concurrency {' and '.join(map(str, stage_levels))}",
            (args.warm_up + len(stage_levels) * args.stage_requests) * MISS_S + ALONE_S,
        ),
        "peers": Phase(
            f"ours beside LitServe and plain FastAPI: {len(peers.WORKLOADS)} workloads at concurrency "
            f"{args.concurrency}, {rounds} round(s) of {requests} requests, interleaved",
            len(peers.SYSTEMS) * (args.warm_up / 2 + cells * len(peers.WORKLOADS) * requests) * PEERS_S,
        ),
        "sweep": Phase(
            f"TorchServe's batching and threads: {settings} setting(s), {args.sweep_passes} pass(es), "
            f"{args.stage_requests} requests at concurrency {' and '.join(map(str, stage_levels))}",
            args.sweep_passes * settings * (SETTING_S + measured)
            + restarts * (RESTART_S + args.warm_up * MISS_S),
        ),
        "forms": Phase("the serving forms (ONNX, int8, eager, TorchScript) on the test split", FORMS_S),
    }
