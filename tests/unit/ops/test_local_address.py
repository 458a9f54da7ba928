import socket

import pytest

from ops.local_address import local_address


def test_a_listener_for_a_loopback_peer_binds_to_loopback():
    assert local_address("127.0.0.5") == "127.0.0.1"


def test_a_peer_is_found_by_name():
    assert local_address("localhost") == "127.0.0.1"


def test_a_name_that_never_resolves_fails_once_the_wait_is_over():
    with pytest.raises(socket.gaierror):
        local_address("no-such-host.invalid", wait=0)
