"""A peer for make bench: the common "one Python server" design, a plain FastAPI app with the model
in its process (one request, one forward pass, in FastAPI's thread pool), multipart field ``file`` in,
the top-3 answer out.

    python -m benchmarks.peer_servers.fastapi_app --archive model_store/fromsoft.mar --work /tmp/plain \\
        --port 8011
"""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI, File

from benchmarks.peer_servers.model import Model, peer_parser


def create_app(model: Model) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    def predict(file: bytes = File()) -> dict[str, Any]:
        return model.predict(model.prepare(file)[None])[0]

    return app


def main() -> None:
    args = peer_parser(__doc__.split("\n")[0]).parse_args()
    app = create_app(Model(args.archive, args.work, args.threads))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
