"""pebble (Let's Encrypt's ACME test server) and pebble-challtestsrv (its mock DNS), run by
the tests on loopback with free ports.

Nothing leaves the machine: pebble's API and management interface listen on 127.0.0.1, its
HTTP-01 validations go to the port of standby's plain listener, and every name it resolves
is answered by challtestsrv with 127.0.0.1 (no AAAA, so validation never tries ::1).
``PEBBLE_VA_NOSLEEP`` skips pebble's random wait before validating; pebble is never told to
accept challenges unanswered (``PEBBLE_VA_ALWAYS_VALID``): standby must really answer them.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import trustme

from tests.support.harness import DEADLINE, free_port, wait_until

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
CHALLTESTSRV = shutil.which("pebble-challtestsrv") or "/usr/bin/pebble-challtestsrv"
# Names under this domain are refused by pebble (rejectedIdentifier): a refused order.
BLOCKED_DOMAIN = "blocked.test"


class Pebble:
    """One pebble and its DNS, for one test."""

    def __init__(
        self,
        directory: Path,
        http_port: int,
        *,
        validity: int | None = None,
        nonce_reject: int = 5,
    ) -> None:
        self.dir = directory
        self.http_port = http_port  # where pebble validates HTTP-01: standby's listener
        self.validity = validity  # certificate lifetime in seconds (None: pebble's default)
        self.nonce_reject = nonce_reject  # percent of good nonces refused as badNonce
        self.port = 0
        self.management = 0
        self.dns = 0
        self._processes: list[subprocess.Popen[bytes]] = []
        self._pebble: subprocess.Popen[bytes] | None = None
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = directory / "pebble-api-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.cert_file = directory / "pebble-api.pem"
        server.cert_chain_pems[0].write_to_path(str(self.cert_file))
        self.key_file = directory / "pebble-api.key"
        server.private_key_pem.write_to_path(str(self.key_file))
        self.context = ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def start(self) -> Pebble:
        if not self._processes:
            self.dns = free_port()
            dns_management = free_port()
            self._spawn(
                [
                    CHALLTESTSRV,
                    "-defaultIPv4", "127.0.0.1",
                    "-defaultIPv6", "",
                    "-dns01", f"127.0.0.1:{self.dns}",
                    "-http01", "",
                    "-https01", "",
                    "-tlsalpn01", "",
                    "-management", f"127.0.0.1:{dns_management}",
                ],
                "challtestsrv",
            )  # fmt: skip
        self.start_pebble()
        return self

    def start_pebble(self) -> None:
        """Start (or restart, on the same ports) pebble itself."""
        if self.port == 0:
            self.port, self.management = free_port(), free_port()
        config: dict[str, Any] = {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management}",
            "certificate": str(self.cert_file),
            "privateKey": str(self.key_file),
            "httpPort": self.http_port,
            "tlsPort": free_port(),  # TLS-ALPN-01, unused: standby answers HTTP-01
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "domainBlocklist": [BLOCKED_DOMAIN],
        }
        if self.validity is not None:
            config["certificateValidityPeriod"] = self.validity
        path = self.dir / "pebble-config.json"
        path.write_text(json.dumps({"pebble": config}))
        env = dict(
            os.environ,
            PEBBLE_VA_NOSLEEP="1",
            PEBBLE_WFE_NONCEREJECT=str(self.nonce_reject),
        )
        env.pop("PEBBLE_VA_ALWAYS_VALID", None)
        self._pebble = self._spawn(
            [PEBBLE, "-config", str(path), "-dnsserver", f"127.0.0.1:{self.dns}"], "pebble", env
        )
        wait_until(self._answers, DEADLINE, "pebble's directory")

    def stop_pebble(self) -> None:
        process, self._pebble = self._pebble, None
        if process is not None:
            process.terminate()
            process.wait(DEADLINE)
            self._processes.remove(process)

    def _spawn(
        self, argv: list[str], name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.dir / f"{name}.log").open("ab")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self._processes.append(process)
        return process

    def _answers(self) -> bool:
        if self._pebble is not None and self._pebble.poll() is not None:
            raise AssertionError("pebble exited: " + (self.dir / "pebble.log").read_text())
        try:
            with urllib.request.urlopen(self.directory_url, context=self.context, timeout=5):
                return True
        except OSError:
            return False

    def root(self) -> bytes:
        """The root pebble issues certificates under (it makes a new one at each start)."""
        url = f"https://127.0.0.1:{self.management}/roots/0"
        with urllib.request.urlopen(url, context=self.context, timeout=DEADLINE) as answer:
            return bytes(answer.read())

    def log(self) -> str:
        return (self.dir / "pebble.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes = []
        self._pebble = None

    def __enter__(self) -> Pebble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
