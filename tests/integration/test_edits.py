"""Request and response modification through real sockets (issue 15): each keyword's effect
on what a backend receives and what a client gets, with the Pound manual's examples in our
own configurations."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from tests.process.harness import running_standby
from tests.support.backend import Backend
from tests.support.harness import (
    Client,
    ProxyThread,
    config_with_ports,
    free_port,
    get,
    wait_until,
)
from tests.support.peers import RawBackend

from standby.config import load_config


def listener(body: str, extra: str = "", service: str = "") -> str:
    return f"""
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
{extra}
  Service
{service}
{body}
  End
End
"""


def backend(port: int) -> str:
    return f"""
    BackEnd
      Address 127.0.0.1
      Port {port}
    End"""


def fields(headers: dict[str, str]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())


def echoed(port: int, target: str = "/echo", headers: dict[str, str] | None = None) -> bytes:
    """The request head the /echo backend received for a GET of ``target``."""
    r = get(port, target, headers=fields(headers or {}))
    assert r.status == 200, r
    return r.body


def lines(head: bytes) -> list[bytes]:
    return head.split(b"\r\n")[1:-2]


def test_add_header_and_head_remove_pound2_listener_spelling() -> None:
    extra = """  AddHeader "X-Proxy: standby"
  HeaderAdd "X-Second: 2"
  HeadRemove "^X-Secret:"
  HeaderRemove "^X-Other"
"""
    with Backend("echo") as b:
        config, socks = config_with_ports(listener(backend(b.port), extra))
        with ProxyThread(config, socks) as p:
            head = echoed(p.port, headers={"X-Secret": "s", "x-other-thing": "o", "X-Kept": "k"})
            assert b"X-Secret" not in head and b"x-other-thing" not in head
            assert b"X-Kept: k" in lines(head)
            assert lines(head)[-2:] == [b"X-Proxy: standby", b"X-Second: 2"]
            # Pound 4: AddHeader replaces the client's line of that name, in place.
            head = echoed(p.port, headers={"X-Proxy": "client", "X-After": "1"})
            assert head.count(b"X-Proxy") == 1
            names = [line.partition(b":")[0] for line in lines(head)]
            assert names.index(b"X-Proxy") < names.index(b"X-After")


def test_set_header_listener_first_then_service_and_after_forwarded_lines() -> None:
    extra = '  SetHeader "X-Order: listener"\n  DeleteHeader -icase "^user-agent:"'
    service = '    SetHeader "X-Order: service"\n    SetHeader "X-Forwarded-Proto: https"'
    with Backend("echo") as b:
        config, socks = config_with_ports(listener(backend(b.port), extra, service))
        with ProxyThread(config, socks) as p:
            head = echoed(p.port, headers={"User-Agent": "curl/8"})
            assert b"X-Order: service" in lines(head) and b"listener" not in head
            assert b"User-Agent" not in head
            # Our X-Forwarded-Proto is there before the edits run: SetHeader replaces it.
            assert b"X-Forwarded-Proto: https" in lines(head)
            assert head.count(b"X-Forwarded-Proto") == 1


def test_delete_header_flags() -> None:
    service = """    DeleteHeader -exact "X-A: 1"
    DeleteHeader -beg -icase "x-b"
    DeleteHeader -contain "secret"
    DeleteHeader -end ": gone"
    DeleteHeader -pcre "^X-Z(?!ed)"
"""
    with Backend("echo") as b:
        config, socks = config_with_ports(listener(backend(b.port), service=service))
        with ProxyThread(config, socks) as p:
            head = echoed(
                p.port,
                headers={
                    "X-A": "1",
                    "X-AA": "1",
                    "X-Bee": "2",
                    "X-C": "top secret",
                    "X-D": "gone",
                    "X-E": "kept",
                    "X-Zz": "gone",
                    "X-Zed": "kept",
                },
            )
            kept = b"\n".join(lines(head))
            assert b"X-AA: 1" in kept and b"X-E: kept" in kept and b"X-Zed: kept" in kept
            for gone in (b"X-A: 1\n", b"X-Bee", b"secret", b"X-D", b"X-Zz"):
                assert gone not in kept + b"\n"


def test_framing_lines_are_never_deleted() -> None:
    service = '    DeleteHeader -icase "^(content-length|host):"'
    with Backend("echo") as b:
        config, socks = config_with_ports(listener(backend(b.port), service=service))
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
            r = c.response()
            assert r.status == 200
            head = b.heads[-1]
            assert b"Content-Length: 3" in head and b"Host: h\r\n" in head


def test_set_path_with_back_reference_pound_manual_example() -> None:
    service = '    Path "/([^/]+\\\\.(jpg|gif))$"\n    SetPath "/images/$1"'
    with Backend("echo") as b:
        config, socks = config_with_ports(listener(backend(b.port), service=service))
        with ProxyThread(config, socks) as p:
            get(p.port, "/some/dir/cat.jpg?size=2")
            assert b.heads[-1].startswith(b"GET /images/cat.jpg?size=2 HTTP/1.1\r\n")


def test_set_url_query_and_query_params() -> None:
    cases = {
        'SetURL "/new?x=1"': b"GET /new?x=1 ",
        'SetQuery "lang=en"': b"GET /p?lang=en ",
        "DeleteQuery": b"GET /p ",
        'SetQueryParam "b" "9"': b"GET /p?a=1&b=9&c=3 ",
        'SetQueryParam "z" -encode "a b/c"': b"GET /p?a=1&b=2&c=3&z=a%20b%2Fc ",
        'SetQueryParam "b"': b"GET /p?a=1&c=3 ",
        'SetPath -encode "/x y"': b"GET /x%20y?a=1&b=2&c=3 ",
        'SetPath "/v2%[path]"': b"GET /v2/p?a=1&b=2&c=3 ",
        'SetHeader "X-Q: %[param b]%[query]"': b"X-Q: 2a=1&b=2&c=3\r\n",
    }
    with Backend("echo") as b:
        for statement, expected in cases.items():
            config, socks = config_with_ports(listener(backend(b.port), service="    " + statement))
            with ProxyThread(config, socks) as p:
                get(p.port, "/p?a=1&b=2&c=3")
                assert expected in b.heads[-1], (statement, b.heads[-1])


def test_rewrite_branches_pound_manual_example() -> None:
    service = """    Rewrite
      Header "Content-Type:[[:space:]]+image/.*"
      SetPath "/images%[path]"
    Else
      Host "example.org"
      Path "\\\\.[^.]+$"
      SetPath "/static%[path]"
    Else
      Path "\\\\.[^.]+$"
      SetPath "/assets%[path]"
      Rewrite
        Not Header "^Accept:"
        SetHeader "X-Nested: $1"
        Path "^/assets/(.*)$"
      End
    End"""
    with Backend("echo") as b:
        config, socks = config_with_ports(listener(backend(b.port), service=service))
        with ProxyThread(config, socks) as p:
            get(p.port, "/i.png", headers="Content-Type: image/png\r\n")
            assert b.heads[-1].startswith(b"GET /images/i.png ")
            get(p.port, "/s.css", host="example.org")
            assert b.heads[-1].startswith(b"GET /static/s.css ")
            get(p.port, "/a.js")
            assert b.heads[-1].startswith(b"GET /assets/a.js ")
            assert b"X-Nested: a.js\r\n" in b.heads[-1]  # the nested Path sees /assets/a.js
            get(p.port, "/noext")
            assert b.heads[-1].startswith(b"GET /noext ")


def scripted(answer: Callable[[bytes], bytes]) -> Callable[[socket.socket, bytes], bool]:
    """A RawBackend script answering each request head with ``answer(head)``."""
    done = 0

    def script(conn: socket.socket, received: bytes) -> bool:
        nonlocal done
        while True:
            end = received.find(b"\r\n\r\n", done)
            if end < 0:
                return True
            head = received[done : end + 4]
            done = end + 4
            conn.sendall(answer(head))

    return script


def answer_with(extra: bytes, status: bytes = b"200 OK", body: bytes = b"ok") -> bytes:
    return b"HTTP/1.1 %s\r\n%sContent-Length: %d\r\n\r\n%s" % (status, extra, len(body), body)


def test_rewrite_response_pound_manual_example() -> None:
    service = """    Rewrite response
      Header "Content-Type:[[:space:]]+text/(.*)"
      SetHeader "X-Text-Type: $1"
      DeleteHeader "^Server:"
    Else
      SetHeader "X-Not-Text: 1"
    End"""

    def answer(head: bytes) -> bytes:
        kind = b"text/html" if b" /text " in head else b"image/png"
        return answer_with(b"Server: secret/1.0\r\nContent-Type: " + kind + b"\r\n")

    with RawBackend(scripted(answer)) as raw:
        config, socks = config_with_ports(listener(backend(raw.port), service=service))
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            for _ in range(2):  # keep-alive both sides: framing kept by the edits
                r = c.request("/text")
                assert r.header(b"x-text-type") == b"html" and r.header(b"server") is None
                r = c.request("/img")
                assert r.header(b"x-not-text") == b"1" and r.header(b"server") is not None
                assert r.body == b"ok"


def test_header_option_no_forwarded_passes_the_clients_own() -> None:
    with Backend("echo") as b:
        text = listener(backend(b.port), "  HeaderOption no-forwarded")
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            head = echoed(p.port, headers={"X-Forwarded-Proto": "ftp"})
            assert b"X-Forwarded-For" not in head and b"X-Forwarded-Port" not in head
            assert b"X-Forwarded-Proto: ftp" in lines(head)
        config, socks = config_with_ports("HeaderOption none\n" + listener(backend(b.port)))
        with ProxyThread(config, socks) as p:
            assert b"X-Forwarded" not in echoed(p.port)
        text = "HeaderOption none\n" + listener(backend(b.port), "  HeaderOption forwarded")
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            assert b"X-Forwarded-For: 127.0.0.1" in echoed(p.port)


def test_rewrite_destination() -> None:
    with Backend("echo") as b:
        text = listener(backend(b.port), "  RewriteDestination 1\n  xHTTP 2")
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            head = echoed(p.port, headers={"Destination": "https://www.example.com/dav/b.txt"})
            want = b"Destination: http://127.0.0.1:%d/dav/b.txt" % b.port
            assert want in lines(head)
        config, socks = config_with_ports(listener(backend(b.port)))
        with ProxyThread(config, socks) as p:  # off by default
            head = echoed(p.port, headers={"Destination": "http://www.example.com/x"})
            assert b"Destination: http://www.example.com/x" in lines(head)


def location_backend() -> RawBackend:
    """Answers GET /loc?URL with 302, Location and Content-Location: URL."""

    def answer(head: bytes) -> bytes:
        target = head.split(b" ")[1].decode()
        url = unquote(target.partition("?")[2]).encode()
        return answer_with(b"Location: %s\r\nContent-Location: %s\r\n" % (url, url), b"302 Found")

    return RawBackend(scripted(answer))


# What Pound's manual says each mode does (`RewriteLocation`), for a listener at
# 127.0.0.1:LPORT, a backend at 127.0.0.1:BPORT and requests with Host: www.example.com:LPORT.
# None: left as it is; else the rewritten value.
LOCATIONS: list[tuple[str, tuple[bool, bool, bool]]] = [
    ("http://127.0.0.1:BPORT/a", (False, True, True)),  # the backend itself
    ("http://localhost:BPORT/a", (False, True, True)),
    ("https://127.0.0.1:BPORT/a", (False, True, True)),  # the backend, any protocol
    ("http://127.0.0.1/a", (False, True, False)),  # the listener's address, another port
    ("https://127.0.0.1:LPORT/a", (False, True, False)),  # the listener, wrong protocol
    ("http://www.example.com/a", (False, True, False)),  # the request's host, another port
    ("http://www.example.com:LPORT/a", (False, False, False)),  # already right
    ("http://127.0.0.1:LPORT/a", (False, False, False)),
    ("http://other.example/a", (False, False, False)),  # elsewhere
    ("https://other.example:BPORT/a", (False, False, False)),
    ("/relative", (False, False, False)),
]


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_rewrite_location_modes(mode: int) -> None:
    with location_backend() as raw:
        text = listener(backend(raw.port), f"  RewriteLocation {mode}")
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            host = f"www.example.com:{p.port}"
            for url, rewritten in LOCATIONS:
                url = url.replace("BPORT", str(raw.port)).replace("LPORT", str(p.port))
                r = c.request("/loc?" + quote(url, safe=""), host=host)
                path = url.split("/", 3)[3] if "://" in url else ""
                want = f"http://{host}/{path}" if rewritten[mode] else url
                assert r.header(b"location") == want.encode(), (mode, url)
                assert r.header(b"content-location") == want.encode(), (mode, url)


def test_rewrite_errors_serves_the_error_file(tmp_path: Path) -> None:
    page = tmp_path / "404.html"
    page.write_text("<h1>our own 404</h1>")
    with Backend("b") as b:
        for where in ("listener", "service"):
            extra = f'  ErrorFile 404 "{page}"'
            service = ""
            if where == "listener":
                extra += "\n  RewriteErrors 1"
            else:
                service = "    RewriteErrors 1"
            config, socks = config_with_ports(listener(backend(b.port), extra, service))
            with ProxyThread(config, socks) as p:
                r = get(p.port, "/status/404")
                assert r.status == 404 and r.body == b"<h1>our own 404</h1>"
                assert get(p.port, "/status/500").status == 500  # no page: as received
                assert get(p.port, "/").body == b"b"
        config, socks = config_with_ports(listener(backend(b.port), f'  ErrorFile 404 "{page}"'))
        with ProxyThread(config, socks) as p:  # off by default: the backend's own
            assert get(p.port, "/status/404").body != b"<h1>our own 404</h1>"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ('DeleteHeader "X-(A"', '6.16: bad regex "X-(A": unmatched ('),
        ('AddHeader "X-A 1"', '6.13: bad header line "X-A 1"'),
        ('HeadRemove -nope "x"', '6.14: unknown option "-nope"'),
    ],
)
def test_a_reload_with_a_bad_edit_keeps_the_old_configuration(
    tmp_path: Path, statement: str, message: str
) -> None:
    path = tmp_path / "standby.cfg"
    with Backend("echo") as b:
        good = listener(backend(b.port), '  AddHeader "X-Generation: 1"')
        _, socks = config_with_ports(good)
        port = socks[0].getsockname()[1]
        path.write_text(good.replace("{L0}", str(port)))
        with ProxyThread(load_config(str(path)), socks) as proxy:
            assert b"X-Generation: 1" in echoed(port)
            bad = listener(backend(b.port), f'  AddHeader "X-Generation: 2"\n  {statement}')
            path.write_text(bad.replace("{L0}", str(port)))
            ok, error = proxy.reload()
            assert not ok and error.startswith(f"{path}:{message}")  # FILE:LINE.COL
            assert b"X-Generation: 1" in echoed(port)
            path.write_text(bad.replace("{L0}", str(port)).replace(f"  {statement}\n", ""))
            assert proxy.reload() == (True, "reloaded")
            assert b"X-Generation: 2" in echoed(port)
        assert proxy.errors == []


def test_rewrite_with_match_blocks_flags_and_tagged_back_references() -> None:
    service = """    Path -tag "p" -re "^/(app)/"
    Rewrite
      Match OR
        Host -exact "a.example"
        Path -beg "/app/beta"
      End
      Header "X-Tenant" -re "(.+)"
      SetHeader "X-Route: beta-$1-$1(p)"
    Else
      Not Method -exact "GET"
      SetQueryParam "write" "1"
    End"""
    with Backend("echo") as b:
        config, socks = config_with_ports(listener(backend(b.port), service=service))
        with ProxyThread(config, socks) as p:
            get(p.port, "/app/beta/x", headers="X-Tenant: blue\r\n")
            assert b"X-Route: beta-blue-app\r\n" in b.heads[-1]
            get(p.port, "/app/x", host="a.example", headers="X-Tenant: red\r\n")
            assert b"X-Route: beta-red-app\r\n" in b.heads[-1]
            get(p.port, "/app/x", method="POST", body=b"x")
            assert b.heads[-1].startswith(b"POST /app/x?write=1 ")
            get(p.port, "/app/x")
            assert b.heads[-1].startswith(b"GET /app/x ") and b"X-Route" not in b.heads[-1]


def test_combine_headers_in_requests_and_responses() -> None:
    top = 'CombineHeaders\n  "Accept"\n  "cache-control"\n  "Set-Cookie"\nEnd\n'

    def answer(head: bytes) -> bytes:
        extra = b"Cache-Control: no-cache\r\nSet-Cookie: a=1\r\nCache-Control: private\r\n"
        return answer_with(extra + b"Set-Cookie: b=2\r\n")

    with RawBackend(scripted(answer)) as raw:
        config, socks = config_with_ports(top + listener(backend(raw.port)))
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            for _ in range(2):
                r = c.request("/", headers="Accept: text/html\r\nX-A: 1\r\nAccept: */*\r\n")
                assert r.header(b"cache-control") == b"no-cache, private"
                assert [v for k, v in r.headers if k.lower() == b"set-cookie"] == [b"a=1", b"b=2"]
    sent = raw.all_bytes()
    assert sent.count(b"Accept: text/html, */*\r\nX-A: 1\r\n") == 2


def test_rewrite_response_reads_the_request_and_the_services_groups() -> None:
    service = """    Host -re "([^:]+)(:.*)?"
    Rewrite response
      SetHeader "X-My-Host: $1 %[host] %[path]"
    End"""
    with Backend("b") as b:
        config, socks = config_with_ports(listener(backend(b.port), service=service))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/x/y", host="example.net:8080")
            assert r.header(b"x-my-host") == b"example.net example.net /x/y"


def test_the_installed_program_with_its_default_workers(tmp_path: Path) -> None:
    with Backend("echo") as b:
        port = free_port()
        text = f"""LogLevel 1
Daemon 0
ListenHTTP
  Address 127.0.0.1
  Port {port}
  AddHeader "X-Forwarded-Host: www.example.com"
  HeadRemove "^X-Debug:"
  Service
    HeadRequire "Host: www.example.com.*"
    BackEnd
      Address 127.0.0.1
      Port {b.port}
    End
  End
End
"""
        path = tmp_path / "pound.cfg"
        path.write_text(text)
        checked = subprocess.run(
            [sys.executable, "-m", "standby", "-c", "-f", str(path)],
            capture_output=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stderr
        assert b'"AddHeader" is an old spelling: write "SetHeader"' in checked.stderr
        quiet = subprocess.run(
            [sys.executable, "-m", "standby", "-c", "-W", "no-warn-deprecated", "-f", str(path)],
            capture_output=True,
            timeout=60,
        )
        assert quiet.returncode == 0, quiet.stderr
        assert b"old spelling" not in quiet.stderr
        with running_standby(path):
            wait_until(lambda: answers(port), what="standby answering")
            for _ in range(8):  # new connections: whichever worker accepts them
                head = echoed(port, headers={"X-Debug": "1"})
                assert b"X-Forwarded-Host: www.example.com\r\n" in head
                assert b"X-Debug" not in head
        path.write_text(text.replace('"^X-Debug:"', '"^X-(Debug:"'))
        checked = subprocess.run(
            [sys.executable, "-m", "standby", "-c", "-f", str(path)],
            capture_output=True,
            timeout=60,
        )
        assert checked.returncode != 0
        assert f"{path}:7.14: bad regex".encode() in checked.stderr


def answers(port: int) -> bool:
    try:
        return get(port, "/").status == 200
    except OSError:
        return False
