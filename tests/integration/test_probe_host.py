"""A backend taken out for an HTTP-level error is re-probed with ``HEAD /`` and the
backend's own address as Host, never the Host of the client request that failed (issue 13
point 6c): otherwise a client could send a Host the backend answers badly and keep the
backend out for as long as it likes. One process, a real backend that answers 503 to one
Host only, the real prober."""

from __future__ import annotations

import socket
import threading

from tests.support.harness import get, running_proxy, wait_until

BAD_HOST = b"evil.example"  # the backend answers 503 to this Host, 200 to any other
CONFIG = """
Alive 1
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
    Fall 1
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
End
"""


class HostPicky:
    """An HTTP/1.0 backend on loopback: 503 for BAD_HOST, 200 otherwise; records heads."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.heads: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.heads.append(data)
                    bad = b"\r\nhost: " + BAD_HOST + b"\r\n" in data.lower()
                    status = b"503 Service Unavailable" if bad else b"200 OK"
                    body = b"" if data.startswith(b"HEAD ") else b"picky"
                    conn.sendall(
                        b"HTTP/1.0 %s\r\nContent-Length: 5\r\nConnection: close\r\n\r\n%s"
                        % (status, body)
                    )
                except OSError:
                    continue

    def close(self) -> None:
        self.sock.close()


def test_a_clients_host_cannot_keep_a_backend_out() -> None:
    backend = HostPicky()
    try:
        with running_proxy(CONFIG.format(port=backend.port)) as proxy:
            assert proxy.proxy is not None
            spec = proxy.proxy.config.listeners[0].services[0].backends[0]
            board = proxy.proxy.board
            assert get(proxy.port, host=BAD_HOST.decode()).status == 503
            wait_until(lambda: not proxy.call(lambda: board.is_alive(spec)), what="taken out")
            # The HEAD / probes carry the backend's address: it answers 200, comes back.
            wait_until(lambda: proxy.call(lambda: board.is_alive(spec)), what="back")
            probes = [h for h in backend.heads if h.startswith(b"HEAD / ")]
            assert probes, backend.heads
            assert all(b"\r\nHost: 127.0.0.1:%d\r\n" % backend.port in h for h in probes)
            assert get(proxy.port).body == b"picky"
    finally:
        backend.close()
