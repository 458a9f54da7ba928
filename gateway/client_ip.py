"""The client address used for rate limiting.

The socket peer is the client, unless the request came from the edge (``Edge``: a trusted proxy, nginx
on loopback by default, with the edge's key where one is set): then the client is the right-most address
in ``X-Forwarded-For`` that is not itself a trusted proxy. Entries left of it were written by the client
and are never believed.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.config import Network, Settings

# nginx sends the edge's key in this header (nginx/gateway_proxy.conf), replacing any a client sent.
EDGE_KEY_HEADER = "x-edge-key"


def is_trusted(address: str, proxies: Sequence[Network]) -> bool:
    """Whether ``address`` is one of the trusted proxies (whose X-Forwarded-For and X-Request-ID count)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


@dataclass(frozen=True)
class Edge:
    """Who may speak for the client (X-Forwarded-For, X-Request-ID): a peer among TRUSTED_PROXIES that
    also sends the edge's key, when EDGE_KEY_FILE gives one. An address alone names nginx only where
    nothing else can take it (compose's web container); natively every local process shares loopback
    with nginx, and in Kubernetes the web pods' addresses are any of the pod range."""

    proxies: tuple[Network, ...]
    key: bytes | None = None

    @classmethod
    def of(cls, settings: Settings) -> Edge:
        return cls(tuple(settings.trusted_proxies), settings.edge_key())

    def sent(self, peer: str | None, key: str | None) -> bool:
        """Whether a request from ``peer`` carrying ``key`` (X-Edge-Key) came from the edge."""
        if peer is None or not is_trusted(peer, self.proxies):
            return False
        if self.key is None:
            return True
        return key is not None and hmac.compare_digest(key.encode("latin-1"), self.key)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The client: ``peer``, or what ``forwarded_for`` names when ``peer`` is a trusted proxy. The caller
    passes ``forwarded_for`` only when the edge sent it (``Edge.sent``: its key too)."""
    peer = peer or "unknown"
    if not forwarded_for or not is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain: fall back to what the socket says
        if not is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def limit_key(address: str) -> str:
    """The rate-limit bucket of a client address. An IPv6 host usually holds a whole /64 and can rotate
    addresses inside it at will, so the /64 is the bucket; an IPv4-mapped address counts as its IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # "unknown": no socket peer (a test client), one shared bucket
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address
