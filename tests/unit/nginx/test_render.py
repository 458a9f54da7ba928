"""The rendered nginx configuration, read as text: the security headers reach every location that adds
a header of its own, nginx's own error bodies are JSON in the one error shape, and the worker count is
checked before nginx sees it. tests/integration/gateway/test_edge_limits.py runs it for real."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.client_ip import EDGE_KEY_HEADER
from gateway.config import Settings
from inference.formats import BATCH_UPLOADS, DEFAULT_MAX_UPLOAD_BYTES, MULTIPART_OVERHEAD
from nginx import render as render_module
from nginx.render import EDGE_ERRORS, SNIPPETS, EdgeSettings, render

SECURITY_HEADERS = {
    "X-Request-ID",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Content-Security-Policy",
}


def rendered(edge: EdgeSettings | None = None) -> str:
    return render("127.0.0.1:8000", "127.0.0.1:8001", Path("/srv/web"), Path("/srv/nginx"), edge=edge)


def locations(text: str) -> dict[str, str]:
    """Each location block's body by its match: from its line to the first line that is only a brace
    (the JSON bodies hold braces of their own; the blocks nest none)."""
    blocks = re.finditer(r"location ([^{\n]+)\{\n(.*?)\n\s*\}\n", text, re.DOTALL)
    return {m[1].strip(): m[2] for m in blocks}


def test_the_snippet_holds_every_security_header():
    snippet = (SNIPPETS / "security_headers.conf").read_text()
    names = set(re.findall(r"^add_header (\S+) .* always;$", snippet, re.MULTILINE))
    assert names == SECURITY_HEADERS


def test_the_server_and_every_location_adding_a_header_of_its_own_include_the_snippet():
    text = rendered()
    include = f"include {SNIPPETS}/security_headers.conf;"
    server = text[text.index("server {") :]
    assert include in server.split("location", 1)[0]
    adding = {
        name: body for name, body in locations(text).items() if re.search(r"^\s*add_header ", body, re.M)
    }
    assert adding  # 429 and 503 add Retry-After
    for name, body in adding.items():
        assert include in body, name


@pytest.mark.parametrize("error", EDGE_ERRORS, ids=[e.code for e in EDGE_ERRORS])
def test_each_of_nginxs_own_errors_answers_json_in_the_one_error_shape(error):
    body = locations(rendered())[f"= /_edge_error/{error.location}"]
    returned = re.search(rf"return {error.status} '(.*)';", body)
    assert returned is not None
    answer = json.loads(returned[1].replace("$fromsoft_request_id", "0123456789abcdef"))
    assert answer == {
        "error": {"code": error.code, "message": answer["error"]["message"], "request_id": "0123456789abcdef"}
    }
    assert "internal;" in body  # never reachable by its URI from outside
    assert 'add_header Cache-Control "no-store" always;' in body
    assert ("add_header Retry-After" in body) == (error.retry_after is not None)


def test_the_upload_limit_is_named_in_the_413s_message():
    body = locations(rendered(EdgeSettings(max_upload_bytes=3 * 1024 * 1024)))["= /_edge_error/too_large"]
    assert "larger than 3 MB (a batch: 12.0625 MB)" in body


@pytest.mark.parametrize(("value", "rendered_as"), [("auto", "auto"), ("2", "2"), (" 4 ", "4")])
def test_edge_workers_is_auto_or_a_count(value, rendered_as):
    edge = EdgeSettings.from_env({"EDGE_WORKERS": value})
    assert f"worker_processes {rendered_as};" in rendered(edge)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_any_other_edge_workers_is_refused_before_nginx_starts(value):
    with pytest.raises(ValueError, match="EDGE_WORKERS"):
        EdgeSettings.from_env({"EDGE_WORKERS": value})


def test_a_batch_may_weigh_what_the_gateway_takes_and_every_other_request_one_image():
    """One MAX_UPLOAD_BYTES decides both limits at both ends; the web image renders without inference/."""
    edge = EdgeSettings(max_upload_bytes=3 * 1024 * 1024)
    text = rendered(edge)
    gateway = Settings(max_upload_bytes=edge.max_upload_bytes)
    assert f"client_max_body_size {gateway.max_body_bytes};" in text.split("server {")[0]
    batch = locations(text)["= /api/v1/classify/batch"]
    assert f"client_max_body_size {gateway.max_batch_body_bytes};" in batch
    assert (render_module.BATCH_UPLOADS, render_module.MULTIPART_OVERHEAD) == (
        BATCH_UPLOADS,
        MULTIPART_OVERHEAD,
    )
    assert render_module.DEFAULT_MAX_UPLOAD_BYTES == DEFAULT_MAX_UPLOAD_BYTES


def test_the_batch_is_proxied_as_every_other_api_request():
    blocks = locations(rendered())
    proxy = f"include {SNIPPETS}/gateway_proxy.conf;"
    for name in ("/api/", "= /api/v1/classify/batch"):
        assert proxy in blocks[name]
        assert "limit_req zone=api_rate" in blocks[name]
    assert "proxy_pass http://gateway;" in (SNIPPETS / "gateway_proxy.conf").read_text()


def test_the_edge_key_goes_to_the_gateway_in_the_header_the_gateway_reads(tmp_path):
    (tmp_path / "key").write_text("3q2+7w8mZ0/fA1xY4k9Lpw==\n")
    keyed = rendered(EdgeSettings.from_env({"EDGE_KEY_FILE": str(tmp_path / "key")}))
    assert 'map "" $fromsoft_edge_key {\n        default "3q2+7w8mZ0/fA1xY4k9Lpw==";' in keyed
    assert 'default "";' in rendered()  # none set: an empty header, which nginx does not send
    proxied = (SNIPPETS / "gateway_proxy.conf").read_text().lower()
    assert f"proxy_set_header {EDGE_KEY_HEADER} $fromsoft_edge_key;" in proxied


@pytest.mark.parametrize("key", ["short", 'quote"inside-the-key', "space inside the key", ""])
def test_an_edge_key_that_could_break_the_configuration_is_refused_before_nginx_starts(key, tmp_path):
    (tmp_path / "key").write_text(key)
    with pytest.raises(ValueError, match="EDGE_KEY_FILE"):
        EdgeSettings.from_env({"EDGE_KEY_FILE": str(tmp_path / "key")})


def test_the_configuration_is_its_owners_alone_from_the_start_even_over_an_earlier_one(tmp_path):
    """It may hold the edge's key; an earlier run's file, readable by all, is not left so."""
    out = tmp_path / "nginx.conf"
    out.write_text("earlier")
    out.chmod(0o644)
    render_module.write(out, tmp_path, listen="127.0.0.1:1", gateways=["127.0.0.1:2"], web_root=tmp_path)
    assert out.stat().st_mode & 0o777 == 0o600
    assert "upstream gateway" in out.read_text()
