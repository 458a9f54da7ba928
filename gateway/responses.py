"""The gateway's JSON response: orjson-serialized (FastAPI deprecated its own ORJSONResponse). A
JSONResponse to FastAPI, so that its OpenAPI schema describes what routes return as JSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
