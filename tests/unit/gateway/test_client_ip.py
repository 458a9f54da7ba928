import ipaddress

import pytest

from gateway.client_ip import Edge, client_ip, limit_key
from gateway.config import Settings

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")]
BALANCER = [*LOOPBACK, ipaddress.ip_network("10.0.0.0/8")]


def test_without_a_proxy_the_socket_peer_is_the_client():
    assert client_ip("203.0.113.7", None, LOOPBACK) == "203.0.113.7"


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    assert client_ip("203.0.113.7", "198.51.100.1", LOOPBACK) == "203.0.113.7"


def test_behind_trusted_nginx_the_forwarded_address_is_the_client():
    assert client_ip("127.0.0.1", "203.0.113.7", LOOPBACK) == "203.0.113.7"


def test_a_spoofed_left_entry_cannot_pick_the_bucket():
    # The client sent "X-Forwarded-For: 1.2.3.4"; the trusted proxy appended the address it saw.
    assert client_ip("127.0.0.1", "1.2.3.4, 203.0.113.7", LOOPBACK) == "203.0.113.7"


def test_the_rightmost_untrusted_hop_wins_through_several_trusted_proxies():
    assert client_ip("10.0.0.5", "1.2.3.4, 203.0.113.7, 10.0.0.9", BALANCER) == "203.0.113.7"


@pytest.mark.parametrize("header", ["not-an-ip", "203.0.113.7, garbage"])
def test_a_malformed_chain_falls_back_to_the_peer(header):
    assert client_ip("127.0.0.1", header, LOOPBACK) == "127.0.0.1"


def test_ipv6_peers_and_clients():
    assert client_ip("::1", "2001:db8::1", LOOPBACK) == "2001:db8::1"


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:0:7::1", "2001:db8:0:7::/64"),
        ("2001:db8:0:7:ffff:ffff:ffff:ffff", "2001:db8:0:7::/64"),
        ("2001:db8:0:8::1", "2001:db8:0:8::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unknown", "unknown"),
    ],
)
def test_an_ipv6_client_is_limited_by_its_64_and_an_ipv4_one_by_its_address(address, bucket):
    assert limit_key(address) == bucket


KEYED = Edge(tuple(LOOPBACK), key=b"the-edges-key-0123456789")


def test_with_an_edge_key_a_trusted_address_alone_does_not_speak_for_the_client():
    assert KEYED.sent("127.0.0.1", "the-edges-key-0123456789")
    assert not KEYED.sent("127.0.0.1", None)  # another local process, on the same loopback as nginx
    assert not KEYED.sent("127.0.0.1", "the-edges-key-01234567")
    assert not KEYED.sent("203.0.113.7", "the-edges-key-0123456789")  # the key, from elsewhere
    assert not KEYED.sent(None, "the-edges-key-0123456789")


def test_without_an_edge_key_the_trusted_address_decides():
    unkeyed = Edge(tuple(LOOPBACK))
    assert unkeyed.sent("127.0.0.1", None)
    assert not unkeyed.sent("203.0.113.7", None)


def test_the_edge_key_comes_from_its_file_and_an_empty_one_is_refused(tmp_path, monkeypatch):
    key_file = tmp_path / "edge-key"
    key_file.write_text("the-edges-key-0123456789\n")
    monkeypatch.setenv("EDGE_KEY_FILE", str(key_file))
    assert Edge.of(Settings()).key == b"the-edges-key-0123456789"
    key_file.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        Edge.of(Settings())
