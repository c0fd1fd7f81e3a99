"""Service conditions of issue 15 through real sockets: each condition kind and match flag
selects its service (or not) for real requests, back-references fill Redirect's Location,
BasicAuth files are re-read when they change, and a reload with a bad file keeps the old
configuration serving (the installed program, SIGHUP)."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.process.harness import running_standby
from tests.support.backend import Backend
from tests.support.harness import ProxyThread, config_with_ports, free_port, get, wait_until

from standby.htpasswd import apr1

pytestmark = pytest.mark.timeout(180)
DEADLINE = 60.0


def two_services(conditions: str, top: str = "", listener: str = "") -> str:
    """A listener whose first service ("hit") has ``conditions`` and whose second
    ("miss") takes everything else; {HIT} and {MISS} are the backends' ports."""
    return f"""
{top}
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
{listener}
  Service "first"
{conditions}
    BackEnd
      Address 127.0.0.1
      Port {{HIT}}
    End
  End
  Service "rest"
    BackEnd
      Address 127.0.0.1
      Port {{MISS}}
    End
  End
End
"""


@contextmanager
def proxy_for(text: str) -> Iterator[int]:
    """A proxy on ``text`` (from two_services) in front of backends "hit" and "miss"."""
    with Backend("hit") as hit, Backend("miss") as miss:
        text = text.replace("{HIT}", str(hit.port)).replace("{MISS}", str(miss.port))
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as proxy:
            yield proxy.port


def answer(port: int, target: str = "/", host: str = "www.example.com", **kw: object) -> bytes:
    response = get(port, target, host, **kw)  # type: ignore[arg-type]
    assert response.status == 200, response
    return response.body


def test_path_exact_and_url_beg_flags() -> None:
    # The examples: both were refused with "too many arguments".
    with proxy_for(two_services('    Path -exact "/"')) as port:
        assert answer(port, "/") == b"hit"
        assert answer(port, "/?q=1") == b"hit"  # Path is the part before "?"
        assert answer(port, "/x") == b"miss"
    with proxy_for(two_services('    URL -beg "/x"')) as port:
        assert answer(port, "/xyz") == b"hit"
        assert answer(port, "/a/x") == b"miss"


def test_end_contain_icase_and_case_flags() -> None:
    with proxy_for(two_services('    Path -icase -end ".PNG"')) as port:
        assert answer(port, "/a/b.png") == b"hit"
        assert answer(port, "/a/b.png.txt") == b"miss"
    with proxy_for(two_services('    URL -contain "(v1)"')) as port:
        assert answer(port, "/api(v1)/x") == b"hit"  # a string, not a regex
        assert answer(port, "/api/v1/x") == b"miss"
    with proxy_for(two_services('    Host -case -exact "WWW.example.com"')) as port:
        assert answer(port, host="WWW.example.com") == b"hit"
        assert answer(port, host="www.example.com") == b"miss"


def test_host_default_is_exact_and_caseless_and_re_makes_it_a_regex() -> None:
    with proxy_for(two_services('    Host "Example.ORG"')) as port:
        assert answer(port, host="example.org") == b"hit"
        assert answer(port, host="www.example.org") == b"miss"
    with proxy_for(two_services('    Host -re ".*\\\\.example\\\\.org"')) as port:
        assert answer(port, host="www.EXAMPLE.org") == b"hit"
        assert answer(port, host="example.org") == b"miss"


def test_query_and_query_param() -> None:
    with proxy_for(two_services('    Query "(^|&)debug=1"')) as port:
        assert answer(port, "/p?x=2&debug=1") == b"hit"
        assert answer(port, "/debug=1") == b"miss"  # not in the query
    text = two_services('    QueryParam "type" "^(int|bool)$"')
    with proxy_for(text) as port:
        assert answer(port, "/?a=1&type=int") == b"hit"
        assert answer(port, "/?type=str") == b"miss"
        assert answer(port, "/?types=int") == b"miss"
    with proxy_for(two_services('    QueryParam "q" -decode -exact "a b"')) as port:
        assert answer(port, "/?q=a%20b") == b"hit"
        assert answer(port, "/?q=a+b") == b"miss"


def test_method_in_a_service() -> None:
    # The issue: `Method` inside a Service was refused; Pound's default is a
    # case-sensitive regex.
    xhttp = "  xHTTP 2"  # DELETE and OPTIONS are allowed
    with proxy_for(two_services('    Method "^(PUT|DELETE)$"', listener=xhttp)) as port:
        assert get(port, "/", method="DELETE").body == b"hit"
        assert answer(port, "/") == b"miss"
    with proxy_for(two_services('    Not Method -exact "GET"', listener=xhttp)) as port:
        assert answer(port, "/") == b"miss"
        assert get(port, "/", method="OPTIONS").body == b"hit"


def test_header_flags_and_legacy_head_require_and_deny() -> None:
    with proxy_for(two_services('    Header -beg "x-tenant: blue"')) as port:
        assert answer(port, headers="X-Tenant: blue-7\r\n") == b"hit"
        assert answer(port, headers="X-Tenant: red\r\n") == b"miss"
    # Pound 4's split form: the field name, then options and the value's pattern.
    with proxy_for(two_services('    Header "X-Tenant" -re "^b"')) as port:
        assert answer(port, headers="X-Tenant: blue\r\n") == b"hit"
        assert answer(port, headers="X-Other: blue\r\n") == b"miss"
    text = two_services('    HeadRequire -contain "debug"\n    HeadDeny "^User-Agent:.*bot"')
    with proxy_for(text) as port:
        assert answer(port, headers="X-Debug: 1\r\n") == b"hit"
        assert answer(port, headers="X-Debug: 1\r\nUser-Agent: a bot\r\n") == b"miss"


def test_string_match_expands_accessors_and_back_references() -> None:
    text = two_services('    StringMatch "%[header X-Tenant]" -exact "blue"')
    with proxy_for(text) as port:
        assert answer(port, headers="X-Tenant: blue\r\n") == b"hit"
        assert answer(port, headers="X-Tenant: bluer\r\n") == b"miss"
    # $1 is the group of the condition before: the host's first label must be the path's.
    text = two_services('    Path "^/([a-z]+)/"\n    StringMatch "$1=%[host]" "^([a-z]+)=\\1\\."')
    with proxy_for(text) as port:
        assert answer(port, "/shop/x", host="shop.example.com") == b"hit"
        assert answer(port, "/blog/x", host="shop.example.com") == b"miss"


def test_constants_in_string_match_and_redirect() -> None:
    # Pound 4's `Constant`: %[const NAME] is its value, `url` and `base64` encode it.
    top = 'Constant "tenant" "blue sky"\nConstant "raw" "$1%[url]"'
    # Only the string is expanded: a hit when the header says what the constant does.
    text = two_services('    StringMatch "%[header X-Tenant]=%[const tenant]" "^(.+)=\\1$"', top)
    with proxy_for(text) as port:
        assert answer(port, headers="X-Tenant: blue sky\r\n") == b"hit"
        assert answer(port, headers="X-Tenant: blue\r\n") == b"miss"
    text = top + redirect_proxy(
        '    URL "^/go"',
        'Redirect "https://x.example/%[const tenant url]/%[const tenant base64]/%[const raw]"',
    )
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/go/more")
        assert r.status == 302
        # The value as given ("$1%[url]" is not expanded again), and no path appended.
        assert r.header(b"location") == b"https://x.example/blue%20sky/Ymx1ZSBza3k=/$1%[url]"


def test_match_blocks_nest_and_negate() -> None:
    conditions = """
    Match OR
      Host "admin.example.com"
      Match AND
        Host "www.example.com"
        URL "^/admin(/.*)?$"
      End
    End"""
    with proxy_for(two_services(conditions)) as port:
        assert answer(port, "/x", host="admin.example.com") == b"hit"
        assert answer(port, "/admin/a", host="www.example.com") == b"hit"
        assert answer(port, "/a", host="www.example.com") == b"miss"
    conditions = """
    Not Match OR
      Path -beg "/static/"
      Path -end ".css"
    End"""
    with proxy_for(two_services(conditions)) as port:
        assert answer(port, "/app") == b"hit"
        assert answer(port, "/static/a") == b"miss"
        assert answer(port, "/a.css") == b"miss"


def test_detached_condition_and_eval() -> None:
    top = 'Condition "internal"\n  Match OR\n    ACL\n      "127.0.0.0/8"\n    End\n  End\nEnd'
    text = two_services('    Eval "internal"\n    Path -beg "/stat"', top)
    with proxy_for(text) as port:
        assert answer(port, "/stats") == b"hit"
        assert answer(port, "/x") == b"miss"
    with proxy_for(two_services('    Not Eval "internal"', top)) as port:
        assert answer(port, "/stats") == b"miss"


def test_detached_condition_joined_by_or() -> None:
    # Pound's `Condition "name" or`: its conditions are joined like `Match OR`'s.
    top = 'Condition "hosts" or\n  Host "a.example"\n  Host -re "^b\\.example"\nEnd'
    with proxy_for(two_services('    Eval "hosts"', top)) as port:
        assert answer(port, "/", "a.example") == b"hit"
        assert answer(port, "/", "b.example") == b"hit"
        assert answer(port, "/", "c.example") == b"miss"
    top_and = top.replace('"hosts" or', '"hosts" AND')
    with proxy_for(two_services('    Eval "hosts"', top_and)) as port:
        assert answer(port, "/", "a.example") == b"miss"


def test_pattern_file(tmp_path: Path) -> None:
    (tmp_path / "paths.txt").write_text("# prefixes we serve\n/one\n\n  /two  \n")
    path = tmp_path / "paths.txt"
    with proxy_for(two_services(f'    Path -beg -file "{path}"')) as port:
        assert answer(port, "/one/a") == b"hit"
        assert answer(port, "/two") == b"hit"
        assert answer(port, "/three") == b"miss"


def test_acl_named_inline_and_file(tmp_path: Path) -> None:
    top = 'ACL "local"\n  "127.0.0.0/8"\n  "::1"\nEnd\nACL "remote"\n  "10.0.0.0/8"\nEnd'
    with proxy_for(two_services('    ACL "local"', top)) as port:
        assert answer(port) == b"hit"
    with proxy_for(two_services('    ACL "remote"', top)) as port:
        assert answer(port) == b"miss"
    with proxy_for(two_services('    Not ACL\n      "192.0.2.0/24"\n    End')) as port:
        assert answer(port) == b"hit"
    (tmp_path / "nets").write_text("# ours\n127.0.0.1/32\n")
    with proxy_for(two_services(f'    ACL -file "{tmp_path / "nets"}"')) as port:
        assert answer(port) == b"hit"


def test_acl_forwarded_walks_the_chain_through_trusted_proxies() -> None:
    top = 'ACL "office"\n  "198.51.100.0/24"\nEnd\nTrustedIP\n  "127.0.0.0/8"\n  "10.0.0.0/8"\nEnd'
    with proxy_for(two_services('    ACL -forwarded "office"', top)) as port:
        # Right to left: 10.1.1.1 is a trusted proxy, 198.51.100.7 the client.
        chain = "X-Forwarded-For: 203.0.113.9, 198.51.100.7, 10.1.1.1\r\n"
        assert answer(port, headers=chain) == b"hit"
        # The client is 203.0.113.9: not in the office.
        assert answer(port, headers="X-Forwarded-For: 198.51.100.7, 203.0.113.9\r\n") == b"miss"
        # Without the header, the connection's address (127.0.0.1) is the client.
        assert answer(port) == b"miss"
    listener = '  ForwardedHeader "X-Real-IP"'
    with proxy_for(two_services('    ACL -forwarded "office"', top, listener)) as port:
        assert answer(port, headers="X-Real-IP: 198.51.100.7\r\n") == b"hit"
        assert answer(port, headers="X-Forwarded-For: 198.51.100.7\r\n") == b"miss"


def credentials(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


def test_basic_auth_every_hash_and_the_file_reread(tmp_path: Path) -> None:
    users = tmp_path / "htpasswd"
    sha = base64.b64encode(hashlib.sha1(b"s3").digest()).decode()
    users.write_text(
        f"ann:{apr1(b's1', b'Xy12ab')}\n"
        "bob:$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a\n"  # "secret"
        f"cid:{{SHA}}{sha}\n"
        "dan:plain\n"
    )
    with proxy_for(two_services(f'    BasicAuth "{users}"')) as port:
        assert answer(port, headers=credentials("ann", "s1")) == b"hit"
        assert answer(port, headers=credentials("bob", "secret")) == b"hit"
        assert answer(port, headers=credentials("cid", "s3")) == b"hit"
        assert answer(port, headers=credentials("dan", "plain")) == b"hit"
        assert answer(port, headers=credentials("ann", "s2")) == b"miss"
        assert answer(port, headers=credentials("eve", "s1")) == b"miss"
        assert answer(port) == b"miss"
        # A new file (another size): every worker re-reads it within its poll.
        users.write_text("eve:eve-password\n")
        wait_until(
            lambda: get(port, headers=credentials("eve", "eve-password")).body == b"hit",
            DEADLINE,
            "the new htpasswd file",
        )
        assert answer(port, headers=credentials("ann", "s1")) == b"miss"
        # A malformed new version is not taken: eve stays.
        users.write_text("no colon on this line at all\n")
        os.utime(users, ns=(1, 1))
        assert answer(port, headers=credentials("eve", "eve-password")) == b"hit"


def test_acl_filewatch_follows_the_file(tmp_path: Path) -> None:
    # Pound's -filewatch: the list is read again when the file changes, emptied when it is
    # removed, and may be absent at start. Each request looks (one stat), so the next
    # request after a change sees it whichever worker serves it.
    nets = tmp_path / "nets"
    nets.write_text("192.0.2.0/24\n")
    top = f'ACL "office" -filewatch "{nets}"'
    with proxy_for(two_services('    ACL "office"', top)) as port:
        assert answer(port) == b"miss"
        nets.write_text("192.0.2.0/24\n127.0.0.0/8\n")
        assert answer(port) == b"hit"
        nets.unlink()
        assert answer(port) == b"miss"
        nets.write_text("# back\n127.0.0.1\n")
        assert answer(port) == b"hit"
        # A malformed version is not taken: the list in memory stays.
        nets.write_text("not-an-address\n")
        assert answer(port) == b"hit"
    absent = tmp_path / "later"
    with proxy_for(two_services(f'    ACL -filewatch "{absent}"')) as port:
        assert answer(port) == b"miss"
        absent.write_text("127.0.0.0/8\n")
        assert answer(port) == b"hit"


def test_pattern_filewatch_follows_the_file(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"  # absent at start: an empty list
    conditions = f'    Header "X-Host" -filewatch "{hosts}"'
    with proxy_for(two_services(conditions)) as port:
        assert answer(port, headers="X-Host: a.example\r\n") == b"miss"
        hosts.write_text("a.example\n")
        assert answer(port, headers="X-Host: a.example\r\n") == b"hit"
        assert answer(port, headers="X-Host: b.example\r\n") == b"miss"
        # Replaced by another file (another inode), as `sed -i` does.
        other = tmp_path / "hosts.new"
        other.write_text("b.example\n")
        other.replace(hosts)
        assert answer(port, headers="X-Host: a.example\r\n") == b"miss"
        assert answer(port, headers="X-Host: b.example\r\n") == b"hit"
    # -file reads once: a missing file is an error, a change is not seen.
    hosts.write_text("a.example\n")
    with proxy_for(two_services(f'    Header "X-Host" -file "{hosts}"')) as port:
        hosts.write_text("b.example\n")
        assert answer(port, headers="X-Host: a.example\r\n") == b"hit"


def test_not_basic_auth_service_first_as_pound_advises(tmp_path: Path) -> None:
    users = tmp_path / "htpasswd"
    users.write_text("ann:plain-pw\n")
    text = two_services(f'    Not BasicAuth "{users}"').replace(
        "    BackEnd\n      Address 127.0.0.1\n      Port {HIT}\n    End",
        '    Redirect 302 "http://login.example/"',
        1,
    )
    with proxy_for(text) as port:
        assert get(port).status == 302
        assert answer(port, headers=credentials("ann", "plain-pw")) == b"miss"


def redirect_proxy(conditions: str, redirect: str) -> str:
    return f"""
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
{conditions}
    {redirect}
  End
End
"""


def test_redirect_expands_back_references_and_accessors() -> None:
    # The case: Pound fills in the captured text.
    text = redirect_proxy('    URL "^/back/(.*)"', 'Redirect "http://other.example/new/$1"')
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/back/a/b?c=1")
        assert r.status == 302
        assert r.header(b"location") == b"http://other.example/new/a/b?c=1"
    # Pound's manual: swap the first two path components, with the request's host.
    text = redirect_proxy(
        '    URL "^/([^/]+)/([^/]+)(/.*)?"', 'Redirect 301 "http://%[host]/$2/$1$3"'
    )
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/a/b/c/d", host="shop.example")
        assert (r.status, r.header(b"location")) == (301, b"http://shop.example/b/a/c/d")
    # $1(1): the group of the condition before the last; $$ a dollar.
    text = redirect_proxy(
        '    Host -re "^([a-z]+)\\\\.example$"\n    Path "^/(.*)$"',
        'Redirect 308 "https://example.net/$1(1)/$1?$$"',
    )
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/x", host="blog.example")
        assert (r.status, r.header(b"location")) == (308, b"https://example.net/blog/x?$")


def test_redirect_old_percent_reference_and_missing_group() -> None:
    # Pound 4.4's %N: group N of the condition before the last ($N(1)).
    text = redirect_proxy(
        '    Host -re "www\\.(.+)"\n    URL "^/([^/]+)/(.*)"', 'Redirect "http://%1/$2/$1"'
    )
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/foo/bar", host="www.example.org")
        assert (r.status, r.header(b"location")) == (302, b"http://example.org/bar/foo")
    # A reference to a group no condition captured: Pound answers 500 (and logs it).
    config, socks = config_with_ports(redirect_proxy("", 'Redirect "http://%1$1"'))
    with ProxyThread(config, socks) as p:
        assert get(p.port, "/foo/bar").status == 500


def test_regex_type_pcre_and_ignore_case() -> None:
    top = "RegexType pcre\nIgnoreCase 1"
    text = two_services('    Host "www.example.com"\n    URL "^/(?!private)\\\\w+$"', top)
    with proxy_for(text) as port:
        assert answer(port, "/Public") == b"hit"
        assert answer(port, "/private") == b"miss"
    with proxy_for(two_services('    Path "^/abc"', "IgnoreCase 1")) as port:
        assert answer(port, "/ABC") == b"hit"
    with proxy_for(two_services('    Path -posix "^/abc"', "RegexType pcre")) as port:
        assert answer(port, "/abc") == b"hit"


BAD_INPUTS = {
    "bad regex": ('Path "^/(a"', ":6.10: bad regex"),
    "missing -file": ('Path -file "missing.txt"', ":6.16: cannot read pattern file"),
    "bad ACL address": ('ACL\n      "10.0.0.300/8"\n    End', ':7.7: bad address "10.0.0.300/8"'),
    "malformed htpasswd": ('BasicAuth "bad.htpasswd"', "bad.htpasswd:2.1: bad htpasswd line"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_at_c_and_a_reload_keeps_the_old_configuration(
    tmp_path: Path, case: str
) -> None:
    condition, message = BAD_INPUTS[case]
    (tmp_path / "bad.htpasswd").write_text("ann:plain\nno-colon-here\n")
    port = free_port()
    with Backend("old") as backend:
        good = f"""Daemon 0
ListenHTTP
  Address 127.0.0.1
  Port {port}
  Service
    BackEnd
      Address 127.0.0.1
      Port {backend.port}
    End
"""
        config = tmp_path / "standby.cfg"
        config.write_text(good + "  End\nEnd\n")
        bad = good.replace("  Service\n", f"  Service\n    {condition}\n", 1) + "  End\nEnd\n"
        bad_path = tmp_path / "bad.cfg"
        bad_path.write_text(bad)
        checked = subprocess.run(
            [sys.executable, "-m", "standby", "-c", "-f", str(bad_path)],
            capture_output=True,
            text=True,
            cwd=str(tmp_path),
            timeout=DEADLINE,
        )
        assert checked.returncode != 0
        assert message in checked.stderr, checked.stderr
        with running_standby(config) as running:
            wait_until(lambda: get(port).body == b"old", DEADLINE, "serving")
            config.write_text(bad)
            running.signal(signal.SIGHUP)
            wait_until(lambda: message in running.stderr(), DEADLINE, "the reload refused")
            assert all(get(port).body == b"old" for _ in range(5))


def test_every_worker_rereads_a_changed_htpasswd_file(tmp_path: Path) -> None:
    users = tmp_path / "htpasswd"
    users.write_text("ann:first\n")
    port = free_port()
    with Backend("in") as backend:
        config = tmp_path / "standby.cfg"
        config.write_text(
            f"""Daemon 0
Workers 2
ListenHTTP
  Address 127.0.0.1
  Port {port}
  Service
    BasicAuth "{users}"
    BackEnd
      Address 127.0.0.1
      Port {backend.port}
    End
  End
End
"""
        )
        with running_standby(config) as running:
            ann_first = credentials("ann", "first")
            wait_until(lambda: get(port, headers=ann_first).status == 200, DEADLINE, "serving")
            users.write_text("ann:second-password\n")
            ann_second = credentials("ann", "second-password")

            def all_workers_reread() -> bool:
                return all(get(port, headers=ann_second).status == 200 for _ in range(10))

            wait_until(all_workers_reread, DEADLINE, "every worker re-read the file")
            assert get(port, headers=ann_first).status == 503
            assert running.proc.poll() is None
