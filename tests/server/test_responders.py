"""The pure parts of server/responders.py and config/backends.py: which file a SendFile
request names (never one outside its directory), error page files in Pound 4's format, and
the answers' heads."""

from __future__ import annotations

import os
import posixpath

from hypothesis import given
from hypothesis import strategies as st

from standby.config.backends import split_page, with_gateway_pages
from standby.server.responders import file_path, inside, page_response, success_response

ROOT = "/srv/static"

# Request targets built from the pieces an attacker would try.
_SEGMENT = st.sampled_from(
    [b"..", b".", b"", b"a", b"b.txt", b"%2e%2e", b"%2E.", b"%2f", b"..%2f", b"%00", b"\\..",
     b"%5c..", b"~", b"%252e%252e", b"\xff", b"%ff"]
)  # fmt: skip
_TARGET = st.lists(_SEGMENT, max_size=8).map(lambda parts: b"/" + b"/".join(parts))


@given(st.one_of(_TARGET, st.binary(max_size=64).map(lambda b: b"/" + b)))
def test_no_request_path_names_a_file_outside_the_directory(target: bytes) -> None:
    path = file_path(ROOT, target)
    if path is None:
        return
    assert "\x00" not in path
    assert inside(ROOT, posixpath.normpath(path))
    assert path == posixpath.normpath(path)  # nothing left for the kernel to resolve but links


def test_file_path_examples() -> None:
    assert file_path(ROOT, b"/a.txt") == f"{ROOT}/a.txt"
    assert file_path(ROOT, b"/sub//b.html?x=1") == f"{ROOT}/sub/b.html"
    assert file_path(ROOT, b"/./sub/%62") == f"{ROOT}/sub/b"
    for bad in (b"/../etc/passwd", b"/%2e%2e/x", b"/a/..", b"/", b"x", b"/a%00b", b"/a\\b"):
        assert file_path(ROOT, bad) is None, bad


def test_inside_is_a_path_prefix_not_a_string_prefix() -> None:
    assert inside("/srv/static", "/srv/static/a")
    assert not inside("/srv/static", "/srv/static-other/a")
    assert not inside("/srv/static", "/srv/static")
    assert inside("/", "/a")


def test_pound_4_error_page_files() -> None:
    assert split_page(b"<h1>x</h1>") == ((), b"<h1>x</h1>")
    assert split_page(b"\nX: 1\n\nbody") == ((), b"\nX: 1\n\nbody")
    assert split_page(b"X-A: 1\r\nContent-Type: text/plain\r\n\r\nbody\r\n") == (
        ((b"X-A", b"1"), (b"Content-Type", b"text/plain")),
        b"body\r\n",
    )
    # Plain text that is not a header block is the page itself.
    text = b"Sorry, we are down.\n\nBack at noon.\n"
    assert split_page(text) == ((), text)
    assert split_page(b"Sorry") == ((), b"Sorry")


def test_the_503_page_stands_for_502_and_504() -> None:
    assert with_gateway_pages({503: b"m"}) == {502: b"m", 503: b"m", 504: b"m"}
    assert with_gateway_pages({503: b"m", 502: b"b"}) == {502: b"b", 503: b"m", 504: b"m"}
    assert with_gateway_pages({404: b"n"}) == {404: b"n"}


def test_page_response_takes_the_file_s_headers() -> None:
    headers = ((b"Content-Type", b"text/plain"), (b"X-A", b"1"), (b"Content-Length", b"99"))
    out = page_response(503, b"down", headers, close=True, extra=((b"Retry-After", b"30"),))
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 503 Service Unavailable"
    assert b"Content-Type: text/plain" in lines and b"Content-Type: text/html" not in lines
    assert b"Content-Length: 4" in lines and b"Content-Length: 99" not in lines
    assert b"X-A: 1" in lines and b"Retry-After: 30" in lines and b"Connection: close" in lines
    assert body == b"down"
    assert b"Expires: now" in lines and b"Cache-Control: no-cache,no-store" in lines
    own = page_response(503, b"x", ((b"Cache-Control", b"max-age=5"),), close=False)
    assert b"Cache-Control: max-age=5\r\n" in own and b"no-store" not in own
    assert b"Pragma: no-cache" in page_response(503, b"x", (), close=False)
    plain = page_response(404, None, (), close=False)
    assert b"Expires: now" in plain  # the built-in page too, as in Pound 4
    assert plain.startswith(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n")
    assert b"Connection: close" not in plain


def test_success_response() -> None:
    assert success_response(False) == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert success_response(True).endswith(b"Connection: close\r\n\r\n")


def test_realpath_check_refuses_a_link_out(tmp_path: os.PathLike[str]) -> None:
    from standby.server.responders import _open

    root = os.path.join(tmp_path, "root")
    os.mkdir(root)
    with open(os.path.join(tmp_path, "secret"), "wb") as f:
        f.write(b"s")
    with open(os.path.join(root, "ok"), "wb") as f:
        f.write(b"ok")
    os.symlink(os.path.join(tmp_path, "secret"), os.path.join(root, "link"))
    os.symlink(tmp_path, os.path.join(root, "up"))
    assert _open(root, b"/link") is None
    assert _open(root, b"/up/secret") is None
    opened = _open(root, b"/ok")
    assert opened is not None
    fd, size = opened
    os.close(fd)
    assert size == 2


@given(st.binary(max_size=300))
def test_split_page_keeps_the_page_and_only_well_formed_headers(data: bytes) -> None:
    headers, body = split_page(data)
    assert data.endswith(body)
    if not headers:
        assert body == data
        return
    assert data[:1] not in (b"<", b"\n", b"\r")
    for name, value in headers:
        assert name and all(0x21 <= c <= 0x7E and c != ord(":") for c in name)
        assert b"\n" not in value and b"\r" not in value and b"\x00" not in value


@given(
    st.lists(
        st.tuples(
            st.from_regex(rb"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
            st.from_regex(rb"[ -~]{0,30}", fullmatch=True),
        ),
        min_size=1,
        max_size=5,
    ),
    st.binary(max_size=100),
    st.sampled_from([b"\n", b"\r\n"]),
)
def test_split_page_reads_what_a_header_block_says(
    headers: list[tuple[bytes, bytes]], body: bytes, eol: bytes
) -> None:
    data = b"".join(b"%s: %s%s" % (n, v, eol) for n, v in headers) + eol + body
    assert split_page(data) == (tuple((n, v.strip(b" \t")) for n, v in headers), body)


def test_the_phase_constant_is_the_exchange_s() -> None:
    from standby.server import exchange, responders

    assert responders.R_BODY == exchange.R_BODY
