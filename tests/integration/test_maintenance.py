"""The maintenance workflow: drain the primary with standbyctl under load, stop it, start
it, enable it again; no request fails and the standby serves meanwhile. Also the Metrics
service and the control socket's listing of a running proxy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.backend import Backend
from tests.support.configs import primary_and_emergency
from tests.support.harness import REPO, ProxyThread, config_with_ports, get, wait_until
from tests.support.load import Load

PRIMARY = "200 b'primary'"
STANDBY = "200 b'standby'"


def config_text(sock: Path, primary: int, standby: int) -> str:
    return primary_and_emergency(
        primary,
        standby,
        global_extra=f'Alive 1\nControl "{sock}"',
        service_extra='HeadRequire "Host: www.example.com.*"',
        more_services='  Service "metrics"\n    URL "^/metrics$"\n    Metrics\n  End',
    )


def ctl(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "standby.control.ctl", "-s", str(sock), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_drain_stop_start_enable_under_load_loses_nothing(tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    with Backend("standby") as standby:
        primary = Backend("primary").start()
        port = primary.port
        config, socks = config_with_ports(config_text(sock, port, standby.port))
        with ProxyThread(config, socks) as proxy, Load(proxy.port, 10, pace=0.01) as load:
            wait_until(lambda: load.count(PRIMARY) >= 100, what="load on primary")
            # Pound numbering: the Control socket comes first, so our listener is 1.
            done = ctl(sock, "drain", "/1/0/0", "--wait", "--timeout", "30")
            assert done.returncode == 0, done.stderr
            seen = load.count(STANDBY)
            served_by_primary = load.count(PRIMARY)
            wait_until(lambda: load.count(STANDBY) >= seen + 100, what="standby serving")
            assert load.count(PRIMARY) == served_by_primary  # nothing new went to it
            primary.stop()  # maintenance: the server is really down
            wait_until(lambda: load.count(STANDBY) >= seen + 200, what="still standby")
            primary = Backend("primary", port).start()
            listing = ctl(sock, "--json", "list")
            assert listing.returncode == 0, listing.stderr
            assert ctl(sock, "enable", "/1/0/0").returncode == 0
            back = load.count(PRIMARY)
            wait_until(lambda: load.count(PRIMARY) >= back + 100, what="primary back")
            primary.stop()
            standby_count = load.count(STANDBY)
        assert load.failures((PRIMARY, STANDBY)) == {}, load.outcomes
        assert standby_count > 0
        table = json.loads(listing.stdout)
        assert table  # the listing parsed as JSON


def test_metrics_service_and_listing(tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    with Backend("primary") as primary, Backend("standby") as standby:
        config, socks = config_with_ports(config_text(sock, primary.port, standby.port))
        with ProxyThread(config, socks) as proxy:
            for _ in range(3):
                assert get(proxy.port).status == 200
            r = get(proxy.port, "/metrics", host="metrics.local")
            assert r.status == 200
            text = r.body.decode()
            assert text.rstrip().endswith("# EOF")
            assert "standby_backend_in_flight" in text
            out = ctl(sock, "list")
            assert out.returncode == 0, out.stderr
            assert f"127.0.0.1:{primary.port}" in out.stdout
            assert sock.stat().st_mode & 0o777 == 0o600
