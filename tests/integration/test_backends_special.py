"""Pound 4's special backends through real sockets (issue 15): `Error`, `Success`,
`SendFile`, `Control` in a Service, and error pages for the statuses standby sends (the
503 page shown when a backend is down, times out or answers garbage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, get, wait_until
from tests.support.peers import RawBackend, respond_once

from standby.config import ConfigError, load_config
from standby.server.responders import SENDFILE_CHUNK


def listener(services: str, extra: str = "") -> str:
    return f"""
Workers 1
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  {extra}
{services}
End
"""


def service(body: str, url: str | None = None) -> str:
    condition = "" if url is None else f'    URL "{url}"\n'
    return f"  Service\n{condition}{body}\n  End\n"


def proxied(port: int, extra: str = "") -> str:
    return f"    BackEnd\n      Address 127.0.0.1\n      Port {port}\n      {extra}\n    End"


# -- Error ----------------------------------------------------------------------------------


def test_error_backend_in_a_catch_all_service(tmp_path: Path) -> None:
    # The manual's case: a last service answers what no other one matched with a 404 page.
    page = tmp_path / "404.html"
    page.write_bytes(b"<h1>nothing here</h1>\n")
    with Backend("app") as app:
        text = listener(
            service(proxied(app.port), url="^/app/") + service(f'    Error 404 "{page}"')
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            assert get(p.port, "/app/x").body == b"app"
            r = get(p.port, "/elsewhere")
            assert r.status == 404
            assert r.body == b"<h1>nothing here</h1>\n"
            assert r.header(b"content-type") == b"text/html"
            head = get(p.port, "/elsewhere", method="HEAD")
            assert head.status == 404 and head.body == b""
        assert app.requests == 1


def test_error_backend_page_with_headers_and_the_listener_page(tmp_path: Path) -> None:
    # Pound 4's file format: headers, an empty line, the page. Without a file of its own,
    # `Error` takes the listener's ErrorFile page for its status, else the built-in one.
    own = tmp_path / "gone.txt"
    own.write_bytes(b"Content-Type: text/plain\nX-Reason: moved away\n\nGone for good.\n")
    listener_page = tmp_path / "403.html"
    listener_page.write_bytes(b"<p>forbidden here</p>")
    text = listener(
        service(f'    Error 404 "{own}"', url="^/own")
        + service("    Error 403", url="^/listener")
        + service("    Error 500"),
        extra=f'ErrorFile 403 "{listener_page}"',
    )
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/own")
        assert (r.status, r.body) == (404, b"Gone for good.\n")
        assert r.header(b"content-type") == b"text/plain"
        assert r.header(b"x-reason") == b"moved away"
        r = get(p.port, "/listener")
        assert (r.status, r.body) == (403, b"<p>forbidden here</p>")
        r = get(p.port, "/other")
        assert r.status == 500 and b"Internal Server Error" in r.body


def test_error_backend_built_in_page_has_pound_s_cache_headers() -> None:
    # Pound 4 sends its built-in page for `Error` with the cache headers of a page file,
    # spelt as Pound spells them (its testsuite compares the values).
    config, socks = config_with_ports(listener(service("    Error 404")))
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/foo/bar")
        assert r.status == 404 and b"<h1>Not Found</h1>" in r.body
        assert r.header(b"content-type") == b"text/html"
        assert r.header(b"expires") == b"now"
        assert r.header(b"pragma") == b"no-cache"
        assert r.header(b"cache-control") == b"no-cache,no-store"


# -- Success --------------------------------------------------------------------------------


def test_success_answers_200_with_an_empty_body_and_keeps_the_connection() -> None:
    # The manual uses it to answer OPTIONS with headers alone.
    text = listener(service("    Success", url="^/ping"), extra="xHTTP 2")
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        with Client(p.port) as c:
            for method in ("OPTIONS", "GET", "HEAD"):
                r = c.request("/ping", method=method)
                assert (r.status, r.body) == (200, b"")
                assert r.header(b"content-length") == b"0"
        r = get(p.port, "/ping", method="POST", body=b"x")
        assert (r.status, r.body) == (200, b"")


# -- SendFile -------------------------------------------------------------------------------


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "sub" / "b.html").write_bytes(b"<p>b</p>")
    (root / "big.bin").write_bytes(bytes(range(256)) * (3 * SENDFILE_CHUNK // 256 + 7))
    (tmp_path / "secret.txt").write_bytes(b"secret")
    os.symlink(tmp_path / "secret.txt", root / "out")
    os.symlink(root / "a.txt", root / "in")
    return root


def test_sendfile_serves_files_of_its_directory(docroot: Path) -> None:
    text = listener(service(f'    SendFile "{docroot}"'))
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p, Client(p.port) as c:
        r = c.request("/a.txt")
        assert (r.status, r.body) == (200, b"hello\n")
        assert r.header(b"content-type") == b"text/plain"
        r = c.request("/sub/b.html?v=1")
        assert (r.status, r.body) == (200, b"<p>b</p>")
        r = c.request("/sub/%62.html")  # percent-decoded
        assert r.body == b"<p>b</p>"
        r = c.request("/in")  # a link that stays inside the directory
        assert r.body == b"hello\n"
        r = c.request("/a.txt", method="HEAD")
        assert (r.status, r.body, r.header(b"content-length")) == (200, b"", b"6")
        big = (docroot / "big.bin").read_bytes()
        r = c.request("/big.bin")  # several chunks, read in a thread
        assert r.status == 200 and r.body == big
        for target in ("/nope", "/sub", "/sub/", "/out", "/../secret.txt", "/sub/../../secret.txt",
                       "/%2e%2e/secret.txt", "/a.txt%00"):  # fmt: skip
            r = c.request(target)
            assert r.status == 404, target
            assert b"secret" not in r.body
        r = c.request("/a.txt", method="POST", body=b"x")
        assert r.status == 405 and r.header(b"allow") == b"GET, HEAD"


def test_sendfile_survives_clients_that_leave_and_closes_its_files(docroot: Path) -> None:
    # Clients that read the head of a big file and leave: the proxy's files are all closed
    # again (the proxy runs in this process: its descriptors are ours to count).
    text = listener(service(f'    SendFile "{docroot}"'))
    config, socks = config_with_ports(text)
    big = (docroot / "big.bin").read_bytes()
    with ProxyThread(config, socks) as p:
        assert get(p.port, "/big.bin").body == big
        baseline = len(os.listdir("/proc/self/fd"))
        for _ in range(5):
            with Client(p.port) as c:
                c.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                c.sock.recv(100)  # the head's first bytes, then gone
        wait_until(lambda: len(os.listdir("/proc/self/fd")) <= baseline, what="files closed")
        assert get(p.port, "/big.bin").body == big
        assert p.errors == []


# -- Control in a Service -------------------------------------------------------------------


def test_control_service_serves_the_control_api_over_http() -> None:
    # Pound 4's `Control` in a Service: the same objects as on the socket, over HTTP; a
    # backend disabled through it gets no more traffic.
    with Backend("one") as one, Backend("two") as two:
        text = listener(
            service("    Control", url="^/(listener|core|metrics)")
            + service(proxied(one.port) + "\n" + proxied(two.port)),
            extra="xHTTP 1",  # PATCH and DELETE
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            r = c.request("/listener/0/service/1")
            assert r.status == 200 and r.header(b"content-type") == b"application/json"
            service_json = json.loads(r.body)
            assert [b["address"] for b in service_json["backends"]] == [
                f"127.0.0.1:{one.port}",
                f"127.0.0.1:{two.port}",
            ]
            control = json.loads(c.request("/listener/0/service/0").body)
            assert control["backends"][0]["type"] == "control"
            body = b'{"state": "disabled"}'
            r = c.request("/listener/0/service/1/backend/0", method="PATCH", body=body)
            assert r.status == 200 and json.loads(r.body)["enabled"] is False
            assert {get(p.port, "/x").body for _ in range(6)} == {b"two"}
            assert c.request("/nothing").body == b"two"  # no Control URL: the app answers
            r = c.request("/core", method="DELETE")
            assert r.status == 405
            metrics = c.request("/metrics")
            assert metrics.status == 200 and b"pound_" in metrics.body


# -- error pages for the statuses standby sends ---------------------------------------------


def test_the_503_page_is_shown_for_a_backend_down_slow_or_broken(tmp_path: Path) -> None:
    # The maintenance page: only ErrorFile 503 is set; a backend that is down (503),
    # times out (504) or answers garbage (502) shows it, with the status standby sends.
    page = tmp_path / "maintenance.html"
    page.write_bytes(b"<h1>back soon</h1>")
    with (
        Backend("slow") as slow,
        RawBackend(respond_once(b"garbage\r\n\r\n")) as raw,
    ):
        down = slow.port + 0  # replaced below by a closed port
        with Backend("gone") as gone:
            down = gone.port
        text = listener(
            service(proxied(slow.port, "TimeOut 1"), url="^/slow")
            + service(proxied(raw.port), url="^/garbage")
            + service(proxied(down)),
            extra=f'ErrorFile 503 "{page}"',
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            for target, status in (("/slow/30", 504), ("/garbage", 502), ("/down", 503)):
                r = get(p.port, target)
                assert (r.status, r.body) == (status, b"<h1>back soon</h1>"), target


def test_a_page_of_its_own_wins_over_the_503_page(tmp_path: Path) -> None:
    (tmp_path / "503.html").write_bytes(b"<p>503</p>")
    (tmp_path / "502.html").write_bytes(b"<p>502</p>")
    with RawBackend(respond_once(b"garbage\r\n\r\n")) as raw:
        extra = f'ErrorFile 503 "{tmp_path}/503.html"\n  ErrorFile 502 "{tmp_path}/502.html"'
        config, socks = config_with_ports(listener(service(proxied(raw.port)), extra=extra))
        with ProxyThread(config, socks) as p:
            r = get(p.port)
            assert (r.status, r.body) == (502, b"<p>502</p>")


def test_pages_for_standby_s_own_refusals(tmp_path: Path) -> None:
    # 414 (MaxURI), 413 (MaxRequest), 400 (a malformed request) with pages of their own.
    for code in (400, 413, 414):
        (tmp_path / f"{code}.html").write_bytes(b"<p>%d page</p>" % code)
    pages = "\n  ".join(f'ErrorFile {code} "{tmp_path}/{code}.html"' for code in (400, 413, 414))
    with Backend("app") as app:
        text = listener(service(proxied(app.port)), extra=f"MaxURI 64\n  MaxRequest 4\n  {pages}")
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/" + "x" * 100)
            assert (r.status, r.body) == (414, b"<p>414 page</p>")
            r = get(p.port, "/", method="POST", body=b"too long")
            assert (r.status, r.body) == (413, b"<p>413 page</p>")
            with Client(p.port) as c:
                c.send(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
                r = c.response()
            assert (r.status, r.body) == (400, b"<p>400 page</p>")


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('    Error 404 "{tmp}/missing.html"', 'cannot read "{tmp}/missing.html"'),
        ('    SendFile "{tmp}/no-such-dir"', 'not a directory: "{tmp}/no-such-dir"'),
        ('    UseBackend "nope"', 'no global backend named "nope"'),
        ("    Error 418", "418 is not a valid status"),
    ],
)
def test_bad_special_backends_are_refused_at_their_place(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "standby.cfg"
    text = listener(service(body.format(tmp=tmp_path))).replace("{L0}", "8080")
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    line = text.splitlines().index(body.format(tmp=tmp_path)) + 1
    assert str(info.value).startswith(f"{path}:{line}.")
    assert message.format(tmp=tmp_path) in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (proxied(8080) + "\n    Error 404", "service mixes backends of different types"),
        ("    Error 404\n    Success", "service mixes backends of different types"),
        ('    Redirect "https://x/"\n    Control', "service mixes backends of different types"),
        ("    Error 404\n    Error 403", "multiple backends of this type are not allowed"),
        ("    Success\n    Success", "multiple backends of this type are not allowed"),
        (proxied(8080) + '\n    UseBackend "g"\n    Success', "mixes backends"),
        (None, ""),  # Pound allows: real servers, with redirects, an Emergency beside Error
    ],
)
def test_a_special_backend_shares_its_service_with_no_other(
    tmp_path: Path, body: str | None, message: str
) -> None:
    # Pound 4 refuses a Service whose normal backends put a special one among others.
    path = tmp_path / "standby.cfg"
    named = 'Backend "g"\n  Address 127.0.0.1\n  Port 8082\nEnd\n'
    if body is None:
        accepted = (
            service(proxied(8080) + "\n" + proxied(8081) + '\n    UseBackend "g"', url="^/a")
            + service(proxied(8080) + '\n    Redirect "https://x/"', url="^/b")
            + service('    Redirect "https://x/"\n    Redirect "https://y/"', url="^/c")
            + service(
                "    Error 503\n    Emergency\n      Address 127.0.0.1\n      Port 8083\n    End"
            )
        )
        path.write_text(named + listener(accepted).replace("{L0}", "8080"))
        assert len(load_config(str(path)).listeners[0].services) == 4
        return
    text = named + listener(service(body)).replace("{L0}", "8080")
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    line = text.splitlines().index("  Service") + 1
    assert str(info.value).startswith(f"{path}:{line}.")
    assert message in str(info.value)


def test_check_reports_a_bad_special_backend_at_its_place(tmp_path: Path) -> None:
    # `standby -c`: the installed program, as an operator runs it.
    path = tmp_path / "pound.cfg"
    bad = f'    SendFile "{tmp_path}/nowhere"'
    text = listener(service(bad)).replace("{L0}", "8080")
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "standby", "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    line = text.splitlines().index(bad) + 1
    assert done.returncode == 1
    assert done.stderr.startswith(f"{path}:{line}.14: not a directory: ")
    assert "Traceback" not in done.stderr


def test_a_reload_with_a_bad_special_backend_keeps_the_old_configuration(
    tmp_path: Path, docroot: Path
) -> None:
    path = tmp_path / "standby.cfg"
    good = listener(service(f'    SendFile "{docroot}"'))
    config, socks = config_with_ports(good)
    port = socks[0].getsockname()[1]
    path.write_text(good.replace("{L0}", str(port)))
    with ProxyThread(load_config(str(path)), socks) as p:
        assert get(port, "/a.txt").body == b"hello\n"
        for bad in (f'    SendFile "{tmp_path}/gone"', f'    Error 503 "{tmp_path}/none.html"',
                    '    UseBackend "nope"'):  # fmt: skip
            path.write_text(listener(service(bad)).replace("{L0}", str(port)))
            ok, message = p.reload()
            assert not ok and f"{path}:" in message
            assert get(port, "/a.txt").body == b"hello\n"
        assert p.errors == []
    del config


def test_control_service_reads_a_body_sent_in_pieces_and_refuses_a_large_one() -> None:
    with Backend("one") as one:
        text = listener(
            service("    Control", url="^/listener") + service(proxied(one.port)),
            extra="xHTTP 1",
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            with Client(p.port) as c:
                body = b'{"state": "drain"}'
                c.send(
                    b"PATCH /listener/0/service/1/backend/0 HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body)
                )
                c.send_bytewise(body)
                r = c.response()
                assert r.status == 200 and json.loads(r.body)["draining"] is True
            with Client(p.port) as c:
                # The head, then its body and a pipelined request in one write (usually
                # read after the head was dispatched): both are answered.
                body = b'{"state": "enabled"}'
                c.send(
                    b"PATCH /listener/0/service/1/backend/0 HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body)
                )
                c.send(body + b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
                first = c.response()
                assert first.status == 200 and json.loads(first.body)["draining"] is False
                assert c.response().body == b"one"
            with Client(p.port) as c:
                c.send(b"PATCH /listener/0 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n")
                assert c.response().status == 413


def test_special_backends_in_the_control_listing_as_pound_4_names_them(docroot: Path) -> None:
    text = listener(
        service("    Control", url="^/listener")
        + service("    Error 404", url="^/e")
        + service("    Success", url="^/s")
        + service(f'    SendFile "{docroot}"')
    )
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p, Client(p.port) as c:
        listing = json.loads(c.request("/listener/0").body)
        backends = [s["backends"][0] for s in listing["services"]]
        assert [b["type"] for b in backends] == ["control", "error", "success", "file"]
        assert (backends[1]["status"], backends[1]["text"]) == (404, None)
        assert all(b["alive"] and b["enabled"] for b in backends)


def test_read_only_emergency_refusal_shows_the_503_page(tmp_path: Path) -> None:
    # standby's own 503 (a write while the Emergency tier serves) takes the site's page.
    page = tmp_path / "503.html"
    page.write_bytes(b"<p>read only for now</p>")
    with Backend("mirror") as mirror:
        with Backend("gone") as gone:
            down = gone.port
        body = (
            proxied(down)
            + f"\n    Emergency\n      Address 127.0.0.1\n      Port {mirror.port}\n    End"
            + "\n    ReadOnlyEmergency"
        )
        config, socks = config_with_ports(listener(service(body), extra=f'ErrorFile 503 "{page}"'))
        with ProxyThread(config, socks) as p:
            assert get(p.port).body == b"mirror"
            r = get(p.port, "/", method="POST", body=b"x")
            assert (r.status, r.body) == (503, b"<p>read only for now</p>")
            assert r.header(b"retry-after") is not None


def test_control_service_reload_reads_the_file_again(tmp_path: Path) -> None:
    with Backend("old") as old, Backend("new") as new:
        path = tmp_path / "standby.cfg"
        template = listener(service("    Control", url="^/reload") + service(proxied(0)))
        config, socks = config_with_ports(template.replace("Port 0", f"Port {old.port}"))
        port = socks[0].getsockname()[1]
        path.write_text(template.replace("{L0}", str(port)).replace("Port 0", f"Port {old.port}"))
        with ProxyThread(load_config(str(path)), socks) as p:
            assert get(port).body == b"old"
            assert p.errors == []
            path.write_text(
                template.replace("{L0}", str(port)).replace("Port 0", f"Port {new.port}")
            )
            r = get(port, "/reload", method="POST", body=b"{}")
            assert r.status == 200 and json.loads(r.body)["ok"] is True
            assert get(port).body == b"new"
            path.write_text("Bogus\n")
            r = get(port, "/reload", method="POST", body=b"{}")
            assert r.status == 422 and "Bogus" in json.loads(r.body)["error"]
            assert get(port).body == b"new"
        del config
