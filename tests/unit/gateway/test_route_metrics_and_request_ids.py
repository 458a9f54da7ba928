"""One pass per request (gateway.observability): the route template and status in the metrics, the
request's ID in the header, the error body and the access-log line, the ID kept only from a trusted
proxy. In process with Starlette's test client: Redis and TorchServe are unreachable ports, so the
requests fail the way a sick stack makes them fail (the cache and the limiter fail open)."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from starlette.routing import Route

from gateway.config import Settings
from gateway.logs import JsonLines
from gateway.main import create_app
from gateway.observability import route_templates
from gateway.request_context import WELL_FORMED, accepted_request_id, begin

NGINX_TEMPLATE = Path(__file__).resolve().parents[3] / "nginx" / "nginx.conf.template"
NOWHERE = "http://127.0.0.1:1"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def settings() -> Settings:
    return Settings(
        redis_url="redis://127.0.0.1:1/0",
        torchserve_inference_url=NOWHERE,
        torchserve_management_url=NOWHERE,
        model_refresh_seconds=60,
    )


@pytest.fixture
def app():
    return create_app(settings())


def client_at(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000), raise_server_exceptions=False)


@pytest.fixture
def local(app) -> Iterator[TestClient]:
    with client_at(app, "127.0.0.1") as client:  # loopback: a trusted proxy by default
        yield client


def requests_counted(route: str, status: int) -> float:
    return REGISTRY.get_sample_value("gateway_requests_total", {"route": route, "status": str(status)}) or 0.0


def test_every_route_of_the_app_has_its_template(app):
    templates = route_templates(app.routes)
    fixed = ("/api/v1/classify", "/api/v1/classify/batch", "/api/v1/explain", "/api/v1/models", "/metrics")
    for path in (*fixed, "/healthz", "/readyz"):
        assert templates.get(path) == path
    assert templates.get("/api/v1/shares/" + "a" * 22) == "/api/v1/shares/{share_id}"


def test_a_path_with_parameters_is_counted_under_its_template_and_nothing_else_is():
    templates = route_templates([Route("/api/v1/models/{name}", lambda request: None)])
    assert templates.get("/api/v1/models/fromsoft") == "/api/v1/models/{name}"
    assert templates.get("/api/v1/models/fromsoft/versions") == "unmatched"
    assert templates.get("/api/v1/models/") == "unmatched"


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("POST", "/api/v1/classify", "/api/v1/classify", 415),  # a plain Starlette route
        ("GET", "/api/v1/classify", "/api/v1/classify", 405),
        ("POST", "/api/v1/explain", "/api/v1/explain", 415),
        ("GET", "/healthz", "/healthz", 200),  # a FastAPI route
        ("GET", "/api/v1/shares/" + "0" * 21, "/api/v1/shares/{share_id}", 422),  # a path parameter
        ("GET", "/wp-login.php", "unmatched", 404),  # a scan mints no label values
    ],
)
def test_requests_are_counted_by_route_template_and_status(local, method, path, route, status):
    before = requests_counted(route, status)
    response = local.request(method, path, content=b"text", headers={"Content-Type": "text/plain"})
    assert response.status_code == status
    assert requests_counted(route, status) == before + 1
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 200),
        ("POST", "/api/v1/classify", 415),
        ("POST", "/api/v1/classify/batch", 415),
        ("POST", "/api/v1/explain", 415),
        ("POST", "/api/v1/shares", 415),
        ("GET", "/api/v1/shares/" + "0" * 21, 422),
        ("GET", "/api/v1/classify", 405),
        ("GET", "/api/v1/results/" + "0" * 64, 404),  # the hash lookup is gone
        ("GET", "/api/v1/models", 503),  # no model served: this app has no replica report
    ],
)
def test_every_answer_of_the_gateway_says_no_store_once(local, method, path, status):
    response = local.request(method, path, content=b"text", headers={"Content-Type": "text/plain"})
    assert response.status_code == status
    assert response.headers.get_list("Cache-Control") == ["no-store"]


def test_a_rate_limited_answer_says_no_store_too(local):
    """Redis is unreachable here: the limiter counts in process (10/minute;6/second by default)."""
    answers = [local.get("/api/v1/shares/" + "0" * 22) for _ in range(12)]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert refused
    assert refused[0].headers.get_list("Cache-Control") == ["no-store"]


def test_an_error_body_carries_the_request_id_of_its_header_and_the_access_line_its_code(local, caplog):
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        response = local.post("/api/v1/classify", content=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    request_id = response.headers["X-Request-ID"]
    assert response.json()["error"]["request_id"] == request_id
    [line] = [r.access for r in caplog.records if r.name == "gateway.access"]
    assert line == {
        "request_id": request_id,
        "method": "POST",
        "route": "/api/v1/classify",
        "status": 415,
        "latency_ms": line["latency_ms"],
        "cached": None,
        "model_version": None,
        "error": "unsupported_media_type",
    }
    assert line["latency_ms"] > 0


def test_an_unexpected_failure_still_answers_with_the_id_in_header_and_body(app):
    async def boom(request):
        raise RuntimeError("a bug")

    app.add_route("/boom", boom)
    with client_at(app, "127.0.0.1") as client:
        before = requests_counted("unmatched", 500)
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]
    assert response.headers.get_list("Cache-Control") == ["no-store"]
    assert requests_counted("unmatched", 500) == before + 1


@pytest.mark.parametrize(
    ("peer", "sent", "kept"),
    [
        ("127.0.0.1", "edge-0123456789abcdef", True),  # nginx on loopback, a trusted proxy
        ("127.0.0.1", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", True),
        ("127.0.0.1", "short", False),
        ("127.0.0.1", 'has spaces and ; quotes"', False),
        ("127.0.0.1", "x" * 129, False),
        ("203.0.113.9", "edge-0123456789abcdef", False),  # a client reaching the gateway directly
    ],
)
def test_an_id_is_kept_only_from_a_trusted_proxy_and_only_when_well_formed(app, peer, sent, kept):
    with client_at(app, peer) as client:
        response = client.get("/healthz", headers={"X-Request-ID": sent})
    assert (response.headers["X-Request-ID"] == sent) is kept
    if not kept:
        assert HEX_ID.fullmatch(response.headers["X-Request-ID"])


def test_nginx_keeps_exactly_the_ids_the_gateway_keeps():
    """nginx's map and the gateway's check must agree, or a kept ID would change between the two logs."""
    template = NGINX_TEMPLATE.read_text()
    nginx_pattern = re.search(r'"~\^1:\(\?<kept_id>(.+?)\)\$"', template)
    assert nginx_pattern is not None
    assert nginx_pattern[1] == WELL_FORMED.pattern
    assert accepted_request_id("edge-0123456789abcdef", from_trusted_proxy=True) == "edge-0123456789abcdef"


def test_log_lines_are_json_and_carry_the_request_id_they_were_written_under():
    formatter = JsonLines()

    def in_a_request(record: logging.LogRecord) -> dict:
        begin("req-0123456789")
        return orjson.loads(formatter.format(record))

    warning = logging.LogRecord("gateway.upstream", logging.WARNING, __file__, 1, "answered %s", (500,), None)
    line = contextvars.copy_context().run(in_a_request, warning)
    assert line["request_id"] == "req-0123456789"
    assert (line["level"], line["logger"], line["message"]) == ("warning", "gateway.upstream", "answered 500")
    try:
        raise ValueError("kaput")
    except ValueError:
        failed = logging.LogRecord("gateway", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    outside = orjson.loads(formatter.format(failed))
    assert "ValueError: kaput" in outside["exception"]
    assert "request_id" not in outside  # written outside any request
