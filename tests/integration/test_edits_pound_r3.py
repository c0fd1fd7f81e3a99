"""Pound 4.23's expansion rules in edits through real sockets (issue 15, round 3): the
Constants a header edit names (a Service's over its listener's over the top level's),
several conditions' back-references, what an expansion that cannot be made answers, and
the file a SendFile backend sends after the request's path was edited."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.backend import Backend
from tests.support.harness import ProxyThread, config_with_ports, get

pytestmark = pytest.mark.timeout(120)


def echoed_lines(port: int, target: str = "/echo", headers: str = "") -> list[bytes]:
    """The header lines the /echo backend received for a GET of ``target``."""
    r = get(port, target, headers=headers)
    assert r.status == 200, r
    return r.body.split(b"\r\n")[1:-2]


def test_set_header_expands_the_constants_of_its_scope(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"from a file\n\n")
    template = """
Constant "a" "top A"
Constant "b" "top B"
Constant "f" -file "{secret}" -trim
Constant "g" -file "{secret}"
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Constant "b" "listener B"
  SetHeader "X-Listener-B: %[const b]"
  Service
    Constant "a" "service A"
    SetHeader "X-A: %[const a]"
    SetHeader "X-A-url: %[const a url]"
    SetHeader "X-B-base64: %[const b base64]"
    SetHeader "X-F: %[const f]"
    SetHeader "X-G-url: %[const g url]"
    SetPath "/echo/%[const a url]"
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
End
"""
    with Backend("echo") as b:
        config, socks = config_with_ports(template.format(secret=secret, port=b.port))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/anything")
            assert r.status == 200, r
            assert r.body.startswith(b"GET /echo/service%20A HTTP/1.1\r\n")
            got = r.body.split(b"\r\n")[1:-2]
            assert got[-6:] == [
                b"X-Listener-B: listener B",
                b"X-A: service A",
                b"X-A-url: service%20A",
                b"X-B-base64: bGlzdGVuZXIgQg==",  # the listener's b: the service has none
                b"X-F: from a file",
                b"X-G-url: from%20a%20file%0A%0A",
            ]


def service_proxy(statements: str, port: int, tail: str = "") -> str:
    """One listener, one service with ``statements`` before its backend at ``port``."""
    statements = statements.replace("{", "{{").replace("}", "}}")  # as written
    return f"""
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
{statements}
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
{tail}
End
"""


NINE_HEADERS = "".join(f'      Header "X-{c}: (.*)"\n' for c in "ABCDEFGHI")
NINE_TAGGED = "".join(f'      Header "X-{c}" -tag "{c}" "(.*)"\n' for c in "ABCDEFGHI")
NINE_SENT = "".join(f"X-{c}: {c.lower()}\r\n" for c in "ABCDEFGHI")


def test_back_references_to_several_conditions_reach_eight_matches_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    back = "/".join(f"$1({m})" for m in range(1, 8))
    with Backend("echo") as b:
        statements = f'    Rewrite\n{NINE_HEADERS}      SetPath "/echo/$1/{back}"\n    End'
        config, socks = config_with_ports(service_proxy(statements, b.port))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/x", headers=NINE_SENT)
            assert r.status == 200 and r.body.startswith(b"GET /echo/i/h/g/f/e/d/c/b HTTP/1.1")
        # By tag, in any order.
        tagged = "/".join(f"$1({c})" for c in "IHGFEDCB")
        statements = f'    Rewrite\n{NINE_TAGGED}      SetPath "/echo/{tagged}"\n    End'
        config, socks = config_with_ports(service_proxy(statements, b.port))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/x", headers=NINE_SENT)
            assert r.status == 200 and r.body.startswith(b"GET /echo/i/h/g/f/e/d/c/b HTTP/1.1")
        # The ninth match back is gone, as in Pound: 500, and Pound's line for it.
        statements = f'    Rewrite\n{NINE_HEADERS}      SetPath "/echo/$1(8)"\n    End'
        config, socks = config_with_ports(service_proxy(statements, b.port))
        before = b.requests
        with caplog.at_level("WARNING", logger="standby.server"), ProxyThread(config, socks) as p:
            assert get(p.port, "/x", headers=NINE_SENT).status == 500
            # The connection stays usable: the next request is answered too.
            assert get(p.port, "/x", headers=NINE_SENT).status == 500
        assert 'path "/echo/$1(8)" refers to non-existing group $1(8)' in caplog.text
        assert b.requests == before  # nothing reached the backend


def test_a_rewrite_branch_s_string_match_sees_the_service_s_groups() -> None:
    statements = r"""    Path -re "([^./]+\.([^.]+))$"
    Rewrite
      StringMatch "$2" "html"
      SetPath "/echo/markup/$1(1)"
    Else
      StringMatch "$2" "txt"
      SetPath "/echo/plain/$1(1)"
    End"""
    with Backend("echo") as b:
        config, socks = config_with_ports(service_proxy(statements, b.port))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/docs/index.html")
            assert r.status == 200 and r.body.startswith(b"GET /echo/markup/index.html ")
            r = get(p.port, "/readme.txt")
            assert r.status == 200 and r.body.startswith(b"GET /echo/plain/readme.txt ")
            # Neither branch: the path stays (not /echo...: the backend answers its name).
            assert get(p.port, "/a.png").body == b"echo"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ('SetPath "/echo%[url"', 'path "/echo%[url": unclosed %[ at offset 5'),
        ('SetPath "/echo$0"', 'path "/echo$0" refers to non-existing group $0'),
        ('SetPath "/echo%qbar"', 'path "/echo%qbar": unescaped % character at offset 6'),
        ('SetURL "/echo${1"', 'url "/echo${1": missing closing brace in reference started at'),
        ('SetQuery "a=$2"', 'query "a=$2" refers to non-existing group $2'),
        ('SetQueryParam "a" "$1(3"', 'query parameter "$1(3": missing closing parenthesis'),
        ('SetHeader "X-A: $1"', 'Header "X-A: $1" refers to non-existing group $1'),
    ],
)
def test_an_edit_that_cannot_be_expanded_answers_500(
    caplog: pytest.LogCaptureFixture, statement: str, message: str
) -> None:
    with Backend("echo") as b:
        config, socks = config_with_ports(service_proxy(f"    {statement}", b.port))
        with caplog.at_level("WARNING", logger="standby.server"), ProxyThread(config, socks) as p:
            assert get(p.port, "/echo/foo").status == 500
        assert message in caplog.text
        assert b.requests == 0


def test_a_response_edit_or_a_redirect_that_cannot_be_expanded_answers_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response_edit = '    Rewrite response\n      SetHeader "X-B: $1(2)"\n    End'
    with Backend("echo") as b:
        config, socks = config_with_ports(service_proxy(response_edit, b.port))
        with caplog.at_level("WARNING", logger="standby.server"), ProxyThread(config, socks) as p:
            assert get(p.port, "/echo/foo").status == 500
            assert get(p.port, "/echo/foo").status == 500  # and the next one too
    assert 'Header "X-B: $1(2)" refers to non-existing group $1(2)' in caplog.text
    redirect = """
ListenHTTP
  Address 127.0.0.1
  Port {L0}
  Service
    Redirect "http://example.org/100%off"
  End
End
"""
    caplog.clear()
    config, socks = config_with_ports(redirect)
    with caplog.at_level("WARNING", logger="standby.server"), ProxyThread(config, socks) as p:
        assert get(p.port, "/x").status == 500
    assert 'Redirect expression "http://example.org/100%off": unescaped % character' in caplog.text


def test_send_file_sends_the_file_the_edited_path_names_with_the_response_edits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "note.txt").write_bytes(b"a note\n")
    text = f"""
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
    Path -re "^/public/(.+)"
    SetPath "$1"
    Rewrite response
      SetHeader "Content-Type: text/html"
      SetHeader "X-Served: %[path]"
    End
    SendFile "{tmp_path}"
  End
  Service
    Path -beg "/broken/"
    SetPath "/$2"
    SendFile "{tmp_path}"
  End
End
"""
    config, socks = config_with_ports(text)
    with caplog.at_level("WARNING", logger="standby.server"), ProxyThread(config, socks) as p:
        r = get(p.port, "/public/note.txt")
        assert (r.status, r.body) == (200, b"a note\n")
        assert r.header(b"content-type") == b"text/html"
        assert r.header(b"x-served") == b"/note.txt"  # the request as edited, as in Pound
        assert r.header(b"content-length") == b"7"
        assert get(p.port, "/note.txt").status == 503  # no service: only edited paths reach it
        assert get(p.port, "/public/none.txt").status == 404
        assert get(p.port, "/public/../etc/passwd").status == 404
        assert get(p.port, "/broken/note.txt").status == 500
    assert 'path "/$2" refers to non-existing group $2' in caplog.text


def test_a_redirect_reads_the_request_as_edited(caplog: pytest.LogCaptureFixture) -> None:
    def service(url: str, set_path: str, redirect: str) -> str:
        statements = f'URL "{url}"', f'SetPath "{set_path}"', f'Redirect "{redirect}"'
        return "  Service\n" + "".join(f"    {line}\n" for line in statements) + "  End\n"

    text = (
        "ListenHTTP\n  Address 127.0.0.1\n  Port {L0}\n"
        + service("^/old/([^?]*)", "/new/$1", "http://example.org")
        + service("^/acc/(.*)", "/new/$1", "http://example.org%[path]")
        + service("^/bad/", "/new/$3", "http://example.org")
        + "End\n"
    )
    config, socks = config_with_ports(text)
    with caplog.at_level("WARNING", logger="standby.server"), ProxyThread(config, socks) as p:
        r = get(p.port, "/old/x?q=1")  # the edited target is appended
        assert (r.status, r.header(b"location")) == (302, b"http://example.org/new/x?q=1")
        r = get(p.port, "/acc/y")  # the accessor reads the edited path
        assert (r.status, r.header(b"location")) == (302, b"http://example.org/new/y")
        assert get(p.port, "/bad/z").status == 500
    assert 'path "/new/$3" refers to non-existing group $3' in caplog.text


def test_a_made_answer_whose_response_edit_cannot_be_expanded_answers_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The answers standby makes itself take the response edits as a backend's do (Error,
    # Success): an edit that cannot be expanded gives the same 500 and log line.
    for backend, wanted in (("Error 403", 403), ("Success", 200)):
        fine = (
            f'  Service\n    Rewrite response\n      SetHeader "X-B: ok"\n    End\n    {backend}\n'
        )
        broken = fine.replace('"X-B: ok"', '"X-B: $1(2)"')
        for service, status in ((fine, wanted), (broken, 500)):
            caplog.clear()
            text = "ListenHTTP\n  Address 127.0.0.1\n  Port {L0}\n" + service + "  End\nEnd\n"
            config, socks = config_with_ports(text)
            with (
                caplog.at_level("WARNING", logger="standby.server"),
                ProxyThread(config, socks) as p,
            ):
                answer = get(p.port, "/x")
            assert answer.status == status, (backend, service)
            if status == 500:
                assert 'Header "X-B: $1(2)" refers to non-existing group' in caplog.text
            else:
                assert answer.header(b"X-B") == b"ok", answer
