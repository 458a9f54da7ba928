"""Ports picked together for one stack are distinct: TorchServe's management API and nginx once drew
the same port, and the stack could not start."""

from __future__ import annotations

import socket

from launchers.procs import free_ports


def test_ports_picked_together_are_distinct_and_free():
    ports = free_ports(200)  # picked one by one and released, 200 shared a port in 33 runs of 50 here
    assert len(set(ports)) == len(ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
