"""The README's HTTPS form of the seed setup is a configuration standby takes as written
(only the certificate's path is made by the test)."""

from __future__ import annotations

import re
from pathlib import Path

import trustme

from standby.config import load_config_text
from standby.tls.context import check_settings
from tests.tls.support import write_cert

README = Path(__file__).resolve().parents[2] / "README.md"
README_CERT = "/etc/ssl/private/www.example.com.pem"


def https_example() -> str:
    """The README's code block that has a ListenHTTPS."""
    blocks = re.findall(r"```\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    found = [block for block in blocks if "ListenHTTPS" in block]
    assert len(found) == 1, "the README shows one HTTPS setup"
    return found[0]


def test_the_readme_https_setup_compiles_as_written(tmp_path: Path) -> None:
    text = https_example()
    assert README_CERT in text
    cert = write_cert(trustme.CA(), tmp_path / "site.pem", "www.example.com")
    config = load_config_text(text.replace(README_CERT, str(cert)), check_tls=check_settings)
    plain, https = config.listeners
    assert plain.tls is None and https.tls is not None
    assert (https.address, https.port) == ("192.0.2.10", 443)
    assert [c.path for c in https.tls.certs] == [str(cert)]
    service = https.services[0]
    assert [b.address for b in service.backends] == ["192.168.0.3"]
    assert [b.address for b in service.emergencies] == ["192.168.0.4"]
    assert plain.services[0].backends[0].redirect_url == "https://www.example.com"
