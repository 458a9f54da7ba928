"""A peer for make bench: LitServe serving the same model in-process with batching on (up to
``--batch`` requests within ``--delay-ms``), multipart field ``file`` in, the top-3 answer out.

    python -m benchmarks.peer_servers.litserve_app --archive model_store/fromsoft.mar --work /tmp/lit \\
        --port 8010
"""

from typing import Any

import litserve as ls
import numpy as np
from fastapi import Request

from benchmarks.peer_servers.model import Model, peer_parser


class Classifier(ls.LitAPI):
    def __init__(self, args: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.args = args

    def setup(self, device: str) -> None:
        self.model = Model(self.args.archive, self.args.work, self.args.threads)

    # A real annotation, not a string (no `from __future__ import annotations` here): LitServe reads it to
    # hand over the parsed form.
    def decode_request(self, request: Request) -> np.ndarray:
        return self.model.prepare(request["file"].file.read())

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, batch: np.ndarray) -> list[dict[str, Any]]:
        return self.model.predict(batch)

    def unbatch(self, output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return output

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        return output


def main() -> None:
    parser = peer_parser(__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4, help="largest batch (default 4)")
    parser.add_argument("--delay-ms", type=float, default=5, help="wait for a batch to fill (default 5)")
    args = parser.parse_args()
    api = Classifier(args, max_batch_size=args.batch, batch_timeout=args.delay_ms / 1000)
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
