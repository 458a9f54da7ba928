"""The URL fetch (gateway.url_fetch) against real servers on loopback: a DNS server that says what the
test wants (tests/support/dns_server.py) and HTTP(S) sources that misbehave on demand
(tests/support/image_origin.py). The fetcher runs in this process, as a gateway worker runs it, with the
test-only allow-list: it may reach ALLOWED alone, which stands for the public internet, and every other
address (OTHER, 127.0.0.1, anything else) is inside. Nothing here can reach beyond loopback."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import socket
import ssl
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trustme
from httpx_secure import SSRFProtectionError
from PIL import Image

from gateway.config import Settings
from gateway.errors import ApiError
from gateway.url_fetch import HEADERS, TIMEOUTS, Budget, UrlFetcher
from gateway.url_guard import Hop
from tests.support import image_origin as origin
from tests.support.dns_server import DnsServer

ALLOWED, OTHER = "127.77.0.3", "127.77.0.4"


def png(width: int = 64, height: int = 48, shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def allowed() -> Iterator[origin.ImageOrigin]:
    server = origin.ImageOrigin(ALLOWED).start()
    yield server
    server.stop()


@pytest.fixture
def other() -> Iterator[origin.ImageOrigin]:
    server = origin.ImageOrigin(OTHER).start()
    yield server
    server.stop()


@pytest.fixture
def loopback() -> Iterator[origin.ImageOrigin]:
    server = origin.ImageOrigin("127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def settings(dns_server: DnsServer, **more: Any) -> Settings:
    allow = [ipaddress.ip_network(f"{ALLOWED}/32")]
    return Settings(url_fetch_nameserver=dns_server.address, url_fetch_test_allow=allow, **more)


def fetch(fetcher: UrlFetcher, url: str, budget: int | None = None) -> bytearray:
    parsed = fetcher.guard.parsed(url)
    return asyncio.run(fetcher.fetch(parsed, Budget(budget or fetcher.max_bytes)))


def refusal(fetcher: UrlFetcher, url: str) -> ApiError:
    with pytest.raises(ApiError) as refused:
        fetch(fetcher, url)
    return refused.value


def test_an_allowed_source_is_fetched_by_address_and_by_name(dns_server, allowed):
    image = png()
    allowed.routes["/a.png"] = origin.image(image, "image/png")
    dns_server.add("images.test", [ALLOWED])
    fetcher = UrlFetcher(settings(dns_server))
    assert fetch(fetcher, allowed.url("/a.png")) == image
    assert fetch(fetcher, allowed.url("/a.png", host="images.test")) == image
    assert [hit.host for hit in allowed.hits] == [f"{ALLOWED}:{allowed.port}", f"images.test:{allowed.port}"]


def test_a_redirect_to_127_0_0_1_is_refused_and_nothing_reaches_it(dns_server, allowed, loopback):
    loopback.routes["/secret"] = origin.image(png(), "image/png")
    allowed.routes["/go"] = origin.redirect(loopback.url("/secret"))
    allowed.routes["/go-by-name"] = origin.redirect(loopback.url("/secret", host="localhost.test"))
    dns_server.add("localhost.test", ["127.0.0.1"])
    fetcher = UrlFetcher(settings(dns_server))
    for path in ("/go", "/go-by-name"):
        refused = refusal(fetcher, allowed.url(path))
        assert (refused.status, refused.code, refused.message.split(":")[0]) == (
            422,
            "url_not_allowed",
            "address",
        )
        assert "127.0.0.1" not in refused.message
    assert loopback.hits == []


def test_a_redirect_to_another_scheme_or_port_is_refused_by_its_category(dns_server, allowed):
    allowed.routes["/to-ftp"] = origin.redirect("ftp://images.example/a.png")
    allowed.routes["/to-port"] = origin.redirect("http://93.184.216.34:8080/a.png")
    fetcher = UrlFetcher(settings(dns_server))
    for path, category in (("/to-ftp", "scheme"), ("/to-port", "port")):
        refused = refusal(fetcher, allowed.url(path))
        assert (refused.code, refused.message.split(":")[0]) == ("url_not_allowed", category)


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.1.2.3"],
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["100.64.1.1"],
        ["fd00::1"],
        [ALLOWED, "192.168.0.9"],
        [ALLOWED, "fd00::1"],  # the IPv4 address would be the one connected to: the IPv6 one refuses
    ],
)
def test_a_name_that_resolves_to_a_private_address_is_refused(dns_server, allowed, addresses):
    allowed.routes["/a.png"] = origin.image(png(), "image/png")
    name = f"inside-{len(dns_server.zones)}.test"
    dns_server.add(name, addresses)
    refused = refusal(UrlFetcher(settings(dns_server)), allowed.url("/a.png", host=name))
    assert (refused.code, refused.message.split(":")[0]) == ("url_not_allowed", "address")
    assert not any(address in refused.message for address in addresses)
    assert allowed.hits == []  # one inside address among public ones refuses the name


def test_a_name_that_does_not_resolve_is_refused_like_an_inside_one(dns_server):
    refused = refusal(UrlFetcher(settings(dns_server)), "http://nowhere.test/a.png")
    assert (refused.code, refused.message.split(":")[0]) == ("url_not_allowed", "address")


def test_a_name_that_rebinds_to_a_private_address_cannot_move_the_connection(dns_server, allowed, other):
    # The first answer passes the check; every later one is inside. A client that looked the name up
    # again to connect would reach OTHER, and fetch its bytes.
    allowed.routes["/a.png"] = origin.image(png(shade=1), "image/png")
    other.routes["/a.png"] = origin.image(png(shade=200), "image/png")
    dns_server.add("rebind.test", [ALLOWED], [OTHER])
    fetched = fetch(UrlFetcher(settings(dns_server)), allowed.url("/a.png", host="rebind.test"))
    assert fetched == png(shade=1)
    assert other.hits == []
    assert dns_server.asked[("rebind.test", "A")] == 1  # looked up once: the answer checked is the one used


def test_three_redirects_are_followed_each_checked_and_a_fourth_is_refused(dns_server, allowed):
    image = png()
    allowed.routes["/img"] = origin.image(image, "image/png")
    for n in range(1, 5):
        allowed.routes[f"/hop{n}"] = origin.redirect(f"/hop{n + 1}" if n < 4 else "/img", 301 + n % 2)
    fetcher = UrlFetcher(settings(dns_server))
    assert fetch(fetcher, allowed.url("/hop2")) == image  # hop2 -> hop3 -> hop4 -> img: three redirects
    allowed.hits.clear()
    refused = refusal(fetcher, allowed.url("/hop1"))
    assert (refused.status, refused.code) == (502, "url_fetch_failed")
    assert "more than 3" in refused.message
    assert allowed.paths() == ["/hop1", "/hop2", "/hop3", "/hop4"]  # the image was never asked for


def test_a_source_that_does_not_take_the_connection_times_out_after_3_seconds(dns_server):
    # A listener whose queue is full drops further connection attempts: the connect never completes.
    with socket.socket() as listener, socket.socket() as queued:
        listener.bind((ALLOWED, 0))
        listener.listen(0)
        queued.connect(listener.getsockname())
        started = time.monotonic()
        refused = refusal(UrlFetcher(settings(dns_server)), f"http://{ALLOWED}:{listener.getsockname()[1]}/a")
        elapsed = time.monotonic() - started
    assert (refused.status, refused.code) == (504, "url_fetch_timeout")
    assert 2.9 <= elapsed < 8  # the issue's 3 s, with room for a loaded machine


def test_a_source_that_trickles_its_body_is_cut_at_10_seconds_in_all(dns_server, allowed):
    # A byte every 0.2 s: no read waits long, and the 2000 bytes would take 400 s.
    allowed.routes["/slow.png"] = origin.trickle(png()[:8] + b"\0" * 2000, every=0.2)
    started = time.monotonic()
    refused = refusal(UrlFetcher(settings(dns_server)), allowed.url("/slow.png"))
    elapsed = time.monotonic() - started
    assert (refused.status, refused.code) == (504, "url_fetch_timeout")
    assert 9.9 <= elapsed < 16
    assert allowed.sent["/slow.png"] < 200


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(dns_server, allowed):
    # The source then sends nothing: only the Content-Length can refuse it before the 10 s are up.
    limit = Settings().max_upload_bytes
    allowed.routes["/big.png"] = origin.declared(limit + 1)
    started = time.monotonic()
    refused = refusal(UrlFetcher(settings(dns_server)), allowed.url("/big.png"))
    assert (refused.status, refused.code) == (413, "payload_too_large")
    assert time.monotonic() - started < 5


def test_an_endless_body_is_cut_at_the_limit_holding_no_more_than_it(dns_server, allowed):
    limit = 2 * 1024 * 1024
    allowed.routes["/endless.png"] = origin.endless(png()[:64])
    fetcher = UrlFetcher(settings(dns_server, max_upload_bytes=limit))
    tracemalloc.start()
    try:
        refused = refusal(fetcher, allowed.url("/endless.png"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (refused.status, refused.code) == (413, "payload_too_large")
    # The body held, at most a chunk past the limit; the rest is the fetch's own (its client, TLS).
    assert peak < limit + 1024 * 1024, peak


def test_the_batchs_budget_is_shared_by_its_fetches(dns_server, allowed):
    image = png(400, 300, 7)
    allowed.routes["/a.png"] = origin.image(image, "image/png")
    fetcher = UrlFetcher(settings(dns_server))
    budget = Budget(len(image) + len(image) // 2)
    url = fetcher.guard.parsed(allowed.url("/a.png"))

    async def twice() -> list[bytearray | BaseException]:
        fetches = [fetcher.fetch(url, budget), fetcher.fetch(url, budget)]
        return list(await asyncio.gather(*fetches, return_exceptions=True))

    results = asyncio.run(twice())
    assert sorted(type(result).__name__ for result in results) == ["ApiError", "bytearray"]
    [refused] = [result for result in results if isinstance(result, ApiError)]
    assert (refused.status, refused.message) == (
        413,
        f"the batch's images together are larger than {budget.total / 1048576:g} MB",
    )


def test_a_fetched_body_is_checked_as_an_upload_is(dns_server, allowed):
    allowed.routes["/page.png"] = origin.image(b"<html>not an image</html>", "image/png")
    header = Image.new("RGB", (1, 1))
    big = io.BytesIO()
    header.resize((5000, 4000)).save(big, "PNG")  # 20 MP: over the pixel cap, a small file
    allowed.routes["/huge.png"] = origin.image(big.getvalue(), "image/png")
    long = io.BytesIO()
    header.resize((4000, 100)).save(long, "PNG")
    allowed.routes["/long.png"] = origin.image(long.getvalue(), "image/png")
    fetcher = UrlFetcher(settings(dns_server))
    max_pixels = Settings().max_image_pixels

    def refused_image(path: str) -> tuple[int, str]:
        url = fetcher.guard.parsed(allowed.url(path))
        with pytest.raises(ApiError) as refused:
            asyncio.run(fetcher.image(url, Budget(fetcher.max_bytes), max_pixels))
        return refused.value.status, refused.value.code

    assert refused_image("/page.png") == (415, "unsupported_media_type")
    assert refused_image("/huge.png") == (413, "image_too_large")
    assert refused_image("/long.png") == (422, "unsupported_aspect_ratio")


def test_a_source_that_answers_an_error_or_hangs_up_is_a_502(dns_server, allowed):
    allowed.routes["/gone"] = origin.status(404)
    fetcher = UrlFetcher(settings(dns_server))
    refused = refusal(fetcher, allowed.url("/gone"))
    assert (refused.status, refused.code, refused.message) == (
        502,
        "url_fetch_failed",
        "the image's server answered 404",
    )
    with socket.socket() as closed:
        closed.bind((ALLOWED, 0))  # bound, never listening: the connection is refused
        refused = refusal(fetcher, f"http://{ALLOWED}:{closed.getsockname()[1]}/a.png")
    assert (refused.status, refused.code) == (502, "url_fetch_failed")
    assert ALLOWED not in refused.message


def _tls_origin(ca: trustme.CA, name: str) -> origin.ImageOrigin:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return origin.ImageOrigin(ALLOWED, tls=context).start()


def test_https_keeps_the_name_in_sni_and_host_while_connecting_to_the_checked_address(
    dns_server, ca, tmp_path
):
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    source = _tls_origin(ca, "images.test")
    try:
        source.routes["/a.png"] = origin.image(png(), "image/png")
        dns_server.add("images.test", [ALLOWED])
        fetcher = UrlFetcher(settings(dns_server, url_fetch_ca_file=tmp_path / "ca.pem"))
        assert fetch(fetcher, source.url("/a.png", host="images.test")) == png()
        [hit] = source.hits
        assert (hit.sni, hit.host) == ("images.test", f"images.test:{source.port}")
    finally:
        source.stop()


def test_a_certificate_for_another_name_is_refused(dns_server, ca, tmp_path):
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    source = _tls_origin(ca, "elsewhere.test")
    try:
        source.routes["/a.png"] = origin.image(png(), "image/png")
        dns_server.add("images.test", [ALLOWED])
        fetcher = UrlFetcher(settings(dns_server, url_fetch_ca_file=tmp_path / "ca.pem"))
        refused = refusal(fetcher, source.url("/a.png", host="images.test"))
        assert (refused.status, refused.code) == (502, "url_fetch_failed")
        assert source.hits == []
    finally:
        source.stop()


def test_the_connection_time_check_refuses_an_address_the_url_check_never_saw(dns_server, loopback):
    # httpx-secure, the second line: a request pinned to an inside address (as a bug in the pinning
    # would make) is refused as its socket connects.
    loopback.routes["/secret"] = origin.image(png(), "image/png")
    fetcher = UrlFetcher(settings(dns_server))
    url = httpx.URL(loopback.url("/secret"))
    hop = Hop(url, ipaddress.ip_address("127.0.0.1"))

    async def send() -> None:
        async with fetcher._client() as client:
            await client.send(hop.request(HEADERS, TIMEOUTS))

    with pytest.raises(SSRFProtectionError):
        asyncio.run(send())
    assert loopback.hits == []


def test_the_environments_proxy_is_never_used(dns_server, allowed, other, monkeypatch):
    image = png()
    allowed.routes["/a.png"] = origin.image(image, "image/png")
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, other.url(""))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert fetch(UrlFetcher(settings(dns_server)), allowed.url("/a.png")) == image
    assert other.hits == []


def test_a_worker_fetches_for_at_most_url_fetch_concurrency_requests_and_answers_503_beyond(
    dns_server, allowed
):
    allowed.routes["/slow.png"] = origin.trickle(png(), every=0.2)
    fetcher = UrlFetcher(settings(dns_server, url_fetch_concurrency=1))
    url = fetcher.guard.parsed(allowed.url("/slow.png"))

    async def slow_then_another() -> ApiError:
        async def slow() -> None:
            with fetcher.place():
                await fetcher.fetch(url, Budget(fetcher.max_bytes))

        holding = asyncio.create_task(slow())
        while not allowed.hits:
            await asyncio.sleep(0.01)
        try:
            with pytest.raises(ApiError) as busy, fetcher.place():
                pass
        finally:
            holding.cancel()
        return busy.value

    busy = asyncio.run(slow_then_another())
    assert (busy.status, busy.code, busy.headers) == (503, "overloaded", {"Retry-After": "1"})
    with fetcher.place():  # given back once the fetch ends
        assert fetcher.fetching == 1
