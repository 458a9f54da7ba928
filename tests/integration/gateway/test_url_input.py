"""Images by URL through the whole stack: nginx, two gateway workers, Redis and TorchServe, with a source
of images and a DNS server on loopback. The gateway's test-only allow-list (URL_FETCH_TEST_ALLOW) lets it
fetch from ALLOWED alone, which stands for the public internet; every other address is inside."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inference.labels import LABELS
from launchers.gateway import WRITE_BEHIND_WAIT, gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import LoopbackServer
from tests.support import image_origin as origin
from tests.support.dns_server import DnsServer

ALLOWED = "127.77.0.3"


def url_env(dns_server: DnsServer) -> dict[str, str]:
    return {"URL_FETCH_TEST_ALLOW": f"{ALLOWED}/32", "URL_FETCH_NAMESERVER": dns_server.address}


@pytest.fixture(scope="module")
def source() -> Iterator[origin.ImageOrigin]:
    server = origin.ImageOrigin(ALLOWED).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def inside() -> Iterator[origin.ImageOrigin]:
    server = origin.ImageOrigin("127.0.0.1").start()
    server.routes["/secret.jpg"] = origin.image(b"\xff\xd8\xff secret")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def url_gateway(torchserve, redis_server, dns_server, tmp_path_factory) -> Iterator[LoopbackServer]:
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="1000/minute", **url_env(dns_server))
    server = start_gateway(tmp_path_factory.mktemp("url-gateway"), env, workers=2)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def url_edge(url_gateway, web_root: Path, tmp_path_factory) -> Iterator[LoopbackServer]:
    server = start_nginx(tmp_path_factory.mktemp("url-nginx"), url_gateway.port, web_root)
    yield server
    server.stop()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_image_by_url_is_classified_end_to_end_then_served_from_the_cache(url_edge, source, frames):
    image = frames[0]
    source.routes["/shot.jpg"] = origin.image(image)
    url = source.url("/shot.jpg")
    first = httpx.post(f"{url_edge.url}/api/v1/classify?top_k=2", json={"url": url}, timeout=30)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["sha256"], answer["cached"], len(answer["top_k"])) == (sha256(image), False, 2)
    assert answer["label"] in LABELS
    time.sleep(WRITE_BEHIND_WAIT)
    again = httpx.post(f"{url_edge.url}/api/v1/classify?top_k=2", files={"url": (None, url)}, timeout=30)
    assert again.status_code == 200, again.text
    assert (again.json()["sha256"], again.json()["cached"]) == (sha256(image), True)
    assert again.json()["label"] == answer["label"]
    uploaded = httpx.post(
        f"{url_edge.url}/api/v1/classify?top_k=2", files={"file": ("a.jpg", image)}, timeout=30
    )
    assert uploaded.json()["cached"] is True  # the cache serves it like an upload, and the other way round
    assert source.paths() == ["/shot.jpg", "/shot.jpg"]
    assert source.hits[0].host == f"{ALLOWED}:{source.port}"


INSIDE = {
    "http://0.0.0.0/a.jpg": "address",
    "http://100.64.0.1/a.jpg": "address",
    "http://169.254.169.254/latest/meta-data/": "address",
    "http://[fe80::1]/a.jpg": "address",
    "http://[fc00::1]/a.jpg": "address",
    "http://[::ffff:127.0.0.1]/a.jpg": "address",
    "http://[::ffff:168.63.129.16]/a.jpg": "address",
    "http://0177.0.0.1/a.jpg": "numeric_host",
    "http://2130706433/a.jpg": "numeric_host",
    "http://0x7f.1/a.jpg": "numeric_host",
    "http://93.184.216.34:8080/a.jpg": "port",
    "http://user:pass@93.184.216.34/": "credentials",
}


def test_every_inside_literal_is_refused_through_the_stack_naming_its_category(url_edge, inside):
    refusals = dict(INSIDE)
    refusals[inside.url("/secret.jpg")] = "address"
    for url, category in refusals.items():
        answer = httpx.post(f"{url_edge.url}/api/v1/classify", json={"url": url}, timeout=30)
        assert answer.status_code == 422, (url, answer.text)
        error = answer.json()["error"]
        assert (error["code"], error["message"].split(":")[0]) == ("url_not_allowed", category), url
        assert error["request_id"] == answer.headers["X-Request-ID"]
        host = httpx.URL(url).host if category == "address" else ""
        assert not host or host not in error["message"]
    assert inside.hits == []


def test_a_redirect_inside_and_a_name_that_resolves_inside_are_refused_through_the_stack(
    url_edge, source, inside, dns_server
):
    source.routes["/to-inside"] = origin.redirect(inside.url("/secret.jpg"))
    dns_server.add("inside.test", ["127.0.0.1"])
    for url in (source.url("/to-inside"), inside.url("/secret.jpg", host="inside.test")):
        answer = httpx.post(f"{url_edge.url}/api/v1/classify", json={"url": url}, timeout=30)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["message"].startswith("address: ")
        assert "127.0.0.1" not in answer.text
    assert inside.hits == []


def test_a_batch_takes_files_and_urls_in_the_order_sent_each_failing_alone(url_edge, source, frames):
    source.routes["/b.jpg"] = origin.image(frames[1])
    source.routes["/gone.jpg"] = origin.status(404)
    form: list[tuple[str, Any]] = [
        ("files", ("a.jpg", frames[2], "image/jpeg")),
        ("url", (None, source.url("/b.jpg"))),
        ("url", (None, "http://10.0.0.1/x.jpg")),
        ("files", ("c.jpg", frames[3], "image/jpeg")),
        ("url", (None, source.url("/gone.jpg"))),
    ]
    answer = httpx.post(f"{url_edge.url}/api/v1/classify/batch?count=5", files=form, timeout=60)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [result.get("sha256") for result in results] == [
        sha256(frames[2]),
        sha256(frames[1]),
        None,
        sha256(frames[3]),
        None,
    ]
    assert results[2]["error"]["code"] == "url_not_allowed"
    assert (results[4]["error"]["code"], results[4]["error"]["message"]) == (
        "url_fetch_failed",
        "the image's server answered 404",
    )
    urls = [source.url("/b.jpg"), "https://93.184.216.34:8443/a.jpg", source.url("/gone.jpg")]
    answer = httpx.post(f"{url_edge.url}/api/v1/classify/batch", json={"urls": urls}, timeout=60)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert (results[0]["sha256"], results[0]["cached"]) == (sha256(frames[1]), True)
    assert [result.get("error", {}).get("code") for result in results] == [
        None,
        "url_not_allowed",
        "url_fetch_failed",
    ]


def test_a_batch_with_a_url_of_the_wrong_shape_fails_whole_as_a_part_that_is_not_a_file_does(url_edge):
    for body in ({"urls": ["http://a.test/1.jpg", "not a url"]}, {"urls": ["http://a.test/" + "a" * 2100]}):
        answer = httpx.post(f"{url_edge.url}/api/v1/classify/batch", json=body, timeout=30)
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "invalid_request")
    form: list[tuple[str, Any]] = [
        ("files", ("a.jpg", b"\xff\xd8\xff", "image/jpeg")),
        ("url", (None, "ftp://a.test/1.jpg")),
    ]
    answer = httpx.post(f"{url_edge.url}/api/v1/classify/batch", files=form, timeout=30)
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "invalid_request")


def test_urls_and_uploads_classified_at_once_each_get_their_own_answer(url_edge, source, frames):
    by_url, uploaded = frames[4:8], frames[8:12]
    for n, image in enumerate(by_url):
        source.routes[f"/many-{n}.jpg"] = origin.image(image)

    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url_edge.url, timeout=60) as client:
            asks = [
                client.post("/api/v1/classify", json={"url": source.url(f"/many-{n}.jpg")}) for n in range(4)
            ]
            asks += [client.post("/api/v1/classify", files={"file": ("f.jpg", image)}) for image in uploaded]
            return await asyncio.gather(*asks)

    answers = asyncio.run(all_at_once())
    assert [answer.status_code for answer in answers] == [200] * 8, [a.text for a in answers]
    assert [answer.json()["sha256"] for answer in answers] == [sha256(image) for image in by_url + uploaded]


def test_an_image_by_url_costs_a_unit_more_than_its_upload_and_is_not_fetched_over_the_limit(
    torchserve, redis_server, dns_server, source, frames, tmp_path
):
    source.routes["/priced.jpg"] = origin.image(frames[5])
    env = gateway_env(
        torchserve, redis_server.url, RATE_LIMIT="4/minute", RATE_LIMIT_HEADERS="true", **url_env(dns_server)
    )
    gateway = start_gateway(tmp_path, env)
    try:
        client = {"X-Forwarded-For": "203.0.113.41"}  # a bucket of this test's own (no edge key here)
        ask = f"{gateway.url}/api/v1/classify"
        upload = httpx.post(ask, files={"file": ("a.jpg", frames[5])}, headers=client, timeout=30)
        assert upload.headers["X-RateLimit-Remaining"] == "3"
        fetched = httpx.post(ask, json={"url": source.url("/priced.jpg")}, headers=client, timeout=30)
        assert fetched.status_code == 200, fetched.text
        assert fetched.headers["X-RateLimit-Remaining"] == "1"  # one for the image, one for the fetch
        hits = len(source.hits)
        over = httpx.post(ask, json={"url": source.url("/priced.jpg")}, headers=client, timeout=30)
        assert (over.status_code, over.json()["error"]["code"]) == (429, "rate_limited")
        assert len(source.hits) == hits  # refused before anything was fetched
    finally:
        gateway.stop()


def test_a_json_body_that_is_not_a_url_is_refused_in_the_one_error_shape(url_edge):
    for body, status, code in [
        (b"{not json", 400, "invalid_json"),
        (b'["http://a.test/"]', 422, "invalid_request"),
        (b'{"url": 5}', 422, "invalid_request"),
        (b'{"url": "http://a.test/", "file": 1}', 422, "invalid_request"),
        (b'{"url": "/relative.jpg"}', 422, "invalid_request"),
        (b'{"url": "gopher://93.184.216.34/"}', 422, "invalid_request"),
        (b'{"url": "http://a.test/' + b"a" * 2100 + b'"}', 422, "invalid_request"),
    ]:
        answer = httpx.post(
            f"{url_edge.url}/api/v1/classify", content=body, headers={"Content-Type": "application/json"}
        )
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), body[:40]
