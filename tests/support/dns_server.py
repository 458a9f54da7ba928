"""A tiny authoritative DNS server on loopback for the URL fetch's tests (URL_FETCH_NAMESERVER points the
gateway at it): each name answers the addresses the test gave it, in turn (a name given two answers says
the first once, then the second: DNS rebinding), with a TTL of 0, and NXDOMAIN for every other name. It
counts the questions it was asked, so that a test can tell how often the gateway looked a name up."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections import Counter
from collections.abc import Iterable

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.zones: dict[dns.name.Name, list[list[str]]] = {}
        self.asked: Counter[tuple[str, str]] = Counter()  # (name without the final dot, type) -> times
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sock.close()

    def add(self, name: str, *answers: Iterable[str]) -> None:
        """``name`` answers each of ``answers`` (a list of addresses) in turn, the last one from then on."""
        with self._lock:
            self.zones[dns.name.from_text(name)] = [list(answer) for answer in answers]

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:  # closed
                return
            query = dns.message.from_wire(wire)
            self.sock.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        kind = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.asked[(question.name.to_text(omit_final_dot=True), kind)] += 1
            answers = self.zones.get(question.name)
            if answers is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return response
            current = answers.pop(0) if kind == "A" and len(answers) > 1 else answers[0]
        version = 4 if kind == "A" else 6
        found = [address for address in current if ipaddress.ip_address(address).version == version]
        if found and kind in ("A", "AAAA"):
            response.answer.append(dns.rrset.from_text_list(question.name, 0, dns.rdataclass.IN, kind, found))
        return response
