"""The gateway's log: one JSON object per line on stdout (the container's log, the native stack's
var/log/gateway.log), uvicorn's own lines included, each written while serving a request carrying that
request's ID. gateway.observability adds one access line per request (``logger: gateway.access``).

What goes in is chosen field by field: never an image's bytes, a header or a token.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.request_context import current

ACCESS = logging.getLogger("gateway.access")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        access: dict[str, Any] | None = getattr(record, "access", None)
        if access is not None:
            line.update(access)
        elif (context := current()) is not None:
            line["request_id"] = context.request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def _to_stdout(level: str) -> dict[str, Any]:
    return {"handlers": ["stdout"], "level": level, "propagate": False}


# uvicorn applies this in every worker process (gateway/server.py).
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "gateway.logs.JsonLines"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    },
    "loggers": {"gateway": _to_stdout("INFO"), "uvicorn": _to_stdout("INFO")},
}
