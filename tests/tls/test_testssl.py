"""testssl.sh against the default HTTPS listener of the installed program (loopback only):
no protocol below TLS 1.2, no weak cipher. Bounded: only the protocol and cipher category
checks, one address, every connection to 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import trustme

from tests.support.harness import free_port
from tests.tls.support import client_context, https_config, standby_process, write_cert

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
# testssl.sh runs some hundred handshakes through openssl; on two busy shared cores this
# stays well below it (measured: about 25 s alone).
TESTSSL_TIMEOUT = 240
OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
# testssl's --std categories (3.0's names; 3.2 renames AVERAGE, the CBC ciphers, to
# OBSOLETED): every one but STRONG must be "not offered".
WEAK_CATEGORIES = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
                   "cipherlist_LOW", "cipherlist_3DES_IDEA")  # fmt: skip
STRONG = "cipherlist_STRONG"


@pytest.mark.skipif(
    TESTSSL is None and not os.environ.get("CI"), reason="testssl.sh is not installed"
)
def test_testssl_finds_nothing_old_or_weak(tmp_path: Path) -> None:
    assert TESTSSL is not None, "testssl.sh must be installed in CI (.ci/run)"
    ca = trustme.CA()
    cert = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    port = free_port()
    config = tmp_path / "standby.cfg"
    text = https_config(free_port(), [cert]).replace("{L0}", str(port))
    config.write_text("LogLevel 0\n" + text)
    report = tmp_path / "testssl.json"
    with standby_process(config, port, client_context(ca, check_hostname=False)):
        subprocess.run(
            [TESTSSL, "--protocols", "--std", "--ip", "one", "--warnings", "off",
             "--color", "0", "--quiet", "--sneaky", "--connect-timeout", "10",
             "--openssl-timeout", "10", "--jsonfile", str(report), f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TESTSSL_TIMEOUT,
            check=False,
        )  # fmt: skip
    findings = {item["id"]: item["finding"] for item in json.loads(report.read_text())}
    for protocol in OLD_PROTOCOLS:
        assert findings[protocol].startswith("not offered"), (protocol, findings[protocol])
    assert findings["TLS1_2"].startswith("offered"), findings["TLS1_2"]
    assert findings["TLS1_3"].startswith("offered"), findings["TLS1_3"]
    categories = [key for key in findings if key.startswith("cipherlist_")]
    assert set(WEAK_CATEGORIES) <= set(categories), findings
    for category in categories:
        if category != STRONG:
            assert findings[category] == "not offered", (category, findings)
    assert findings[STRONG] == "offered", findings
    assert findings["ALPN"] == "http/1.1", findings["ALPN"]
