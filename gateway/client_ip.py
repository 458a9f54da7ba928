"""The client address used for rate limiting.

The socket peer is the client, unless the peer is a trusted proxy (nginx on loopback by default): then
the client is the right-most address in ``X-Forwarded-For`` that is not itself a trusted proxy. Entries
left of it were written by the client and are never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from gateway.config import Network


def is_trusted(address: str, proxies: Sequence[Network]) -> bool:
    """Whether ``address`` is one of the trusted proxies (whose X-Forwarded-For and X-Request-ID count)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
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
