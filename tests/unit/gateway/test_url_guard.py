"""The URL guard's rule, as deployed (no test allow-list): every way of writing an inside address is
refused by its category before any connection, and public addresses pass. Literal hosts are judged
without a lookup, so these tests connect to nothing and ask no DNS server (the resolver points at a port
nothing answers on: a lookup would fail the test)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from gateway.errors import ApiError
from gateway.url_guard import Hop, Resolver, UrlGuard, is_public, numeric_form

GUARD = UrlGuard(Resolver("127.0.0.1:9", timeout=0.5), test_allow=[])

INSIDE = [
    "http://0.0.0.0/",  # this host, on Linux
    "http://0.1.2.3/",
    "http://127.0.0.1/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space (carrier NAT)
    "http://100.100.100.200/",  # Alibaba's metadata
    "http://169.254.169.254/latest/meta-data/",  # most clouds' metadata
    "http://169.254.170.2/",  # ECS task metadata
    "http://168.63.129.16/",  # Azure's wireserver: looks public
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",  # AWS's IPv6 metadata
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:168.63.129.16]/",
    "http://[::ffff:100.64.0.1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2001:0:a00:1::]/",  # Teredo
]
NUMERIC = [
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://127.1/",
    "http://127.0.1/",
    "http://127.0.0.1./",
    "http://1.2.3.4.5/",
    "http://example.0x10/",
]
OTHER = [
    ("ftp://8.8.8.8/a.png", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://8.8.8.8/", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("//8.8.8.8/a.png", "not an absolute"),
    ("http://8.8.8.8:8080/a.png", "port"),
    ("https://8.8.8.8:22/", "port"),
    ("http://8.8.8.8:6379/", "port"),
    ("http://user:secret@8.8.8.8/a.png", "credentials"),
    ("http://8.8.8.8@127.0.0.1/", "credentials"),
]


def _refusal(url: str) -> ApiError:
    async def check() -> None:
        await GUARD.hop(GUARD.parsed(url))

    with pytest.raises(ApiError) as refused:
        asyncio.run(check())
    return refused.value


@pytest.mark.parametrize("url", INSIDE)
def test_every_literal_inside_address_is_refused_as_not_public_without_naming_it(url):
    refused = _refusal(url)
    assert (refused.status, refused.code) == (422, "url_not_allowed")
    assert refused.message.startswith("address: ")
    host = url.split("//")[1].split("/")[0].strip("[]")
    assert host not in refused.message


@pytest.mark.parametrize("url", NUMERIC)
def test_octal_hexadecimal_integer_and_short_numeric_hosts_are_refused_before_any_lookup(url):
    refused = _refusal(url)
    assert (refused.code, refused.message.split(":")[0]) == ("url_not_allowed", "numeric_host")


@pytest.mark.parametrize(("url", "category"), OTHER)
def test_other_schemes_ports_and_credentials_are_refused_by_their_category(url, category):
    refused = _refusal(url)
    if category == "not an absolute":
        assert (refused.code, refused.message) == (
            "invalid_request",
            "url: not an absolute http or https URL",
        )
    else:
        assert (refused.code, refused.message.split(":")[0]) == ("url_not_allowed", category)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://8.8.8.8/a.png", "8.8.8.8"),
        ("https://1.1.1.1:443/a.png", "1.1.1.1"),
        ("http://[2606:4700::1111]/a.png", "2606:4700::1111"),
        ("http://[::ffff:8.8.8.8]/a.png", "8.8.8.8"),  # connected to as the IPv4 address it is
    ],
)
def test_a_public_address_passes_and_is_the_one_connected_to(url, address):
    hop = asyncio.run(GUARD.hop(GUARD.parsed(url)))
    assert hop.address == ipaddress.ip_address(address)
    request = hop.request({}, {})
    assert request.url.host == address
    assert request.headers["Host"] == GUARD.parsed(url).netloc.decode()


def test_a_name_keeps_its_host_header_and_tls_name_while_the_url_holds_the_address():
    url = GUARD.parsed("https://images.example.com/shots/1.png?size=full")
    request = Hop(url, ipaddress.ip_address("8.8.8.8")).request({"Accept": "image/png"}, {"connect": 3.0})
    assert str(request.url) == "https://8.8.8.8/shots/1.png?size=full"
    assert request.headers["Host"] == "images.example.com"
    assert request.extensions["sni_hostname"] == "images.example.com"


def test_is_public_unwraps_ipv4_mapped_addresses_before_judging_them():
    assert not is_public(ipaddress.ip_address("::ffff:168.63.129.16"))
    assert is_public(ipaddress.ip_address("::ffff:93.184.216.34"))


def test_numeric_form_follows_the_url_standards_ends_in_a_number_rule():
    for host in ("2130706433", "0x7f.1", "a.b.0", "127.0.0.1."):
        assert numeric_form(host), host
    for host in ("93.184.216.34", "example.com", "1.example.com", "::1"):
        assert not numeric_form(host), host
