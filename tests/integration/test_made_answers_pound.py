"""Response edits on the answers standby makes itself, as Pound 4.23 applies them (issue 15;
Pound's testsuite groups basicauth and dynbauth): a `Rewrite response` of the service, then
one of the listener, edit the answers of `Error`, `Success`, `SendFile` and `Metrics` and
the pages `RewriteErrors` puts in place of a backend's; never a `Redirect`'s answer nor the
error page of the proxy's own refusals (Pound 4.23, run on these configurations)."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.integration.test_backends_special import listener
from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, get

# Both levels edit: the service's edits come first, the listener's after them (its
# SetHeader of the same name wins).
LISTENER_EDITS = """  Rewrite response
    SetHeader "X-Order: listener"
    SetHeader "X-Listener: yes"
  End
"""
SERVICE_EDITS = """    Rewrite response
      SetHeader "X-Order: service"
      SetHeader "X-Service: yes"
    End
"""


def service(url: str, body: str, edits: str = SERVICE_EDITS) -> str:
    return f'  Service\n    URL "{url}"\n{edits}{body}\n  End\n'


def proxied(port: int) -> str:
    return f"    BackEnd\n      Address 127.0.0.1\n      Port {port}\n    End"


def edited_by_both(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {name.lower(): value for name, value in headers}
    return (
        names.get(b"x-service") == b"yes"
        and names.get(b"x-listener") == b"yes"
        and names.get(b"x-order") == b"listener"
    )


def untouched(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {name.lower() for name, _ in headers}
    return not names & {b"x-service", b"x-listener", b"x-order"}


def test_a_basic_auth_challenge_gets_its_www_authenticate_from_a_response_rewrite(
    tmp_path: Path,
) -> None:
    # Pound's manual: a service for the requests without valid credentials answers 401,
    # and its response rewrite adds the challenge.
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("gray:guessMe\n")
    auth = """    Rewrite response
      SetHeader "WWW-Authenticate: Basic realm=\\"Restricted access\\""
    End
"""
    with Backend("app") as app:
        services = (
            f'  Service "auth"\n    Not BasicAuth "{htpasswd}"\n{auth}    Error 401\n  End\n'
            f"  Service\n{proxied(app.port)}\n  End\n"
        )
        config, socks = config_with_ports(listener(services))
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            r = c.request("/app")
            assert r.status == 401
            assert r.header(b"www-authenticate") == b'Basic realm="Restricted access"'
            assert r.header(b"content-length") == str(len(r.body)).encode()
            credentials = base64.b64encode(b"gray:guessMe").decode()
            r = c.request("/app", headers=f"Authorization: Basic {credentials}\r\n")
            assert (r.status, r.body) == (200, b"app")  # the same connection: kept open
            assert r.header(b"www-authenticate") is None
        assert app.requests == 1


def test_error_success_sendfile_and_metrics_answers_get_both_levels_edits(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_bytes(b"hello\n")
    services = (
        service("^/err", "    Error 404")
        + service("^/ok", "    Success")
        + service("^/a.txt", f'    SendFile "{tmp_path}"')
        + service("^/metrics", "    Metrics")
    )
    config, socks = config_with_ports(listener(services, LISTENER_EDITS))
    with ProxyThread(config, socks) as p, Client(p.port) as c:
        r = c.request("/err")
        assert r.status == 404 and b"Not Found" in r.body
        assert edited_by_both(r.headers)
        assert r.header(b"expires") == b"now"  # the page's own lines stay
        r = c.request("/ok")
        assert (r.status, r.body) == (200, b"") and edited_by_both(r.headers)
        r = c.request("/a.txt")
        assert (r.status, r.body) == (200, b"hello\n") and edited_by_both(r.headers)
        assert r.header(b"content-type") == b"text/plain"
        r = c.request("/a.txt", method="HEAD")
        assert (r.status, r.body) == (200, b"") and edited_by_both(r.headers)
        assert r.header(b"content-length") == b"6"
        r = c.request("/metrics")
        assert r.status == 200 and b"pound_uptime" in r.body and edited_by_both(r.headers)
        assert r.header(b"content-length") == str(len(r.body)).encode()


def test_edits_replace_and_delete_the_error_page_s_lines_and_test_them() -> None:
    # A response rewrite sees the made head: its SetHeader replaces the page's own
    # Content-Type, a DeleteHeader removes a cache line, a branch tests the head's lines.
    edits = """    Rewrite response
      SetHeader "Content-Type: text/x-page"
      DeleteHeader "^Expires:"
      Rewrite
        Header "^Pragma: no-cache"
        SetHeader "X-Saw: pragma"
      Else
        SetHeader "X-Saw: nothing"
      End
    End
"""
    config, socks = config_with_ports(listener(service("^/", "    Error 503", edits)))
    with ProxyThread(config, socks) as p:
        for method in ("GET", "HEAD"):
            r = get(p.port, "/down", method=method)
            assert r.status == 503
            assert r.header(b"content-type") == b"text/x-page"
            assert r.header(b"expires") is None
            assert r.header(b"x-saw") == b"pragma"
            assert r.header(b"cache-control") == b"no-cache,no-store"


def test_a_rewrite_errors_page_is_edited_and_the_backend_s_lines_are_gone(
    tmp_path: Path,
) -> None:
    page = tmp_path / "404.txt"
    page.write_bytes(b"Content-Type: text/plain\nX-Page: ours\n\nnot here\n")
    extra = f'  ErrorFile 404 "{page}"\n  RewriteErrors 1\n{LISTENER_EDITS}'
    with Backend("b") as b:
        config, socks = config_with_ports(listener(service("^/", proxied(b.port)), extra))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/status/404")
            assert (r.status, r.body) == (404, b"not here\n")
            assert r.header(b"x-page") == b"ours"
            assert r.header(b"x-backend") is None  # the backend's answer is not sent
            assert edited_by_both(r.headers)
            r = get(p.port, "/")  # a backend's answer is edited as before
            assert r.body == b"b" and edited_by_both(r.headers)


def test_redirects_and_the_proxy_s_own_refusals_are_not_edited() -> None:
    # Pound sends these without its response rewrites: a Redirect's answer, and the error
    # page of a request no backend could take (here none is alive, or no service matched).
    services = service("^/go", '    Redirect "http://example.org"') + service("^/dead", proxied(1))
    config, socks = config_with_ports(listener(services, LISTENER_EDITS))
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/go/x")
        assert r.status == 302 and r.header(b"location") == b"http://example.org/go/x"
        assert untouched(r.headers)
        r = get(p.port, "/dead")
        assert r.status == 503 and untouched(r.headers)
        r = get(p.port, "/nowhere")
        assert r.status == 503 and untouched(r.headers)


def test_the_error_backend_s_headers_in_pound_s_five_layouts(tmp_path: Path) -> None:
    # Pound's testsuite group error: the built-in page, a page file named by ErrorFile or
    # by Error itself, with and without headers of its own. A file's Content-Type and
    # Cache-Control replace the defaults; Expires and Pragma are added all the same.
    page = b"<p>custom not found</p>\n"
    (tmp_path / "404.html").write_bytes(page)
    (tmp_path / "404.txt").write_bytes(
        b"Content-Type: text/plain\nCache-Control: no-cache\n\n" + page
    )
    cases = [
        ("", "Error 404", None, b"text/html", b"no-cache,no-store"),
        ('ErrorFile 404 "404.html"', "Error 404", page, b"text/html", b"no-cache,no-store"),
        ("", 'Error 404 "404.html"', page, b"text/html", b"no-cache,no-store"),
        ('ErrorFile 404 "404.txt"', "Error 404", page, b"text/plain", b"no-cache"),
        ("", 'Error 404 "404.txt"', page, b"text/plain", b"no-cache"),
    ]
    for extra, error, body, content_type, cache in cases:
        text = listener(service("^/", f"    {error}", ""), f"  {extra}")
        config, socks = config_with_ports(text.replace('"404.', f'"{tmp_path}/404.'))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/foo/bar")
            assert (r.status, r.reason) == (404, b"Not Found"), error
            assert r.raw_head.startswith(b"HTTP/1.1 404 Not Found\r\n")
            assert body is None or r.body == body
            assert r.header(b"content-type") == content_type, (extra, error)
            assert r.header(b"expires") == b"now" and r.header(b"pragma") == b"no-cache"
            assert r.header(b"cache-control") == cache, (extra, error)
            assert r.header(b"content-length") == str(len(r.body)).encode()
