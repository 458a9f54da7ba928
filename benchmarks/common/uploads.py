"""Concurrent image uploads from kept-alive HTTP clients, for the benchmarks that load a server.

The clients live as long as the process, one per concurrent sender: a measurement that made its own would
count their creation (an SSL context each, milliseconds of CPU) and their first connections against the
server it measures; at concurrency 8, on cells of a few dozen requests, that held the images/s measured
far below what the latencies implied.
"""

from __future__ import annotations

import threading
import time

import httpx

_clients: list[httpx.Client] = []
_clients_lock = threading.Lock()


def _client(slot: int) -> httpx.Client:
    with _clients_lock:
        while len(_clients) <= slot:
            _clients.append(httpx.Client(timeout=120))
        return _clients[slot]


Upload = tuple[float, httpx.Response]  # client ms, the answer


def post_all(url: str, images: list[bytes], concurrency: int) -> tuple[list[Upload], float]:
    """(ms, response) per upload in the order given, ``concurrency`` senders at once, and uploads per
    second from the first send to the last answer."""
    results: list[Upload | None] = [None] * len(images)
    queue = iter(enumerate(images))
    queue_lock = threading.Lock()

    def sender(client: httpx.Client) -> None:
        while True:
            with queue_lock:
                item = next(queue, None)
            if item is None:
                return
            index, image = item
            started = time.perf_counter()
            response = client.post(url, files={"file": ("shot.jpg", image, "image/jpeg")})
            results[index] = ((time.perf_counter() - started) * 1000, response)

    senders = [threading.Thread(target=sender, args=(_client(slot),)) for slot in range(concurrency)]
    started = time.perf_counter()
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    seconds = time.perf_counter() - started
    done = [r for r in results if r is not None]
    if len(done) != len(images):
        raise RuntimeError(f"{len(images) - len(done)} uploads got no answer (see the sender's traceback)")
    return done, len(images) / seconds
