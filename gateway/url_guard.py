"""Which URLs the gateway fetches an image from, and the one address it connects to for each hop.

A client's URL is a request the gateway makes from inside the stack, so nothing it names may be
inside: only http and https on ports 80 and 443, no credentials, a numeric host only as four decimal
numbers (``0177.0.0.1``, ``0x7f.1`` and ``2130706433`` all reach 127.0.0.1 through the C resolver), and
every address the host resolves to publicly routable (``is_public``). The name is resolved once per hop
(dnspython, absolute names, no search domains) and the request goes to the checked address itself, with
the name kept in the Host header and the TLS server name: a second lookup, which a name with a TTL of 0
could answer differently (DNS rebinding), never happens. httpx-secure checks each address again as the
socket connects (gateway.url_fetch).

Refusals are 422 ``url_not_allowed`` naming the category, never an address the name resolved to: a
client learns nothing about the inside. A name that does not resolve is refused like one that resolves
inside, so that the answer cannot tell internal names from missing ones.

``URL_FETCH_TEST_ALLOW`` is for tests alone: set, the fetch goes to those networks (on any port) and to
nothing else, so that tests fetch from servers on loopback and can never reach a public address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver
import httpx

from gateway.errors import ApiError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

URL_MAX_LENGTH = 2048  # what browsers and CDNs reliably carry; an image's address is far shorter
PORTS = frozenset({80, 443})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Refused whatever Python's is_global says of them: "this network" (0.0.0.0 reaches the host itself on
# Linux), shared address space (carrier NAT, Alibaba's metadata), link-local (most clouds' metadata),
# unique local, multicast, and the IPv6 forms that carry an IPv4 address a relay or translator would
# reach: 6to4, Teredo, NAT64 and IPv4-compatible.
REFUSED_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "fe80::/10",
        "fc00::/7",
        "ff00::/8",
        "2002::/16",
        "2001::/32",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "::/96",
    )
)
# Cloud metadata and platform services by address; Azure's wireserver looks public.
METADATA: frozenset[Address] = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "fd00:ec2::254")
)
REASONS = {
    "scheme": "only http and https URLs are fetched",
    "credentials": "a URL with a user name or password is not fetched",
    "numeric_host": "a numeric host must be written as four decimal numbers (no octal, hexadecimal or "
    "integer forms)",
    "port": "only ports 80 and 443 are fetched",
    "address": "the host does not resolve to a publicly routable address",
    "test_allow_list": "the address is not on URL_FETCH_TEST_ALLOW (a setting for tests)",
}
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_DOTTED = re.compile(r"(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}")


def refused(category: str) -> ApiError:
    return ApiError(422, "url_not_allowed", f"{category}: {REASONS[category]}")


def invalid_url(why: str) -> ApiError:
    return ApiError(422, "invalid_request", f"url: {why}")


def unwrapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) as the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: Address) -> bool:
    """Globally routable and none of the above, an IPv4-mapped address judged as its IPv4 one."""
    address = unwrapped(address)
    if address in METADATA or any(address in network for network in REFUSED_NETWORKS):
        return False
    return address.is_global


def numeric_form(host: str) -> bool:
    """A host that ends in a number (the WHATWG URL rule) but is not a plain dotted quad: the C resolver
    reads it as an IPv4 address in octal, hexadecimal or integer form, or a short one (``127.1``)."""
    if ":" in host:  # IPv6
        return False
    labels = host.split(".")
    last = labels[-1] or (labels[-2] if len(labels) > 1 else "")
    return bool(_NUMBER.fullmatch(last)) and not _DOTTED.fullmatch(host)


@dataclass(frozen=True)
class Hop:
    """One request of a fetch: ``url`` as the client (or a redirect) wrote it, and the checked address
    the connection goes to."""

    url: httpx.URL
    address: Address

    def request(self, headers: dict[str, str], timeouts: dict[str, float]) -> httpx.Request:
        """A GET of ``url`` sent to ``address``: the name in the Host header and as the TLS server name
        (the certificate is checked against it), the address in the URL httpx connects to."""
        pinned = self.url.copy_with(host=str(self.address))
        extensions: dict[str, object] = {"timeout": timeouts}
        if self.url.scheme == "https" and not _is_literal(self.url.host):
            extensions["sni_hostname"] = self.url.raw_host.decode("ascii")
        host = self.url.netloc.decode("ascii")
        return httpx.Request("GET", pinned, headers={**headers, "Host": host}, extensions=extensions)


class Resolver:
    """A and AAAA of an absolute name, asked once, from ``nameserver`` ("host" or "host:port") or the
    system's (/etc/resolv.conf). No answer is an empty list; a DNS server that fails is a 502, one that
    does not answer within ``timeout`` a 504."""

    def __init__(self, nameserver: str | None, timeout: float) -> None:
        try:
            self.dns = dns.asyncresolver.Resolver(configure=nameserver is None)
        except (
            dns.resolver.NoResolverConfiguration
        ):  # no /etc/resolv.conf: every lookup fails, the rest works
            self.dns = dns.asyncresolver.Resolver(configure=False)
        if nameserver is not None:
            host, _, port = nameserver.rpartition(":") if nameserver.count(":") == 1 else (nameserver, "", "")
            self.dns.nameservers = [host]
            self.dns.port = int(port or 53)
        self.dns.lifetime = self.dns.timeout = timeout
        self.dns.cache = None  # each hop asks afresh: an answer is used once, for the connection it checks

    async def addresses(self, host: str) -> list[Address]:
        name = dns.name.from_text(host)  # absolute: no search domain turns "redis" into an inside name
        answers = await asyncio.gather(*(self._ask(name, kind) for kind in ("A", "AAAA")))
        return [ipaddress.ip_address(address) for found in answers for address in found]

    async def _ask(self, name: dns.name.Name, kind: str) -> list[str]:
        try:
            answer = await self.dns.resolve(name, kind, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.resolver.LifetimeTimeout:
            raise ApiError(504, "url_fetch_timeout", "the host name did not resolve in time") from None
        except dns.exception.DNSException:
            raise ApiError(502, "url_fetch_failed", "the host name could not be resolved") from None
        return [record.address for record in answer]


class UrlGuard:
    def __init__(self, resolver: Resolver, test_allow: list[Network]) -> None:
        self.resolver = resolver
        self.test_allow = tuple(test_allow)

    def parsed(self, raw: str) -> httpx.URL:
        """The URL, if it may be fetched before anything is resolved; else its 422."""
        if len(raw) > URL_MAX_LENGTH:
            raise invalid_url(f"longer than {URL_MAX_LENGTH} characters")
        try:
            url = httpx.URL(raw)
        except httpx.InvalidURL:
            host = _split_host(raw)
            why = refused("numeric_host") if host and numeric_form(host) else invalid_url("not a URL")
            raise why from None
        if url.scheme and url.scheme not in DEFAULT_PORTS:
            raise refused("scheme")
        if not url.scheme or not url.host:
            raise invalid_url("not an absolute http or https URL")
        if url.userinfo:
            raise refused("credentials")
        if "%" in url.host:  # an IPv6 zone: an interface of this machine
            raise refused("address")
        if numeric_form(url.raw_host.decode("ascii")):
            raise refused("numeric_host")
        if self._port(url) not in PORTS and not self.test_allow:
            raise refused("port")
        return url

    async def hop(self, url: httpx.URL) -> Hop:
        """The address to connect to for ``url`` (from ``parsed``): every address its host resolves to
        checked, the first IPv4 one chosen (else the first IPv6 one)."""
        if _is_literal(url.host):
            found = [ipaddress.ip_address(url.host)]
        else:
            found = await self.resolver.addresses(url.raw_host.decode("ascii"))
        addresses = [unwrapped(address) for address in found]
        if not addresses:
            raise refused("address")
        port = self._port(url)
        for address in addresses:
            if (category := self.refusal(address, port)) is not None:
                raise refused(category)
        return Hop(url, min(addresses, key=lambda address: address.version))

    def refusal(self, address: Address, port: int) -> str | None:
        """Why the fetch may not connect to ``address`` on ``port``, or None."""
        if any(address in network for network in self.test_allow):
            return None
        if not is_public(address):
            return "address"
        if port not in PORTS:
            return "port"
        return "test_allow_list" if self.test_allow else None

    def may_connect(self, _hostname: str, address: Address, port: int) -> bool:
        """The check httpx-secure makes as each socket connects: the same rule, a second time."""
        return self.refusal(address, port) is None

    @staticmethod
    def _port(url: httpx.URL) -> int:
        return url.port or DEFAULT_PORTS[url.scheme]


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _split_host(raw: str) -> str | None:
    try:
        return urlsplit(raw).hostname
    except ValueError:
        return None
