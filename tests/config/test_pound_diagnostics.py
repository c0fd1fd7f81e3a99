"""`standby --log-style pound -c` (what the `pound` wrapper runs) says what it refuses and
warns of where Pound 4.23 does and, for the mistakes both refuse, in Pound's words: scripts
and Pound's own test suite compare these lines. Each case's expected stderr was seen from
Pound 4.23; where it is installed (/work/pound-bin, not in CI), Pound is run on each case
too. standby's own style keeps its own wording (tests/config/test_errors.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

POUND = Path("/work/pound-bin/sbin/pound")
RUN_TIMEOUT = 60.0  # generous bound for one short-lived `-c` on a loaded machine

BACKEND = "Service\n\tBackend\n\t\tAddress 127.0.0.1\n\t\tPort 8080\n\tEnd\nEnd\n"
CASES = [
    pytest.param(
        'User "root"\n# a comment\nFooBar 10\n',
        1,
        "pound: pound.cfg:3.1-6: unrecognized keyword\n",
        id="unknown keyword",
    ),
    pytest.param(
        "Service\n\tFooBar 1\nEnd\n",
        1,
        "pound: pound.cfg:2.9-14: unrecognized keyword\n",
        id="columns count a tab to the next multiple of 8",
    ),
    pytest.param(
        "# a comment\nUser\n",
        1,
        "pound: pound.cfg:2.4-3: expected quoted string, but found end of line\n",
        id="missing argument",
    ),
    pytest.param(
        "Alive\n",
        1,
        "pound: pound.cfg:1.5-2: expected number, but found end of line\n",
        id="missing number",
    ),
    pytest.param(
        "User 10\n",
        1,
        "pound: pound.cfg:1.6-7: expected quoted string, but found number\n",
        id="bare number for a string",
    ),
    pytest.param(
        "Group www\n",
        1,
        "pound: pound.cfg:1.7-9: expected quoted string, but found identifier\n",
        id="bare name for a string",
    ),
    pytest.param(
        'User "root" 10\n',
        1,
        "pound: pound.cfg:1.13-14: unexpected number\n",
        id="extra argument",
    ),
    pytest.param(
        'User "foo\\Bar"\n',
        0,
        "pound: pound.cfg:1.11: unrecognized escape character\n",
        id="escape warning",
    ),
    pytest.param(
        "# booleans\nDaemon whatever\n",
        1,
        "pound: pound.cfg:2.8-15: not a boolean value\n"
        "pound: pound.cfg:2.8-15: valid booleans are: 1, yes, true, on for true value, "
        "and 0, no, false, off for false value\n",
        id="bad boolean",
    ),
    pytest.param(
        "Service\n\tBackend\n\t\tPort 80\n\tEnd\nEnd\n",
        1,
        "pound: pound.cfg:2.9-4.11: Backend missing Address declaration\n",
        id="backend without address",
    ),
    pytest.param(
        'Service\n\tBackend\n\t\tAddress "/tmp/x.sock"\n\t\tPort 80\n\tEnd\nEnd\n',
        1,
        "pound: pound.cfg:2.9-5.11: Port is not applicable to this address family\n",
        id="port with a UNIX socket",
    ),
    pytest.param(
        'Service\n\tBackend\n\t\tAddress "/tmp/x.sock"\n\tEnd\n',
        1,
        "pound: pound.cfg:1.7: unexpected end of file\n",
        id="missing End",
    ),
    pytest.param(
        'ListenHTTP\n\tCheckURL "^/a"\n\tCheckURL "^/b"\nEnd\n',
        1,
        "pound: pound.cfg:3.9-16: CheckURL multiple pattern\n",
        id="CheckURL twice",
    ),
    pytest.param(
        "RegexType nosuchre\n",
        1,
        "pound: pound.cfg:1.11-18: unrecognized regex type\n",
        id="bad RegexType",
    ),
    pytest.param(
        'Service "x"\n\tError 404\n\tError 501\nEnd\n',
        1,
        "pound: pound.cfg:1.9-4.3: multiple backends of this type are not allowed\n",
        id="two special backends",
    ),
    pytest.param(
        'Service\n\tRedirect "http://a.example"\n\tError 404\nEnd\n',
        1,
        "pound: pound.cfg:1.7-4.3: service mixes backends of different types\n",
        id="mixed special backends",
    ),
    pytest.param(
        'ListenHTTP\n\tService "x"\n\t\tURL "^/empty"\n\tEnd\n\tService\n\t\tError 404\n'
        "\tEnd\nEnd\n",
        0,
        "pound: pound.cfg:2.17-4.11: warning: no backends defined\n",
        id="service without backends",
    ),
    pytest.param(
        'Service\n\tBackend\n\t\tAddress 127.0.0.1\n\tEnd\n\tRedirect "http://x.example"\nEnd\n',
        0,
        "pound: pound.cfg:1.7-6.3: warning: service mixes regular and redirect backends\n"
        'pound: pound.cfg:1.7-6.3: see section "DEPRECATED FEATURES" in pound(8)\n',
        id="redirect among backends",
    ),
    pytest.param(
        'IgnoreCase 1\nListenHTTP\n\tErr503 "page.html"\n\tAddHeader "X-A: 1"\n'
        '\tHeadRemove "X-B"\n\tService\n\t\tHeadRequire "Host: a"\n\t\tHeadDeny "Host: b"\n'
        "\t\tBackend\n\t\t\tAddress 127.0.0.1\n\t\tEnd\n\tEnd\nEnd\n",
        0,
        "pound: pound.cfg:1.1-10: warning: deprecated statement, use the -icase matching "
        "directive flag to request case-insensitive comparison\n"
        'pound: pound.cfg:3.9-14: warning: deprecated statement, use "ErrorFile 503" instead\n'
        'pound: pound.cfg:4.9-17: warning: deprecated statement, use "SetHeader" instead\n'
        'pound: pound.cfg:5.9-18: warning: deprecated statement, use "DeleteHeader" instead\n'
        'pound: pound.cfg:7.17-27: warning: deprecated statement, use "Header" instead\n'
        'pound: pound.cfg:8.17-24: warning: deprecated statement, use "Not Header" instead\n',
        id="deprecated spellings",
    ),
]


def check(program: list[str], text: str, cwd: Path) -> tuple[int, str]:
    (cwd / "pound.cfg").write_text(text)
    (cwd / "page.html").write_text("<p>down</p>\n")
    done = subprocess.run(
        [*program, "-c", "-Wno-dns", "-Wno-include-dir", "-f", "pound.cfg"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
        cwd=cwd,
    )
    return done.returncode, done.stderr


STANDBY = [sys.executable, "-m", "standby", "--log-style", "pound"]


@pytest.mark.parametrize(("text", "status", "stderr"), CASES)
def test_standby_says_it_as_pound_does(text: str, status: int, stderr: str, tmp_path: Path) -> None:
    assert check(STANDBY, text, tmp_path) == (status, stderr)


@pytest.mark.skipif(not POUND.exists(), reason="Pound 4.23 is not installed here")
@pytest.mark.parametrize(("text", "status", "stderr"), CASES)
def test_pound_says_the_same(text: str, status: int, stderr: str, tmp_path: Path) -> None:
    assert check([str(POUND)], text, tmp_path) == (status, stderr)


def test_standby_s_own_style_keeps_its_words(tmp_path: Path) -> None:
    text = 'User "root"\n# a comment\nFooBar 10\n'
    status, stderr = check([sys.executable, "-m", "standby"], text, tmp_path)
    assert (status, stderr) == (1, 'pound.cfg:3.1: unknown keyword "FooBar"\n')


def test_a_good_file_is_silent(tmp_path: Path) -> None:
    assert check(STANDBY, BACKEND, tmp_path) == (0, "")
