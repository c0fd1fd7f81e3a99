"""Access lines through the installed program, side by side with Pound 4.23's.

The expected lines are what Pound 4.23 wrote for the same configuration and requests (run
beside standby, its listener and backend ports replaced here by ``{port}`` and ``{bport}``;
timestamps and durations are left out, as they differ between any two runs). The program
runs with its default worker count: every worker writes the same lines.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.process.harness import running_standby
from tests.support.harness import REPO, free_port, wait_until
from tests.support.peers import RawBackend

pytestmark = pytest.mark.timeout(180)

DEADLINE = 60.0  # generous: process start-up on two noisy shared cores

CONFIG = """\
LogLevel {level}
ListenHTTP
    Address 127.0.0.1
    Port {port}
    Service
        URL "^/redir"
        Redirect "http://other.example/new"
    End
    Service "named"
        URL "^/named"
        Backend
            Address 127.0.0.1
            Port {bport}
        End
    End
    Service
        Backend
            Address 127.0.0.1
            Port {bport}
        End
    End
End
"""

REQUESTS = {
    "ok": b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nReferer: r\r\nUser-Agent: ua\r\n",
    "no-headers": b"GET / HTTP/1.0\r\n",
    "host-port": b"GET / HTTP/1.1\r\nHost: x.example:8080\r\n",
    "host-v6": b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n",
    "user": b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcjpwdw==\r\n",
    "chunked": b"GET /chunked HTTP/1.1\r\nHost: x\r\n",
    "chunked-1.0": b"GET /chunked HTTP/1.0\r\nHost: x\r\n",
    "status-line": b"GET /fine HTTP/1.1\r\nHost: x\r\n",
    "no-content": b"GET /empty HTTP/1.1\r\nHost: x\r\n",
    "not-found": b"GET /notfound HTTP/1.1\r\nHost: x\r\n",
    "until-close": b"GET /close HTTP/1.1\r\nHost: x\r\n",
    "head": b"HEAD / HTTP/1.1\r\nHost: x\r\n",
    "redirect": b"GET /redir/x HTTP/1.1\r\nHost: x\r\n",
    "named": b"GET /named HTTP/1.1\r\nHost: x\r\n",
}

# What the backend answers, by the start of the request path.
ANSWERS = (
    (
        b"/chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ),
    (b"/fine", b"HTTP/1.0 200 Fine Thanks\r\nContent-Length: 2\r\n\r\nok"),
    (b"/empty", b"HTTP/1.1 204 No Content\r\n\r\n"),
    (b"/notfound", b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"),
    (b"/quiet/notfound", b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"),
    (b"/close", b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close"),
    (b"/", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
)


def answer(conn: socket.socket, received: bytes) -> bool:
    """The RawBackend script: one answer per connection, then close."""
    if b"\r\n\r\n" not in received:
        return True
    target = received.split(b" ", 2)[1]
    for prefix, response in ANSWERS:
        if target.startswith(prefix):
            conn.sendall(response)
            break
    return False


# Pound 4.23's lines, by LogLevel, for REQUESTS in order.
POUND_LINES: dict[int, list[tuple[str, str]]] = {
    1: [
        ("ok", "127.0.0.1 GET /a?b=c HTTP/1.1 - HTTP/1.1 200 OK"),
        ("no-headers", "127.0.0.1 GET / HTTP/1.0 - HTTP/1.1 200 OK"),
        ("host-port", "127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK"),
        ("host-v6", "127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK"),
        ("user", "127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK"),
        ("chunked", "127.0.0.1 GET /chunked HTTP/1.1 - HTTP/1.1 200 OK"),
        ("chunked-1.0", "127.0.0.1 GET /chunked HTTP/1.0 - HTTP/1.1 200 OK"),
        ("status-line", "127.0.0.1 GET /fine HTTP/1.1 - HTTP/1.0 200 Fine Thanks"),
        ("no-content", "127.0.0.1 GET /empty HTTP/1.1 - HTTP/1.1 204 No Content"),
        ("not-found", "127.0.0.1 GET /notfound HTTP/1.1 - HTTP/1.1 404 Not Found"),
        ("until-close", "127.0.0.1 GET /close HTTP/1.1 - HTTP/1.1 200 OK"),
        ("head", "127.0.0.1 HEAD / HTTP/1.1 - HTTP/1.1 200 OK"),
        ("redirect", "127.0.0.1 GET /redir/x HTTP/1.1 - 302 -"),
        ("named", "127.0.0.1 GET /named HTTP/1.1 - HTTP/1.1 200 OK"),
    ],
    2: [
        ("ok", "127.0.0.1 GET /a?b=c HTTP/1.1 - HTTP/1.1 200 OK (x/- -> 127.0.0.1:{bport}) N sec"),
        (
            "no-headers",
            "127.0.0.1 GET / HTTP/1.0 - HTTP/1.1 200 OK (/- -> 127.0.0.1:{bport}) N sec",
        ),
        (
            "host-port",
            (
                "127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK (x.example:8080/- -> "
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "host-v6",
            "127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK ([::1]:8080/- -> 127.0.0.1:{bport}) N sec",
        ),
        ("user", "127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK (x/- -> 127.0.0.1:{bport}) N sec"),
        (
            "chunked",
            "127.0.0.1 GET /chunked HTTP/1.1 - HTTP/1.1 200 OK (x/- -> 127.0.0.1:{bport}) N sec",
        ),
        (
            "chunked-1.0",
            "127.0.0.1 GET /chunked HTTP/1.0 - HTTP/1.1 200 OK (x/- -> 127.0.0.1:{bport}) N sec",
        ),
        (
            "status-line",
            (
                "127.0.0.1 GET /fine HTTP/1.1 - HTTP/1.0 200 Fine Thanks (x/- -> "
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "no-content",
            (
                "127.0.0.1 GET /empty HTTP/1.1 - HTTP/1.1 204 No Content (x/- -> "
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "not-found",
            (
                "127.0.0.1 GET /notfound HTTP/1.1 - HTTP/1.1 404 Not Found (x/- -> "
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "until-close",
            "127.0.0.1 GET /close HTTP/1.1 - HTTP/1.1 200 OK (x/- -> 127.0.0.1:{bport}) N sec",
        ),
        ("head", "127.0.0.1 HEAD / HTTP/1.1 - HTTP/1.1 200 OK (x/- -> 127.0.0.1:{bport}) N sec"),
        (
            "redirect",
            (
                "127.0.0.1 GET /redir/x HTTP/1.1 - 302 - (x/- -> "
                "redirect:http://other.example/new) N sec"
            ),
        ),
        (
            "named",
            "127.0.0.1 GET /named HTTP/1.1 - HTTP/1.1 200 OK (x/named -> 127.0.0.1:{bport}) N sec",
        ),
    ],
    3: [
        ("ok", 'x:{port} 127.0.0.1 - - [TIME] "GET /a?b=c HTTP/1.1" 200 2 "r" "ua"'),
        ("no-headers", '127.0.0.1:{port} 127.0.0.1 - - [TIME] "GET / HTTP/1.0" 200 2 "" ""'),
        ("host-port", 'x.example:{port} 127.0.0.1 - - [TIME] "GET / HTTP/1.1" 200 2 "" ""'),
        ("host-v6", '[::1]:{port} 127.0.0.1 - - [TIME] "GET / HTTP/1.1" 200 2 "" ""'),
        ("user", 'x:{port} 127.0.0.1 - user [TIME] "GET / HTTP/1.1" 200 2 "" ""'),
        ("chunked", 'x:{port} 127.0.0.1 - - [TIME] "GET /chunked HTTP/1.1" 200 11 "" ""'),
        ("chunked-1.0", 'x:{port} 127.0.0.1 - - [TIME] "GET /chunked HTTP/1.0" 200 11 "" ""'),
        ("status-line", 'x:{port} 127.0.0.1 - - [TIME] "GET /fine HTTP/1.1" 200 2 "" ""'),
        ("no-content", 'x:{port} 127.0.0.1 - - [TIME] "GET /empty HTTP/1.1" 204 - "" ""'),
        ("not-found", 'x:{port} 127.0.0.1 - - [TIME] "GET /notfound HTTP/1.1" 404 3 "" ""'),
        ("until-close", 'x:{port} 127.0.0.1 - - [TIME] "GET /close HTTP/1.1" 200 11 "" ""'),
        ("head", 'x:{port} 127.0.0.1 - - [TIME] "HEAD / HTTP/1.1" 200 - "" ""'),
        ("redirect", 'x:{port} 127.0.0.1 - - [TIME] "GET /redir/x HTTP/1.1" 302 - "" ""'),
        ("named", 'x:{port} 127.0.0.1 - - [TIME] "GET /named HTTP/1.1" 200 2 "" ""'),
    ],
    4: [
        ("ok", '127.0.0.1 - - [TIME] "GET /a?b=c HTTP/1.1" 200 2 "r" "ua"'),
        ("no-headers", '127.0.0.1 - - [TIME] "GET / HTTP/1.0" 200 2 "" ""'),
        ("host-port", '127.0.0.1 - - [TIME] "GET / HTTP/1.1" 200 2 "" ""'),
        ("host-v6", '127.0.0.1 - - [TIME] "GET / HTTP/1.1" 200 2 "" ""'),
        ("user", '127.0.0.1 - user [TIME] "GET / HTTP/1.1" 200 2 "" ""'),
        ("chunked", '127.0.0.1 - - [TIME] "GET /chunked HTTP/1.1" 200 11 "" ""'),
        ("chunked-1.0", '127.0.0.1 - - [TIME] "GET /chunked HTTP/1.0" 200 11 "" ""'),
        ("status-line", '127.0.0.1 - - [TIME] "GET /fine HTTP/1.1" 200 2 "" ""'),
        ("no-content", '127.0.0.1 - - [TIME] "GET /empty HTTP/1.1" 204 - "" ""'),
        ("not-found", '127.0.0.1 - - [TIME] "GET /notfound HTTP/1.1" 404 3 "" ""'),
        ("until-close", '127.0.0.1 - - [TIME] "GET /close HTTP/1.1" 200 11 "" ""'),
        ("head", '127.0.0.1 - - [TIME] "HEAD / HTTP/1.1" 200 - "" ""'),
        ("redirect", '127.0.0.1 - - [TIME] "GET /redir/x HTTP/1.1" 302 - "" ""'),
        ("named", '127.0.0.1 - - [TIME] "GET /named HTTP/1.1" 200 2 "" ""'),
    ],
    5: [
        (
            "ok",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /a?b=c HTTP/1.1" 200 2 "r" "ua" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "no-headers",
            (
                '127.0.0.1:{port} 127.0.0.1 - - [TIME] "GET / HTTP/1.0" 200 2 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "host-port",
            (
                'x.example:{port} 127.0.0.1 - - [TIME] "GET / HTTP/1.1" 200 2 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "host-v6",
            (
                '[::1]:{port} 127.0.0.1 - - [TIME] "GET / HTTP/1.1" 200 2 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "user",
            (
                'x:{port} 127.0.0.1 - user [TIME] "GET / HTTP/1.1" 200 2 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "chunked",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /chunked HTTP/1.1" 200 11 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "chunked-1.0",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /chunked HTTP/1.0" 200 11 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "status-line",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /fine HTTP/1.1" 200 2 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "no-content",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /empty HTTP/1.1" 204 - "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "not-found",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /notfound HTTP/1.1" 404 3 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "until-close",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /close HTTP/1.1" 200 11 "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "head",
            (
                'x:{port} 127.0.0.1 - - [TIME] "HEAD / HTTP/1.1" 200 - "" "" (- -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
        (
            "redirect",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /redir/x HTTP/1.1" 302 - "" "" (- -> '
                "redirect:http://other.example/new) N sec"
            ),
        ),
        (
            "named",
            (
                'x:{port} 127.0.0.1 - - [TIME] "GET /named HTTP/1.1" 200 2 "" "" (named -> '
                "127.0.0.1:{bport}) N sec"
            ),
        ),
    ],
}


STAMP = re.compile(r"^\S+ \S+ standby\[\d+\]: ")
CLF_TIME = re.compile(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]")
SECONDS = re.compile(r"\d+\.\d{3} sec$")


def access_lines(stderr: str, prefix: str) -> list[str]:
    """The access lines (those starting with ``prefix``), prefix-less, time-less."""
    found = []
    for line in stderr.splitlines():
        line = STAMP.sub("", line)
        if line.startswith(prefix):
            found.append(SECONDS.sub("N sec", CLF_TIME.sub("[TIME]", line)))
    return found


def exchange(port: int, head: bytes) -> bytes:
    """One request on its own connection (``Connection: close``), its whole answer."""
    close = b"" if head.split(b"\r\n")[0].endswith(b"HTTP/1.0") else b"Connection: close\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(head + close + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def run_cases(
    tmp_path: Path, text: str, port: int, send: Callable[[], None], prefix: str, count: int
) -> list[str]:
    config = tmp_path / "pound.cfg"
    config.write_text(text)
    with running_standby(config, deadline=DEADLINE) as running:
        send()
        wait_until(
            lambda: len(access_lines(running.stderr(), prefix)) >= count,
            DEADLINE,
            f"{count} access lines",
        )
        lines = access_lines(running.stderr(), prefix)
    return lines


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_every_log_level_writes_pounds_lines(tmp_path: Path, level: int) -> None:
    port = free_port()
    with RawBackend(answer) as backend:
        text = CONFIG.format(level=level, port=port, bport=backend.port)

        def send() -> None:
            for head in REQUESTS.values():
                assert exchange(port, head).startswith(b"HTTP/1.")

        expected = [line.format(port=port, bport=backend.port) for _, line in POUND_LINES[level]]
        # Levels 3 and 5 start with the virtual host, the others with the peer.
        prefixes = {line.split(" ", 1)[0] for line in expected}
        lines = run_cases(tmp_path, text, port, send, "", len(expected))
        lines = [line for line in lines if line.split(" ", 1)[0] in prefixes]
    # Workers write their lines each in their own batches: compared as a multiset.
    assert Counter(lines) == Counter(expected)


FORMAT_CONFIG = """\
Anonymise
LogFormat "fields" "{fields}"
LogLevel "fields"
ListenHTTP "front"
    Address 127.0.0.1
    Port {port}
    Service "quiet"
        URL "^/quiet"
        LogSuppress success
        Backend
            Address 127.0.0.1
            Port {bport}
        End
    End
    Service
        Backend
            Address 127.0.0.1
            Port {bport}
        End
    End
End
ListenHTTP
    Address 127.0.0.1
    Port {port2}
    LogLevel "regular"
    Service
        Backend
            Address 127.0.0.1
            Port {bport}
        End
    End
End
"""

FIELDS = (
    '%a %h %A:%p %H %m %U [%q] \\"%r\\" %s [%>s] %B %b %u %v [%{Host}i] [%{X-None}i] '
    "%{X-None}I %l %{listener}N %{service}N %{backend}N %%"
)

# Pound 4.23's lines for FORMAT_CONFIG (its ports replaced): the quiet service's 200 is not
# logged, its 404 is; the second listener writes the regular format, anonymised too.
FORMAT_LINES = [
    '127.0.0.0 127.0.0.1 127.0.0.1:{port} http GET /a/b [?c=d] "GET /a/b?c=d HTTP/1.1" 200'
    " [HTTP/1.1 200 OK] 2 2 user www.example.com [www.example.com:99] [] - - front -"
    " 127.0.0.1:{bport} %",
    '127.0.0.0 127.0.0.1 127.0.0.1:{port} http GET /quiet/notfound [] "GET /quiet/notfound'
    ' HTTP/1.1" 404 [HTTP/1.1 404 Not Found] 3 3 - x [x] [] - - front quiet 127.0.0.1:{bport} %',
    '127.0.0.0 127.0.0.1 127.0.0.1:{port} http GET /chunked [] "GET /chunked HTTP/1.0" 200'
    " [HTTP/1.1 200 OK] 11 11 - 127.0.0.1 [] [] - - front - 127.0.0.1:{bport} %",
    "127.0.0.0 GET /x HTTP/1.1 - HTTP/1.1 200 OK",
]


def test_a_log_format_per_listener_levels_log_suppress_and_anonymise(tmp_path: Path) -> None:
    port, port2 = free_port(), free_port()
    with RawBackend(answer) as backend:
        text = FORMAT_CONFIG.format(fields=FIELDS, port=port, port2=port2, bport=backend.port)

        def send() -> None:
            auth = b"Authorization: Basic dXNlcjpwdw==\r\n"
            exchange(port, b"GET /a/b?c=d HTTP/1.1\r\nHost: www.example.com:99\r\n" + auth)
            exchange(port, b"GET /quiet HTTP/1.1\r\nHost: x\r\n")
            exchange(port, b"GET /quiet/notfound HTTP/1.1\r\nHost: x\r\n")
            exchange(port, b"GET /chunked HTTP/1.0\r\n")
            exchange(port2, b"GET /x HTTP/1.1\r\nHost: y\r\n")

        lines = run_cases(tmp_path, text, port, send, "127.0.0.0 ", len(FORMAT_LINES))
    expected = [line.format(port=port, bport=backend.port) for line in FORMAT_LINES]
    assert Counter(lines) == Counter(expected)


@pytest.mark.parametrize(
    ("top", "listener", "message"),
    [
        (
            'LogFormat "f" "%a %Z"\nLogLevel "f"\n',
            "",
            ':1.19: unknown format char in LogFormat "f"',
        ),
        ("", '    LogLevel "nosuch"\n', ':4.14: undefined format: "nosuch" (no LogFormat before)'),
    ],
)
def test_bad_formats_are_refused_at_dash_c(
    tmp_path: Path, top: str, listener: str, message: str
) -> None:
    config = tmp_path / "bad.cfg"
    body = CONFIG.format(level=1, port=free_port(), bport=free_port())
    config.write_text(
        top
        + body.replace("LogLevel 1\n", "").replace("    Service\n", listener + "    Service\n", 1)
    )
    done = subprocess.run(
        [sys.executable, "-m", "standby", "-c", "-f", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode != 0
    assert f"{config}{message}" in done.stderr, done.stderr


def test_a_reload_with_a_bad_format_keeps_the_old_one_serving(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    with RawBackend(answer) as backend:
        good = CONFIG.format(level=1, port=port, bport=backend.port)
        config.write_text('LogFormat "short" "short %m %U %s"\n' + good.replace("1", '"short"', 1))
        with running_standby(config, deadline=DEADLINE) as running:
            exchange(port, b"GET /before HTTP/1.1\r\nHost: x\r\n")
            wait_until(lambda: "short GET /before 200" in running.stderr(), DEADLINE, "a line")
            config.write_text('LogFormat "short" "%{nosuch}N"\n' + good)
            running.signal(signal.SIGHUP)
            wait_until(lambda: "reload rejected" in running.stderr(), DEADLINE, "the rejection")
            assert f"{config}:1.21: unrecognized Pound object name" in running.stderr()
            assert exchange(port, b"GET /after HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 200")
            wait_until(
                lambda: "short GET /after 200" in running.stderr(), DEADLINE, "the old format"
            )


NO_BACKEND_CONFIG = """\
LogLevel 5
ListenHTTP
    Address 127.0.0.1
    Port {port}
    Service "dead"
        URL "^/dead"
        Backend
            Address 127.0.0.1
            Port {dead}
        End
    End
End
"""

# Pound 4.23's lines for NO_BACKEND_CONFIG: a diagnostic and an access line with no backend
# (its ports replaced; the byte count is of the error page each sends, not compared here).
NO_BACKEND_LINES = [
    'e503: 127.0.0.1: "GET /dead HTTP/1.1": no backend found',
    'x:{port} 127.0.0.1 - - [TIME] "GET /dead HTTP/1.1" 503 {size} "" "" (dead -> -) N sec',
    'e503: 127.0.0.1: "GET /nomatch HTTP/1.1": no suitable service found',
    'x:{port} 127.0.0.1 - - [TIME] "GET /nomatch HTTP/1.1" 503 {size} "" "" (- -> -) N sec',
]


def test_no_backend_and_no_service_are_logged_as_pound_does(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    config.write_text(NO_BACKEND_CONFIG.format(port=port, dead=free_port()))
    sizes = set()
    with running_standby(config, deadline=DEADLINE) as running:
        for path in (b"/dead", b"/nomatch"):
            answer = exchange(port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n")
            assert answer.startswith(b"HTTP/1.1 503 ")
            sizes.add(len(answer.partition(b"\r\n\r\n")[2]))
        [size] = sizes
        expected = Counter(line.format(port=port, size=size) for line in NO_BACKEND_LINES)

        def found() -> Counter[str]:
            return Counter(access_lines(running.stderr(), "")) & expected

        # (The diagnostics go out at once, the access lines in a batch: any order.)
        wait_until(lambda: found() == expected, DEADLINE, "the diagnostics and access lines")
