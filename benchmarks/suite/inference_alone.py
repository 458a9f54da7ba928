"""The shipped ONNX session alone in this process, beside the handler's inference stage (make bench).

Two figures: a tight loop (the session's best, threads and caches hot) and the same session fed one input
at a time with the pause a request at concurrency 1 leaves between two inferences (the rest of the
request's path), which is what the worker sees: between requests its threads sleep and other processes
run on the same cores. Both are medians over the same count of runs.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from inference.onnx_runner import OnnxRunner


def session_alone(model: Path, threads: int, pause_s: float, runs: int = 200) -> dict[str, float]:
    """Median ms of one batch-of-one inference: in a tight loop, and paced by ``pause_s``."""
    runner = OnnxRunner(model, threads)
    # Inference time does not depend on the pixel values, only on the shape the model was exported with.
    shape = [int(d) for d in runner.session.get_inputs()[0].shape[1:]]
    image = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    for _ in range(50):
        runner(image)

    def median_ms(pause: float) -> float:
        times = []
        for _ in range(runs):
            time.sleep(pause)
            started = time.perf_counter()
            runner(image)
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    return {"tight_p50": median_ms(0.0), "paced_p50": median_ms(pause_s), "pause_ms": pause_s * 1000}
