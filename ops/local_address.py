"""This container's address on the network where a given peer is, so that a listener bound to it is
reached by that network's members alone, not by every network the container joins (0.0.0.0).

    python -m ops.local_address HOST    # prints the address, e.g. 192.168.214.130

compose's serving unit binds its gateway where it reaches the web container and TorchServe's metrics API
where it reaches Redis (docker/serving-unit.sh). The kernel's route to HOST names the address it would
send from; ``connect`` on a UDP socket looks that route up without sending a packet.
"""

from __future__ import annotations

import argparse
import socket
import time

# podman starts a service before the ones it depends on are healthy (compose's `condition` is not
# honoured there), so a peer's name may take a moment to resolve.
RESOLVE_SECONDS = 30.0


def local_address(host: str, wait: float = RESOLVE_SECONDS) -> str:
    """The IPv4 address this host sends from to reach ``host`` (a name or an address)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            peer = socket.gethostbyname(host)
            break
        except socket.gaierror:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((peer, 9))  # any port: a UDP connect only chooses the route
        address: str = probe.getsockname()[0]
        return address


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.local_address", description=__doc__.split("\n")[0])
    parser.add_argument("host", help="a peer on the network to listen on (a name or an address)")
    print(local_address(parser.parse_args().host))


if __name__ == "__main__":
    main()
