"""The request being served, as every part of the gateway sees it: its ID (``X-Request-ID``, the same in
nginx's, the gateway's and TorchServe's logs and in the answer) and what its access-log line reports.

A ContextVar set once per request by gateway.observability, so that error bodies, the call to
TorchServe and every log line written while serving the request read it without being handed it (the
way tracing headers travel). Each request runs in its own task, so nothing leaks from one to the next.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only: those modules import this one
    from gateway.api_keys import Key
    from gateway.key_limits import Lease, Standing

# What an ID from a trusted proxy may look like: nginx's $request_id (32 hex digits), a UUID, or another
# proxy's token of letters, digits, '.', '_' and '-'. Anything else is replaced, never echoed or logged.
WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,128}")


def new_request_id() -> str:
    """32 random hex digits, the shape of nginx's ``$request_id``."""
    return os.urandom(16).hex()


def accepted_request_id(sent: str | None, from_trusted_proxy: bool) -> str:
    """The ID a trusted proxy (nginx) sent when it is well formed, else a new one: a client that reaches
    the gateway directly never chooses the ID its request is logged under."""
    if sent is not None and from_trusted_proxy and WELL_FORMED.fullmatch(sent):
        return sent
    return new_request_id()


@dataclass(slots=True)
class RequestContext:
    request_id: str
    cached: bool | None = None
    model_version: str | None = None
    error: str | None = None  # the error code of a failure's body
    client: str | None = None  # its rate-limit bucket, once admitted (a canary's budget is per client)
    key: Key | None = None  # the API key it carries, once checked (gateway.api_keys)
    lease: Lease | None = None  # its key's place and reservation, until its answer (gateway.key_usage)
    standing: Standing | None = None  # its key's budget after the last step: the RateLimit fields
    answered_units: int | None = None  # fewer units than it reserved were answered (a batch's failed files)

    def answered(self, answer: dict[str, Any]) -> None:
        """Note what the access log reports of a classification or an explanation."""
        self.cached = answer["cached"]
        self.model_version = answer["model"]["version"]


_CURRENT: ContextVar[RequestContext] = ContextVar("fromsoft_request")


def begin(request_id: str) -> RequestContext:
    context = RequestContext(request_id)
    _CURRENT.set(context)
    return context


def current() -> RequestContext | None:
    """The request being served, or None outside one (the model refresher, a test calling services)."""
    return _CURRENT.get(None)
