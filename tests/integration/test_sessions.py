"""`Session` through the installed program, with its default worker count (one per CPU):
every type keeps a session on its backend over new connections, a session made through one
worker is honoured through the others, sessions survive SIGHUP, and the control socket
lists, adds and deletes them. Real sockets on loopback and real cookies; every wait is a
condition with a deadline."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.process.harness import Standby, running_standby
from tests.support.harness import free_port, wait_until

pytestmark = pytest.mark.timeout(300)

DEADLINE = 60.0  # generous: forks and reloads on two noisy shared cores
IO_TIMEOUT = 30.0
REPEATS = 8  # requests of one session, each on a new connection (any worker takes it)
KEYS = 10  # sessions per check: a lost session would be re-balanced among NAMES
NAMES = ("alpha", "bravo", "charlie")
RELOADED = "]: configuration reloaded"
REPO = Path(__file__).resolve().parents[2]


class _Handler(BaseHTTPRequestHandler):
    """Answers its backend's name; `/login` also sets the cookie `sid`, `/hdr` the header
    `X-Sess`, each naming this backend (so a learnt session is recognisable)."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        if self.server.stopped:  # a connection kept from before the stop: cut, unanswered
            self.close_connection = True
            return
        body = self.server.name.encode()
        self.send_response(200)
        number = next(self.server.counter)
        if "/login" in self.path:
            self.send_header("Set-Cookie", f"sid={self.server.name}-{number}; Path=/")
        if "/hdr" in self.path:
            self.send_header("X-Sess", f"{self.server.name}-h{number}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.counter = itertools.count(1)
        self.stopped = False

    def stop(self) -> None:
        """Refuse new connections and cut the kept ones at their next request."""
        self.stopped = True
        self.shutdown()
        self.server_close()


@contextlib.contextmanager
def backends() -> Iterator[list[_Server]]:
    servers = [_Server(name) for name in NAMES]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield servers
    finally:
        for server in servers:
            if not server.stopped:
                server.stop()


SESSIONS = {
    "cookie": 'Type COOKIE\n      ID "sid"',
    "url": 'Type URL\n      ID "sess"',
    "parm": "Type PARM",
    "header": 'Type HEADER\n      ID "X-Sess"',
    "basic": "Type Basic",
    "ip": "Type IP",
}


def config_text(
    port: int, servers: list[_Server], control: Path | None = None, ttl: int = 300
) -> str:
    lines = ["Alive 1", "Grace 2", "LogLevel 1"]
    if control is not None:
        lines.append(f'Control "{control}"')
    lines += ["ListenHTTP", "  Address 127.0.0.1", f"  Port {port}"]
    for name, session in SESSIONS.items():
        lines += [f'  Service "{name}"', f'    URL "^/{name}"', "    Session"]
        lines += [f"      {session}", f"      TTL {ttl}", "    End"]
        for server in servers:
            lines += ["    BackEnd", "      Address 127.0.0.1"]
            lines += [f"      Port {server.server_address[1]}", "    End"]
        lines.append("  End")
    lines.append("End")
    return "\n".join(lines) + "\n"


def fetch(port: int, target: str, *headers: str) -> tuple[str, dict[str, str]]:
    """One request on a new connection: (body, headers by lower-case name)."""
    lines = [f"GET {target} HTTP/1.1", "Host: www.example.com", *headers, "Connection: close"]
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    assert " 200 " in status_line, status_line
    found = {}
    for field in fields:
        name, _, value = field.partition(":")
        found[name.strip().lower()] = value.strip()
    return body.decode(), found


def request_for(kind: str, key: str, tag: str = "") -> tuple[str, tuple[str, ...]]:
    """The target and headers of a request of session ``key`` for service ``kind``."""
    path = f"/{kind}/{tag}"
    if kind == "cookie":
        return path, (f"Cookie: theme=dark; SID={key}",)
    if kind == "url":
        return f"{path}?a=1&sess={key}", ()
    if kind == "parm":
        return f"{path};{key}", ()
    if kind == "header":
        return path, (f"X-Sess: {key}",)
    if kind == "basic":
        token = base64.b64encode(f"{key}:secret".encode()).decode()
        return path, (f"Authorization: Basic {token}",)
    return path, ()  # ip: every request of this test is one session


def backend_of(port: int, kind: str, key: str, tag: str = "") -> str:
    target, headers = request_for(kind, key, tag)
    return fetch(port, target, *headers)[0]


def standby(config: Path) -> contextlib.AbstractContextManager[Standby]:
    return running_standby(config, deadline=DEADLINE)  # the default worker count


@pytest.mark.parametrize("kind", list(SESSIONS))
def test_every_request_of_a_session_reaches_its_backend(tmp_path: Path, kind: str) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    with backends() as servers:
        config.write_text(config_text(port, servers))
        with standby(config) as running:
            chosen: set[str] = set()
            for n in range(KEYS if kind != "ip" else 1):
                key = f"user{n}"
                first = backend_of(port, kind, key)
                chosen.add(first)
                assert [backend_of(port, kind, key) for _ in range(REPEATS)] == [first] * REPEATS
            assert chosen <= set(NAMES)
            assert "Traceback" not in running.stderr()


@pytest.mark.parametrize(
    ("kind", "path", "header"), [("cookie", "login", "set-cookie"), ("header", "hdr", "x-sess")]
)
def test_a_backends_response_makes_the_session(
    tmp_path: Path, kind: str, path: str, header: str
) -> None:
    """A Set-Cookie (COOKIE) or the ID header (HEADER) in a backend's answer starts a
    session on that backend: the value names the backend that set it."""
    port = free_port()
    config = tmp_path / "pound.cfg"
    with backends() as servers:
        config.write_text(config_text(port, servers))
        with standby(config) as running:
            for _ in range(KEYS):
                body, fields = fetch(port, f"/{kind}/{path}")
                value = fields[header].split(";")[0].removeprefix("sid=")
                assert value.startswith(body + "-")
                answers = {backend_of(port, kind, value) for _ in range(REPEATS)}
                assert answers == {body}
            assert "Traceback" not in running.stderr()


PID = re.compile(r"standby\[(\d+)\]: 127\.0\.0\.1 GET /cookie/(\S+) ")


def test_a_session_made_through_one_worker_is_honoured_through_the_others(
    tmp_path: Path,
) -> None:
    """Each request on a new connection; the access log's pid says which worker took it.
    Every request of a session reaches the same backend, whichever worker took it."""
    port = free_port()
    config = tmp_path / "pound.cfg"
    with backends() as servers:
        config.write_text(config_text(port, servers))
        with standby(config) as running:
            answers: dict[str, set[str]] = {}
            counter = itertools.count()

            def workers_per_key() -> dict[str, set[str]]:
                pids: dict[str, set[str]] = {}
                for pid, tag in PID.findall(running.stderr()):
                    pids.setdefault(tag.split("-")[0], set()).add(pid)
                return pids

            def spread() -> bool:
                for n in range(KEYS):
                    key = f"k{n}"
                    answer = backend_of(port, "cookie", key, f"{key}-{next(counter)}")
                    answers.setdefault(key, set()).add(answer)
                pids = workers_per_key()
                return all(len(pids.get(f"k{n}", ())) >= 2 for n in range(KEYS))

            wait_until(spread, DEADLINE, "every session served by two workers or more")
            assert all(len(seen) == 1 for seen in answers.values()), answers
            assert "Traceback" not in running.stderr()


@pytest.mark.parametrize("workers", [1, None])
def test_sessions_survive_a_reload_by_backend(tmp_path: Path, workers: int | None) -> None:
    """SIGHUP with the backends in another order and a new TTL: every session still
    reaches its backend (by address, not by position)."""
    port = free_port()
    config = tmp_path / "pound.cfg"
    with backends() as servers:
        config.write_text(config_text(port, servers))
        with running_standby(config, workers, deadline=DEADLINE) as running:
            before = {k: backend_of(port, "cookie", f"r{k}") for k in range(KEYS)}
            config.write_text(config_text(port, servers[::-1], ttl=600))
            running.signal(signal.SIGHUP)
            wait_until(lambda: RELOADED in running.stderr(), DEADLINE, "reload")
            after = {k: backend_of(port, "cookie", f"r{k}") for k in range(KEYS)}
            assert after == before
            assert "Traceback" not in running.stderr()


@pytest.mark.parametrize("workers", [1, None])
def test_a_reload_with_a_bad_session_keeps_the_old_configuration_and_its_sessions(
    tmp_path: Path, workers: int | None
) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    with backends() as servers:
        config.write_text(config_text(port, servers))
        with running_standby(config, workers, deadline=DEADLINE) as running:
            before = {k: backend_of(port, "cookie", f"b{k}") for k in range(KEYS)}
            config.write_text(config_text(port, servers).replace('      ID "sid"\n', ""))
            running.signal(signal.SIGHUP)
            wait_until(
                lambda: "the running configuration stays" in running.stderr(),
                DEADLINE,
                "the reload refused",
            )
            assert 'pound.cfg:9.5: Session of type COOKIE needs an "ID"' in running.stderr()
            after = {k: backend_of(port, "cookie", f"b{k}") for k in range(KEYS)}
            assert after == before
            assert "Traceback" not in running.stderr()


def ctl(sock: Path, *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "standby.control.ctl", "-s", str(sock), "--json", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_control_socket_lists_adds_and_deletes_sessions(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    sock = tmp_path / "ctl.sock"
    with backends() as servers:
        config.write_text(config_text(port, servers, control=sock))
        with standby(config) as running:
            made = {f"c{n}": backend_of(port, "cookie", f"c{n}") for n in range(KEYS)}
            # Pound's numbering: the Control socket is listener 0, ours is 1.
            listed = ctl(sock, "sessions", "/1/cookie")
            assert listed["session_type"] == "COOKIE"
            found = {s["key"]: NAMES[s["backend"]] for s in listed["sessions"]}
            assert found == made
            # Delete one, and move another to the third backend.
            service = ctl(sock, "delete", "/1/cookie", "c0")
            assert "c0" not in {s["key"] for s in service["sessions"]}
            moved = ctl(sock, "add", "/1/cookie/2", "c1")
            assert {s["key"]: s["backend"] for s in moved["sessions"]}["c1"] == 2

            def moved_everywhere() -> bool:
                return all(backend_of(port, "cookie", "c1") == NAMES[2] for _ in range(REPEATS))

            wait_until(moved_everywhere, DEADLINE, "the moved session on every worker")
            listing = ctl(sock, "list", "/1/cookie")
            assert "c0" not in {s["key"] for s in listing["sessions"]}
            assert "Traceback" not in running.stderr()


def test_a_dead_backends_sessions_go_and_its_clients_stay_on_their_new_one(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    sock = tmp_path / "ctl.sock"
    with backends() as servers:
        config.write_text(config_text(port, servers, control=sock))
        with standby(config) as running:
            made = {f"d{n}": backend_of(port, "cookie", f"d{n}") for n in range(KEYS)}
            for n, name in enumerate(NAMES):  # one session on each backend at least
                ctl(sock, "add", f"/1/cookie/{n}", f"on-{name}")
                made[f"on-{name}"] = name
            servers[0].stop()  # a request finds it cut, then refused: dead at once

            def gone() -> bool:
                listed = ctl(sock, "sessions", "/1/cookie")["sessions"]
                return all(s["backend"] != 0 for s in listed)

            backend_of(port, "cookie", "on-alpha")  # it goes elsewhere, alpha is found dead
            wait_until(gone, DEADLINE, "the dead backend's sessions deleted")
            for key, before in made.items():
                now = backend_of(port, "cookie", key)
                assert now != NAMES[0]
                if before != NAMES[0]:
                    assert now == before  # the others' sessions stay
                assert {backend_of(port, "cookie", key) for _ in range(3)} == {now}
            assert "Traceback" not in running.stderr()


def test_an_idle_session_expires_after_its_ttl(tmp_path: Path) -> None:
    """TTL 1: the session is gone from the listing once it has been idle that long."""
    port = free_port()
    config = tmp_path / "pound.cfg"
    sock = tmp_path / "ctl.sock"
    with backends() as servers:
        config.write_text(config_text(port, servers, control=sock, ttl=1))
        with standby(config) as running:
            backend_of(port, "cookie", "brief")
            listed = ctl(sock, "sessions", "/1/cookie")["sessions"]
            keys = [s["key"] for s in listed]
            assert keys in (["brief"], [])  # [] only if a whole second passed already
            wait_until(
                lambda: ctl(sock, "sessions", "/1/cookie")["sessions"] == [],
                DEADLINE,
                "the session expired",
            )
            assert "Traceback" not in running.stderr()
