"""The fault-injecting relay does what it says, against a plain echo/sink peer."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.robustness.tools.relay import Cut, Fault, FaultRelay
from tests.support.harness import DEADLINE, wait_until

PAYLOAD = bytes(range(256)) * 400  # 100 KiB, every offset recognisable modulo 256


class Peer:
    """Accepts connections; answers each with PAYLOAD after receiving b"go", records what
    each connection received."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[bytearray] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            buf = bytearray()
            with self.lock:
                self.received.append(buf)
            threading.Thread(target=self._serve, args=(conn, buf), daemon=True).start()

    def _serve(self, conn: socket.socket, buf: bytearray) -> None:
        conn.settimeout(DEADLINE)
        with contextlib.suppress(OSError), conn:
            while data := conn.recv(65536):
                with self.lock:
                    buf.extend(data)
                if bytes(buf).endswith(b"go"):
                    conn.sendall(PAYLOAD)
                    buf.clear()

    def got(self) -> bytes:
        with self.lock:
            return b"".join(bytes(b) for b in self.received)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    p.close()


def fetch(port: int, expect: int = len(PAYLOAD)) -> tuple[bytes, str]:
    """Ask for PAYLOAD through the relay: (bytes received, "eof" | "reset" | "complete")."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        s.sendall(b"go")
        got = bytearray()
        try:
            while len(got) < expect:
                data = s.recv(65536)
                if not data:
                    return bytes(got), "eof"
                got.extend(data)
        except ConnectionResetError:
            return bytes(got), "reset"
        return bytes(got), "complete"


def test_relays_both_ways_and_counts(peer: Peer) -> None:
    with FaultRelay(("127.0.0.1", peer.port)) as relay:
        data, how = fetch(relay.port)
        assert (data, how) == (PAYLOAD, "complete")
        wait_until(lambda: relay.snapshot().downstream_bytes == len(PAYLOAD))
        c = relay.snapshot()
        assert (c.connections, c.upstream_bytes) == (1, 2)


@pytest.mark.parametrize("cut", [Cut.FIN, Cut.RST])
def test_cut_after_n_bytes(peer: Peer, cut: Cut) -> None:
    n = 5000
    with FaultRelay(("127.0.0.1", peer.port), down=Fault(cut_after=n, cut=cut)) as relay:
        data, how = fetch(relay.port)
        assert data == PAYLOAD[: len(data)]
        if cut is Cut.FIN:
            assert (len(data), how) == (n, "eof")
        else:
            assert how == "reset" and len(data) <= n
        wait_until(lambda: relay.snapshot().cuts == 1)


def test_corrupts_one_byte(peer: Peer) -> None:
    at = 70_000
    with FaultRelay(("127.0.0.1", peer.port), down=Fault(corrupt_at=at)) as relay:
        data, how = fetch(relay.port)
    assert how == "complete"
    diff = [i for i in range(len(PAYLOAD)) if data[i] != PAYLOAD[i]]
    assert diff == [at] and data[at] == PAYLOAD[at] ^ 0xFF


def test_blackhole_drops_then_forwarding_resumes(peer: Peer) -> None:
    relay = FaultRelay(("127.0.0.1", peer.port), up=Fault(blackhole=True))
    with relay, socket.create_connection(("127.0.0.1", relay.port), timeout=DEADLINE) as s:
        s.sendall(b"dropped")
        wait_until(lambda: relay.snapshot().dropped == len(b"dropped"))
        relay.up = Fault()
        s.sendall(b"kept")
        wait_until(lambda: peer.got().endswith(b"kept"))
    assert peer.got() == b"kept"


def test_latency_and_bandwidth_slow_things_down(peer: Peer) -> None:
    # Lower bounds only: a sleep never ends early, however noisy the machine.
    with FaultRelay(("127.0.0.1", peer.port), up=Fault(latency=0.3)) as relay:
        t0 = time.monotonic()
        assert fetch(relay.port)[1] == "complete"
        assert time.monotonic() - t0 >= 0.3
    rate = 200_000  # bytes/s: PAYLOAD (100 KiB) needs at least ~0.5 s
    with FaultRelay(("127.0.0.1", peer.port), down=Fault(bandwidth=rate)) as relay:
        t0 = time.monotonic()
        assert fetch(relay.port) == (PAYLOAD, "complete")
        assert time.monotonic() - t0 >= 0.9 * len(PAYLOAD) / rate - 1 / 20


def test_refuses_non_loopback_targets() -> None:
    with pytest.raises(ValueError):
        FaultRelay(("192.0.2.1", 80))
