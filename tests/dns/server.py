"""A small authoritative DNS server on loopback for the tests (dnslib for the wire format):
UDP and TCP on one port chosen free at run time, records the test changes while it runs,
and a per-name switch that truncates UDP answers (so the resolver must ask over TCP).

It answers every question from ``records`` (name -> list of (type, ttl, value)), follows
nothing itself (a CNAME is returned as is, with the target's records when it has them,
as a recursive server would), and counts the questions per (name, type, transport).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator

from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, SRV, A, DNSRecord

# One answer for each question a test sends: the loop wakes this often to see stop().
POLL_INTERVAL = 0.05
MAX_TCP_CLIENTS = 16

RecordValue = tuple[str, int, object]  # (type name, ttl, value)
# A free UDP port may be taken for TCP (other tests run at once): try another this often.
BIND_TRIES = 50


def _bind_pair(host: str) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same free port of ``host``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(BIND_TRIES):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(MAX_TCP_CLIENTS)
        return udp, tcp
    raise OSError(f"no port free for both UDP and TCP on {host}")


class DnsServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.udp, self.tcp = _bind_pair(host)
        self.port = self.udp.getsockname()[1]
        self.host = host
        self.records: dict[str, list[RecordValue]] = {}
        self.truncate: set[str] = set()  # names whose UDP answers come truncated
        self.servfail: set[str] = set()  # names answered with SERVFAIL
        self.silent: set[str] = set()  # names never answered (the resolver times out)
        self.queries: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def nameserver(self) -> str:
        """The `nameserver` line value that names this server."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def set(self, name: str, *values: RecordValue) -> None:
        with self._lock:
            self.records[name.rstrip(".").lower()] = list(values)

    def remove(self, name: str) -> None:
        with self._lock:
            self.records.pop(name.rstrip(".").lower(), None)

    def count(self, name: str, qtype: str, transport: str = "udp") -> int:
        with self._lock:
            return self.queries[(name, qtype, transport)]

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.udp.close()
        self.tcp.close()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering ---------------------------------------------------------------------

    def _rr(self, name: str, rtype: str, ttl: int, value: object) -> RR:
        if rtype == "A":
            return RR(name, QTYPE.A, ttl=ttl, rdata=A(str(value)))
        if rtype == "AAAA":
            return RR(name, QTYPE.AAAA, ttl=ttl, rdata=AAAA(str(value)))
        if rtype == "CNAME":
            return RR(name, QTYPE.CNAME, ttl=ttl, rdata=CNAME(str(value)))
        if rtype == "SRV":
            priority, weight, port, target = value  # type: ignore[misc]
            return RR(name, QTYPE.SRV, ttl=ttl, rdata=SRV(priority, weight, port, target))
        raise ValueError(rtype)

    def answer(self, data: bytes, transport: str) -> bytes | None:
        request = DNSRecord.parse(data)
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        reply = request.reply()
        with self._lock:
            self.queries[(qname, qtype, transport)] += 1
            if qname in self.silent:
                return None
            if qname in self.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply.pack()
            if transport == "udp" and qname in self.truncate:
                reply.header.tc = 1
                return reply.pack()
            name = qname
            seen = 0
            while seen < 10:  # a recursive server's chain, bounded for a looping zone
                seen += 1
                values = self.records.get(name)
                if values is None:
                    if name == qname:
                        reply.header.rcode = RCODE.NXDOMAIN
                    break
                alias = next((v for v in values if v[0] == "CNAME"), None)
                if alias is not None and qtype != "CNAME":
                    reply.add_answer(self._rr(name, "CNAME", alias[1], alias[2]))
                    name = str(alias[2]).rstrip(".").lower()
                    continue
                for rtype, ttl, value in values:
                    if rtype == qtype:
                        reply.add_answer(self._rr(name, rtype, ttl, value))
                break
        return reply.pack()

    # -- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.udp, self.tcp], [], [], POLL_INTERVAL)
            for sock in ready:
                if sock is self.udp:
                    with contextlib.suppress(OSError):
                        data, peer = self.udp.recvfrom(4096)
                        out = self.answer(data, "udp")
                        if out is not None:
                            self.udp.sendto(out, peer)
                else:
                    with contextlib.suppress(OSError, ValueError):
                        conn, _ = self.tcp.accept()
                        with conn:
                            conn.settimeout(5)
                            self._serve_tcp(conn)

    def _serve_tcp(self, conn: socket.socket) -> None:
        for data in _tcp_messages(conn):
            out = self.answer(data, "tcp")
            if out is None:
                return
            conn.sendall(struct.pack("!H", len(out)) + out)


def _tcp_messages(conn: socket.socket) -> Iterator[bytes]:
    buffer = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return
        buffer += chunk
        while len(buffer) >= 2:
            (length,) = struct.unpack("!H", buffer[:2])
            if len(buffer) < 2 + length:
                break
            yield buffer[2 : 2 + length]
            buffer = buffer[2 + length :]
